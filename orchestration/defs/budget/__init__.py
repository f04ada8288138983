"""Dagster definitions: the budget recommendations asset."""
