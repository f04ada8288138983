"""Loopwise: orchestration/defs."""
