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


def test_a_mart_older_than_the_exposures_is_not_used(pipeline_home, tmp_path):
    """After a build that refreshed the exposures alone, the analysis computes from the exposures."""
    import shutil

    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(pipeline_home.paths.warehouse, copy)
    con = duckdb.connect(str(copy))
    try:
        assert read_sufficient_statistics(con) is not None
        con.execute(
            "update marts.fct_experiment_exposures set is_clicked = not is_clicked "
            "where unit_id = (select min(unit_id) from marts.fct_experiment_exposures where arm_count = 1)"
        )
        assert read_sufficient_statistics(con) is None
    finally:
        con.close()
