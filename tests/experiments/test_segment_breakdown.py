"""Experiment breakdowns by micro-segment: each test reads the segments of the latest
results.micro_segments run dated before its first exposure (assigned before treatment); units
without one, or a warehouse without the table, are not_segmented; the lifecycle breakdown is
unchanged."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from decision_engine.experiments.metrics import DEFAULT_METRICS
from decision_engine.experiments.segments import NOT_SEGMENTED, segment_statistics
from decision_engine.store import write_results

CLICKS = [spec for spec in DEFAULT_METRICS if spec.name == "click_rate"]


@pytest.fixture
def con(tmp_path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    exposures = pd.DataFrame(
        {
            "experiment_id": ["early"] * 3 + ["late"] * 3,
            "variant": ["A", "B", "A"] * 2,
            "unit_id": ["c1", "c2", "c3"] * 2,
            "exposed_at": pd.to_datetime(["2026-03-05"] * 3 + ["2026-03-20"] * 3),
            "arm_count": 1,
            "is_delivered": True,
            "is_clicked": [True, False, True, False, True, True],
        }
    )
    con.execute("create schema marts")
    con.register("exposures", exposures)
    con.execute("create table marts.fct_experiment_exposures as select * from exposures")
    con.execute(
        "create table marts.dim_contacts as select * from (values ('c1', 'lead'), ('c2', 'customer')) "
        "as t(contact_id, lifecycle_stage)"
    )
    return con


def _segments(con: duckdb.DuckDBPyConnection, day: date, segments: dict[str, str]) -> None:
    frame = pd.DataFrame(
        {"analysis_date": day, "contact_id": list(segments), "segment_id": list(segments.values())}
    )
    write_results(con, "micro_segments", frame, replace_where=("analysis_date",))


def _by_unit(statistics: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Units per experiment and segment (both arms)."""
    summed = statistics.groupby(["experiment_id", "segment"])["n"].sum()
    return {key: int(n) for key, n in summed.items()}


def test_each_test_reads_the_segments_from_before_it_started(con) -> None:
    _segments(con, date(2026, 3, 1), {"c1": "recent/heavy", "c2": "recent/light"})
    _segments(con, date(2026, 3, 10), {"c1": "lapsing/light", "c2": "recent/light", "c3": "recent/heavy"})
    _segments(con, date(2026, 3, 25), {"c1": "dormant/light", "c2": "dormant/light", "c3": "dormant/light"})
    counts = _by_unit(segment_statistics(con, ["early", "late"], CLICKS, "micro_segment"))
    # early (3-05) reads the 3-01 run: c3 was not segmented yet; late (3-20) the 3-10 run
    assert counts == {
        ("early", "recent/heavy"): 1,
        ("early", "recent/light"): 1,
        ("early", NOT_SEGMENTED): 1,
        ("late", "lapsing/light"): 1,
        ("late", "recent/light"): 1,
        ("late", "recent/heavy"): 1,
    }


def test_without_micro_segments_every_unit_is_not_segmented_and_lifecycle_is_unchanged(con) -> None:
    counts = _by_unit(segment_statistics(con, ["early"], CLICKS, "micro_segment"))
    assert counts == {("early", NOT_SEGMENTED): 3}
    lifecycle = _by_unit(segment_statistics(con, ["early"], CLICKS))
    assert lifecycle == {
        ("early", "subscriber_or_lead"): 1,
        ("early", "qualified_or_later"): 1,
        ("early", "no_crm_stage"): 1,
    }
    with pytest.raises(ValueError, match="unknown segment breakdown"):
        segment_statistics(con, ["early"], CLICKS, "region")  # type: ignore[arg-type]
