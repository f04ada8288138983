"""Dagster definitions: the weekly digest asset, its job and its Monday schedule."""
