"""Notifications: who hears about what, by e-mail, in their language (docs/notifications.md)."""
