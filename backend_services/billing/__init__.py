"""Billing: prepaid balances, the platform's tariff, charges and credits (docs/billing.md)."""
