"""Loopwise: ingestion."""
