"""Dagster definitions: one dlt asset per raw table."""
