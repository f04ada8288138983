"""Dagster definitions: the anomaly scan asset and its hourly schedule."""
