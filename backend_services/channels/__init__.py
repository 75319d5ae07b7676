"""Messenger channels of a workspace; today `telegram`."""
