"""Venue connectors: one abstract interface (``base``) and an implementation per venue kind."""
