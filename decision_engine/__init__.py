"""Decision engines: experiments, budget and anomalies, plus the action queue and the results store.

Pure Python + SQL over the marts (DuckDB); never imports Dagster. Each domain exposes one run
function that the Dagster asset calls (connect, call, write, metadata).
"""
