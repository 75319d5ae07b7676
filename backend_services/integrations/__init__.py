"""Integrations: workspace API keys for the public REST API."""
