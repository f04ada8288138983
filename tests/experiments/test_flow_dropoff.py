"""Flow drop-off findings on synthetic journeys: a planted drop is found and diagnosed, a steady
flow raises nothing, and journeys still waiting never count as dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from core.results_schema import column_names
from decision_engine.experiments.flow_dropoff import (
    Diagnosis,
    Proposal,
    flow_dropoff_findings,
    run_flow_dropoff,
    step_counts,
)

END = datetime(2026, 4, 1, tzinfo=UTC)
DELAYS = {1: timedelta(0), 2: timedelta(days=2), 3: timedelta(days=7)}  # from the entry


def _journeys(seed: int, recent_step_2_rate: float, entries_per_day: int = 60) -> pd.DataFrame:
    """Twelve weeks of entries into a three-step flow (steps at 0, 2 and 7 days): 80% go on from
    step 1, 70% from step 2 (the rest filtered out); in the last four weeks step 2 keeps
    ``recent_step_2_rate`` and the extra losses unsubscribe (seen at once, before step 3 is due).
    A step not due by the data's end has not been sent: those journeys are still waiting."""
    rng = np.random.default_rng(seed)
    rows = []
    for day in range(12 * 7):
        entry = END - timedelta(days=12 * 7 - day) + timedelta(hours=3)
        recent = entry >= END - timedelta(weeks=4)
        for _ in range(entries_per_day):
            u1, u2 = rng.random(2)
            last = 1 + int(u1 < 0.8) + int(u1 < 0.8 and u2 < 0.7)
            reason = "completed_all_steps" if last == 3 else "filtered_out"
            if recent and last == 3 and u2 >= recent_step_2_rate:
                last, reason = 2, "unsubscribed"
            while last > 1 and entry + DELAYS[last] > END:  # not sent yet
                last, reason = last - 1, "still_waiting"
            due = last < 3 and entry + DELAYS[last + 1] <= END
            if reason == "filtered_out" and not due:
                reason = "still_waiting"
            rows.append((entry, last, reason, due))
    frame = pd.DataFrame(rows, columns=["entry_ts", "last_step", "exit_reason", "next_step_is_due"])
    return frame.assign(
        flow_id="F", flow_name="Welcome", first_step=1, final_step=3, data_as_of=END.replace(tzinfo=None)
    )


def test_a_planted_drop_is_flagged_and_diagnosed() -> None:
    findings = flow_dropoff_findings(_journeys(1, recent_step_2_rate=0.45), END, END).set_index(
        "step_position"
    )
    step_1, step_2 = findings.loc[1], findings.loc[2]
    assert not step_1["is_flagged"] and not step_1["is_worst_step"]
    assert step_2["is_flagged"] and step_2["is_worst_step"]
    assert step_2["step_rate"] == pytest.approx(0.45, abs=0.05)
    assert step_2["baseline_step_rate"] == pytest.approx(0.7, abs=0.03)
    assert step_2["main_exit_reason"] == "unsubscribed" and step_2["main_exit_share"] > 0.9
    assert step_2["diagnosis_code"] == Diagnosis.UNSUBSCRIBES
    assert step_2["proposals"] == f"{Proposal.STEP_CONTENT_TEST},{Proposal.STEP_REMOVAL}"
    assert step_2["diagnosis"].startswith("Step 2 of Welcome lost")
    assert "unsubscribes" in step_2["diagnosis"] and "needs approval" in step_2["diagnosis"]


def test_a_steady_flow_raises_no_finding() -> None:
    for seed in range(5):
        findings = flow_dropoff_findings(_journeys(seed, recent_step_2_rate=1.0), END, END)
        assert not findings["is_flagged"].any()
        # the worst step is still named: step 2 keeps the least, lost to the flow's own filter
        worst = findings[findings["is_worst_step"]].iloc[0]
        assert worst["step_position"] == 2
        assert worst["diagnosis_code"] == Diagnosis.FILTERED_OUT
        assert worst["proposals"] == Proposal.TIMING_INTERVAL_TEST
        assert "no significant change" in worst["diagnosis"]


