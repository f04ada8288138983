"""Loopwise: loopwise."""
