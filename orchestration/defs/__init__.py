"""Dagster definitions, one package per domain; each exposes ``build_definitions``."""
