"""Dagster definitions: the blocking Great Expectations asset checks on raw and mart tables."""
