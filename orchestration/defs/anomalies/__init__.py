"""Dagster definitions: the anomaly scan asset, its hourly schedule and the incident pager sensor."""
