"""The Dagster code location: assets, checks, jobs, schedules, sensors and resources.

``definitions.py`` only assembles ``defs/<domain>/``; domain logic lives in ``decision_engine``,
``activation``, ``ingestion`` and ``quality``.
"""
