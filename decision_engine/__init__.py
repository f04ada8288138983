"""Loopwise: decision_engine."""
