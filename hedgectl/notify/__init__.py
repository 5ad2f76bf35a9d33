"""Operator notifications (Telegram)."""
