"""Dagster definitions: the dbt project (one DbtProject, a translator by folder)."""
