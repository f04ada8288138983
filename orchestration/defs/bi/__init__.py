"""Dagster definitions: the read-only BI snapshot asset."""
