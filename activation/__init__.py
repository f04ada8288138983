"""Activation: what Loopwise sends to the outside world (notifiers today; vendor write clients next).

Pure Python with HTTP clients; never imports Dagster. Orchestration calls into it from runs.
"""
