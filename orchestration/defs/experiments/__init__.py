"""Dagster definitions: the experiment analysis assets (results, decisions)."""
