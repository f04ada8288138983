"""Personalization: per-contact models read from the marts (send time today; content affinity and
flow journeys next)."""
