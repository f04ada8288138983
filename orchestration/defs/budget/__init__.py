"""Dagster definitions: budget."""
