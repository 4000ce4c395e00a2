"""Contacts: the service (per-channel consent, soft delete, uniqueness guards), field rules and search."""
