"""dbt's experiment statistics mart equals the DuckDB computation over the same exposures."""

from __future__ import annotations

import duckdb

from core.parity import compare_frames
from decision_engine.experiments import DEFAULT_METRICS, compute_sufficient_statistics
from decision_engine.experiments.sufficient_stats import read_sufficient_statistics


def test_sufficient_statistics_mart_equals_the_python_computation(pipeline_home):
    con = duckdb.connect(str(pipeline_home.paths.warehouse), read_only=True)
    try:
        computed = compute_sufficient_statistics(con, "marts.fct_experiment_exposures", DEFAULT_METRICS)
        built = read_sufficient_statistics(con)
    finally:
        con.close()
    assert built is not None
    stats = computed.stats
    # the world has what the comparison needs: several experiments and capped revenue (contamination:
    # the dbt unit tests in _experiments__models.yml)
    assert stats["experiment_id"].nunique() >= 3
    assert stats["winsor_cap"].notna().any()
    parity = compare_frames("fct_experiment_sufficient_stats", stats, built.stats)
    assert parity.problems == []
    parity = compare_frames("fct_experiment_contamination", computed.contamination, built.contamination)
    assert parity.problems == []
