"""Dagster definitions: the notify job, the incident pager and the run-failure sensor."""
