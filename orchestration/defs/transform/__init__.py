"""Dagster definitions: transform."""
