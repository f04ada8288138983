"""Loopwise: sandbox."""
