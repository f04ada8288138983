"""Loopwise: quality."""
