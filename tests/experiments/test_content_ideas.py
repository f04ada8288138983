"""Content sequence ideas: a segment that engages with an angle no flow is about becomes a
needs_human hypothesis; an angle a flow already carries, or a segment too small, does not."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import numpy as np

from decision_engine.experiments.campaign_plan import CampaignBaseline
from decision_engine.experiments.content_ideas import (
    CONTENT_SEQUENCE,
    MIN_SEGMENT_CONTACTS,
    content_sequence_ideas,
)
from decision_engine.experiments.design import CLICK_RATE, ORDER_RATE, Baseline, MetricBaseline
from decision_engine.experiments.hypotheses import _idea_rows
from decision_engine.personalization.content_affinity import ContentAffinitySettings, run_content_affinity
from tests.personalization.test_content_affinity import _warehouse


def _segments(tmp_path, liked: np.ndarray) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    _warehouse(con, np.full(len(liked), 200), liked, liked, 0, seed=21)
    run_content_affinity(con, ContentAffinitySettings(half_life_days=365), datetime.now(UTC))
    return con


def test_segments_without_a_sequence_become_ideas(tmp_path):
    # 600 contacts like case_study (0), 600 how_to (1), 40 comparison (2): too few for a segment
    liked = np.repeat([0, 1, 2], [600, 600, 40])
    con = _segments(tmp_path, liked)
    # a flow already sends how_to content
    con.execute("insert into marts.dim_message_content values ('flow_2', 'how_to')")
    con.execute("alter table marts.dim_message_content add column send_type varchar")
    con.execute(
        "update marts.dim_message_content set send_type = case when message_id like 'flow%' then 'flow' "
        "else 'campaign' end"
    )
    ideas = content_sequence_ideas(con, click_value=2.0, click_icc=0.05)
    assert [idea.level for idea in ideas] == ["case_study"]
    idea = ideas[0]
    assert idea.hypothesis_id == f"{CONTENT_SEQUENCE}:case_study"
    assert idea.evidence["segment_contacts"] >= MIN_SEGMENT_CONTACTS
    # the segment engages more with its angle; the expected lift is half the observed contrast
    assert idea.evidence["observed_relative_difference"] > 0.3
    assert idea.expected_relative_lift == idea.evidence["observed_relative_difference"] * 0.5
    assert "case study sequence" in idea.description
    fallback = CampaignBaseline(
        design=Baseline(MetricBaseline(0.05, 0.05), MetricBaseline(0.0, 0.0), 1000, 1000.0),
        value_per_event={CLICK_RATE: 2.0, ORDER_RATE: 0.0},
    )
    (row,) = _idea_rows(ideas, fallback, 1.0)
    assert row["needs_human"] and row["library_id"] is None and row["factor"] == CONTENT_SEQUENCE
    assert row["weekly_units"] == idea.evidence["segment_contacts"]


def test_no_affinity_table_no_ideas(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    assert content_sequence_ideas(con, click_value=1.0, click_icc=0.0) == []
