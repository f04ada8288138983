"""The ``loopwise`` console script: demo, dev and the CSV commands (experiments, budget, anomalies).

A thin shell over the same engines the Dagster assets use; it imports ``core`` and the
engines, and nothing imports it.
"""
