"""Dagster definitions: jobs."""
