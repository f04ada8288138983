"""Dagster definitions: anomalies."""
