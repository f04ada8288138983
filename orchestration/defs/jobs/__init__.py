"""Dagster definitions: the daily_refresh job and its schedule."""
