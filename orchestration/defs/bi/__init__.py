"""Dagster definitions: bi."""
