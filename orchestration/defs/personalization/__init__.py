"""Personalization: per-contact models (send time today)."""
