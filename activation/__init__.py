"""Loopwise: activation."""
