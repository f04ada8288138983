"""Loopwise: orchestration."""