def test_journeys_still_waiting_are_never_counted_as_dropped() -> None:
    journeys = _journeys(2, recent_step_2_rate=1.0)
    waiting = journeys["exit_reason"] == "still_waiting"
    assert waiting.sum() > 200
    counts = step_counts(journeys, 2)
    at_step_2 = waiting & (journeys["last_step"] == 2)
    assert counts["still_waiting"] == at_step_2.sum() > 0
    assert counts["journeys_judged"] == counts["journeys_at_step"] - at_step_2.sum()
    # counting them as dropped would sink the recent rate and raise a false alarm
    dropped = journeys.assign(
        exit_reason=journeys["exit_reason"].replace("still_waiting", "filtered_out"), next_step_is_due=True
    )
    honest = flow_dropoff_findings(journeys, END, END).set_index("step_position")
    naive = flow_dropoff_findings(dropped, END, END).set_index("step_position")
    assert not honest["is_flagged"].any()
    assert naive.loc[2, "is_flagged"]


def test_exits_before_the_next_step_is_due_are_not_judged() -> None:
    """An unsubscribe is seen at once, a send only when due: judging early exits would count the
    newest week's leavers and none of its stayers."""
    journeys = _journeys(4, recent_step_2_rate=1.0)
    newest = journeys["entry_ts"] > END - DELAYS[3]
    early = newest & (journeys["last_step"] == 2)
    assert early.sum() > 50
    journeys.loc[early[early].index[:30], "exit_reason"] = "unsubscribed"  # due stays False
    counts = step_counts(journeys, 2)
    assert counts["exits_unsubscribed"] == 0
    assert not flow_dropoff_findings(journeys, END, END)["is_flagged"].any()


def test_rates_per_step_and_per_entry() -> None:
    rows = [
        (1, 1, "filtered_out", True), (1, 2, "unsubscribed", True), (1, 3, "completed_all_steps", False),
        (1, 2, "still_waiting", False), (2, 3, "completed_all_steps", False), (1, 1, "still_waiting", False),
    ]  # fmt: skip
    journeys = pd.DataFrame(rows, columns=["first_step", "last_step", "exit_reason", "next_step_is_due"])
    step_2 = step_counts(journeys, 2)
    # got step 2: four journeys (one from step 2 on), one of them still waiting
    assert (step_2["journeys_at_step"], step_2["still_waiting"], step_2["journeys_judged"]) == (4, 1, 3)
    assert step_2["journeys_proceeded"] == 2 and step_2["exits_unsubscribed"] == 1
    # entries (from step 1) whose step 3 was due: five minus the two still waiting; one reached it
    assert (step_2["entries_judged"], step_2["entries_proceeded"]) == (3, 1)


def test_run_writes_the_contract_columns(tmp_path) -> None:  # noqa: ANN001
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    journeys = _journeys(3, recent_step_2_rate=0.45).drop(columns=["flow_name", "final_step"])
    journeys["next_step"] = np.where(journeys["last_step"] < 3, journeys["last_step"] + 1, None)
    con.execute("create schema marts")
    con.register("journeys", journeys)
    con.execute("create table marts.fct_flow_journeys as select * from journeys")
    con.execute("create table marts.fct_flow_step_funnel as select 'F' as flow_id, 'Welcome' as flow_name")
    frame = run_flow_dropoff(con, END + timedelta(hours=2))
    stored = con.execute("select * from results.flow_dropoff_findings").df()
    assert list(stored.columns) == column_names("flow_dropoff_findings")
    assert len(stored) == len(frame) == 2
    assert pd.Timestamp(stored["analysis_date"].iloc[0]).date() == END.date()
    assert stored.loc[stored["is_worst_step"], "step_position"].tolist() == [2]
