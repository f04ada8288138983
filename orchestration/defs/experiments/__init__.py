"""Dagster definitions: experiments."""
