"""Where each flow loses people, against the flow's own recent past (``results.flow_dropoff_findings``).

Reads ``marts.fct_flow_journeys`` (one row per entry into a flow). For each flow step k that has
a next step, over the journeys that entered in a window:

- ``step_rate`` (per step): of the journeys that got step k and whose step k+1 was due, the share
  that got step k+1. Journeys still waiting for step k+1 (its delay has not elapsed at the data's
  end) are censored: they are in neither numerator nor denominator, never counted as dropped. So
  are journeys that left (unsubscribed, ...) before step k+1 was due: their exits are seen early
  while their peers' sends are not, and counting them would inflate the newest weeks' losses.
- ``entry_rate`` (per entry): of the entries (journeys that began at step 1) whose step k+1 was
  due, the share that got it.

The last :data:`RECENT_WEEKS` of entries are compared with the :data:`BASELINE_WEEKS` before them
(by entry time): two binomial proportions, Fisher's exact test, Benjamini-Hochberg across every
step tested in the run. A step whose recent step_rate fell with q below :data:`FDR` is flagged.
Each flow's worst step (the flagged step that lost the most; without one, the step that keeps the
smallest share) gets a diagnosis from the exits behind the loss (the extra exits for a flagged
step, all exits otherwise) and proposals a human may approve: a timing test, a content test or
the step's removal (:mod:`.ideas` turns them into ``needs_human`` rows of the backlog).
Associations only: without a step holdout no step's causal effect is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from core.results_schema import column_names
from decision_engine.store import write_results

RECENT_WEEKS = 4
BASELINE_WEEKS = 8
FDR = 0.05
MIN_JOURNEYS = 20  # a window needs this many judged journeys at a step for the step to be tested
STILL_WAITING = "still_waiting"
DROP_REASONS = ("unsubscribed", "spam_complaint", "bounced", "filtered_out", "converted")


class Diagnosis(StrEnum):
    UNSUBSCRIBES = "unsubscribes"  # unsubscribes or spam complaints after the step
    BOUNCES = "bounces"
    FILTERED_OUT = "filtered_out"  # the next step's delay elapsed, it was not sent, nothing explains it
    CONVERSIONS = "conversions"  # they bought after the step and got no more
    NO_EXITS = "no_exits"


class Proposal(StrEnum):
    """Changes to a flow a human may approve; the values are the backlog's factors."""

    TIMING_INTERVAL_TEST = "flow_timing"
    STEP_CONTENT_TEST = "flow_step_content"
    STEP_REMOVAL = "flow_step_removal"


PROPOSALS: dict[Diagnosis, tuple[Proposal, ...]] = {
    Diagnosis.UNSUBSCRIBES: (Proposal.STEP_CONTENT_TEST, Proposal.STEP_REMOVAL),
    Diagnosis.FILTERED_OUT: (Proposal.TIMING_INTERVAL_TEST,),
    Diagnosis.CONVERSIONS: (Proposal.STEP_REMOVAL,),
    Diagnosis.BOUNCES: (),
    Diagnosis.NO_EXITS: (),
}

REASON_DIAGNOSIS = {
    "unsubscribed": Diagnosis.UNSUBSCRIBES,
    "spam_complaint": Diagnosis.UNSUBSCRIBES,
    "bounced": Diagnosis.BOUNCES,
    "filtered_out": Diagnosis.FILTERED_OUT,
    "converted": Diagnosis.CONVERSIONS,
}

REASON_WORDS = {
    "unsubscribed": "unsubscribes",
    "spam_complaint": "spam complaints",
    "bounced": "hard bounces",
    "filtered_out": "contacts the flow stopped sending to although the wait had passed",
    "converted": "contacts who bought",
}

FINDING_COLUMNS = column_names("flow_dropoff_findings")


@dataclass(frozen=True)
class Windows:
    recent_start: datetime
    baseline_start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime) -> Windows:
        recent = end - timedelta(weeks=RECENT_WEEKS)
        return cls(recent, recent - timedelta(weeks=BASELINE_WEEKS), end)


def read_journeys(con: Any) -> pd.DataFrame:
    """Journeys with their flow's name and final step (empty when the mart is missing or empty)."""
    return con.execute(
        "select journeys.*, flows.flow_name, steps.final_step from marts.fct_flow_journeys as journeys "
        "left join (select flow_id, any_value(flow_name) as flow_name from marts.fct_flow_step_funnel "
        "group by flow_id) as flows on journeys.flow_id = flows.flow_id "
        "left join (select flow_id, max(coalesce(next_step, last_step)) as final_step "
        "from marts.fct_flow_journeys group by flow_id) as steps on journeys.flow_id = steps.flow_id"
    ).df()


def step_counts(journeys: pd.DataFrame, step: int) -> dict[str, int]:
    """Counts behind step ``step``'s rates in one window of journeys (of one flow)."""
    reached = (journeys["last_step"] >= step) & (journeys["first_step"] <= step)
    proceeded = journeys["last_step"] > step
    # not judged: stopped at or before this step and its next step not due yet (still waiting, or
    # an exit known before the due date while the sends of its peers are not)
    pending = (journeys["last_step"] <= step) & ~journeys["next_step_is_due"].astype(bool)
    waiting = reached & (journeys["exit_reason"] == STILL_WAITING) & (journeys["last_step"] == step)
    judged = reached & ~pending
    entries = journeys["first_step"] == 1
    stopped = judged & ~proceeded
    counts = {
        "journeys_at_step": int(reached.sum()),
        "still_waiting": int(waiting.sum()),
        "journeys_judged": int(judged.sum()),
        "journeys_proceeded": int((judged & proceeded).sum()),
        "entries_judged": int((entries & ~pending).sum()),
        "entries_proceeded": int((entries & proceeded).sum()),
    }
    for reason in DROP_REASONS:
        counts[f"exits_{reason}"] = int((stopped & (journeys["exit_reason"] == reason)).sum())
    return counts


def _rate(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


def naive_utc(moment: datetime | pd.Timestamp) -> pd.Timestamp:
    """A time as a zone-less UTC timestamp (the marts' convention)."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def entry_times(journeys: pd.DataFrame) -> pd.Series:
    """The journeys' entry_ts as zone-less UTC timestamps."""
    entry = pd.to_datetime(journeys["entry_ts"])
    return entry.dt.tz_convert("UTC").dt.tz_localize(None) if entry.dt.tz is not None else entry


def _window_rows(journeys: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    entry = entry_times(journeys)
    return journeys[(entry >= naive_utc(start)) & (entry < naive_utc(end))]


def step_transitions(journeys: pd.DataFrame, windows: Windows) -> pd.DataFrame:
    """One row per (flow, step with a next step): recent and baseline counts, rates and the test."""
    rows = []
    for flow_id, flow in journeys.groupby("flow_id", sort=True):
        final = int(flow["final_step"].max())
        name = flow["flow_name"].dropna().iloc[0] if flow["flow_name"].notna().any() else flow_id
        recent = _window_rows(flow, windows.recent_start, windows.end)
        baseline = _window_rows(flow, windows.baseline_start, windows.recent_start)
        for step in range(1, final):
            now, before = step_counts(recent, step), step_counts(baseline, step)
            row = {"flow_id": flow_id, "flow_name": name, "step_position": step, "next_step": step + 1, **now}
            row["step_rate"] = _rate(now["journeys_proceeded"], now["journeys_judged"])
            row["entry_rate"] = _rate(now["entries_proceeded"], now["entries_judged"])
            row["baseline_journeys_judged"] = before["journeys_judged"]
            row["baseline_journeys_proceeded"] = before["journeys_proceeded"]
            row["baseline_step_rate"] = _rate(before["journeys_proceeded"], before["journeys_judged"])
            row["baseline_entry_rate"] = _rate(before["entries_proceeded"], before["entries_judged"])
            row["baseline_exits"] = {reason: before[f"exits_{reason}"] for reason in DROP_REASONS}
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["step_rate_change"] = frame["step_rate"] - frame["baseline_step_rate"]
    testable = (frame["journeys_judged"] >= MIN_JOURNEYS) & (
        frame["baseline_journeys_judged"] >= MIN_JOURNEYS
    )
    frame["p_value"] = [
        stats.fisher_exact(
            [
                [r.journeys_proceeded, r.journeys_judged - r.journeys_proceeded],
                [r.baseline_journeys_proceeded, r.baseline_journeys_judged - r.baseline_journeys_proceeded],
            ]
        ).pvalue
        if ok
        else np.nan
        for r, ok in zip(frame.itertuples(), testable, strict=True)
    ]
    frame["q_value"] = np.nan
    if testable.any():
        frame.loc[testable, "q_value"] = stats.false_discovery_control(frame.loc[testable, "p_value"])
    frame["is_flagged"] = (frame["q_value"] < FDR) & (frame["step_rate_change"] < 0)
    return frame


def _main_exit(row: pd.Series) -> tuple[str | None, float]:
    """The exit reason behind the step's loss: of the extra exits (beyond the baseline's rate) for
    a flagged step, of all its exits otherwise; and its share of them."""
    recent = {reason: row[f"exits_{reason}"] for reason in DROP_REASONS}
    if row["is_flagged"]:
        scale = row["journeys_judged"] / row["baseline_journeys_judged"]
        weights = {r: max(recent[r] - row["baseline_exits"][r] * scale, 0.0) for r in DROP_REASONS}
    else:
        weights = {r: float(n) for r, n in recent.items()}
    total = sum(weights.values())
    if total <= 0:
        return None, 0.0
    reason = max(DROP_REASONS, key=lambda r: weights[r])
    return reason, weights[reason] / total


def _sentence(row: pd.Series, windows: Windows) -> str:
    step, following, name = int(row["step_position"]), int(row["next_step"]), row["flow_name"]
    if row["is_flagged"]:
        text = (
            f"Step {step} of {name} lost {-row['step_rate_change'] * 100:.0f} pts of progression since "
            f"{windows.recent_start:%Y-%m-%d}: {row['step_rate']:.0%} of the journeys that got it went on "
            f"to step {following} in the last {RECENT_WEEKS} weeks, against {row['baseline_step_rate']:.0%} "
            f"in the {BASELINE_WEEKS} weeks before (q = {row['q_value']:.3f})"
        )
        whose = "of the extra exits"
    else:
        text = (
            f"Step {step} of {name} loses the most: {1 - row['step_rate']:.0%} of the journeys that got it "
            f"in the last {RECENT_WEEKS} weeks did not get step {following} (no significant change against "
            f"the {BASELINE_WEEKS} weeks before)"
        )
        whose = "of those exits"
    if row["main_exit_reason"] is not None:
        text += f"; {row['main_exit_share']:.0%} {whose} are {REASON_WORDS[row['main_exit_reason']]}"
    proposals = row["proposals"].split(",") if row["proposals"] else []
    if proposals:
        words = {
            Proposal.TIMING_INTERVAL_TEST: f"test a different wait before step {following}",
            Proposal.STEP_CONTENT_TEST: f"test new content for step {step}",
            Proposal.STEP_REMOVAL: f"test removing step {step}",
        }
        text += ". Proposed (needs approval): " + "; ".join(words[Proposal(p)] for p in proposals)
    return text + ". Associations only: no step holdout."


def diagnose(transitions: pd.DataFrame, windows: Windows) -> pd.DataFrame:
    """Adds the main exit reason, each flow's worst step, its diagnosis, proposals and sentence."""
    frame = transitions.copy()
    if frame.empty:
        return frame
    mains = [_main_exit(row) for _, row in frame.iterrows()]
    frame["main_exit_reason"] = [reason for reason, _ in mains]
    frame["main_exit_share"] = [share for _, share in mains]
    frame["is_worst_step"] = False
    for _, flow in frame.groupby("flow_id"):
        judged = flow[flow["journeys_judged"] > 0]
        flagged = judged[judged["is_flagged"]]
        if len(flagged):
            worst = flagged["step_rate_change"].idxmin()
        elif len(judged):
            worst = judged["step_rate"].idxmin()
        else:
            continue
        frame.loc[worst, "is_worst_step"] = True
    codes = [
        (REASON_DIAGNOSIS[reason] if reason is not None else Diagnosis.NO_EXITS) if worst else None
        for reason, worst in zip(frame["main_exit_reason"], frame["is_worst_step"], strict=True)
    ]
    frame["diagnosis_code"] = [str(code) if code is not None else None for code in codes]
    frame["proposals"] = [",".join(PROPOSALS[code]) if code is not None else None for code in codes]
    frame["diagnosis"] = [
        _sentence(row, windows) if row["is_worst_step"] else None for _, row in frame.iterrows()
    ]
    return frame


def flow_dropoff_findings(journeys: pd.DataFrame, data_end: datetime, now: datetime) -> pd.DataFrame:
    """``results.flow_dropoff_findings`` rows from the journeys (the windows end at ``data_end``)."""
    windows = Windows.ending(data_end)
    frame = diagnose(step_transitions(journeys, windows), windows)
    if frame.empty:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    frame["analysis_timestamp"] = now
    frame["analysis_date"] = data_end.date()
    frame["recent_start"] = windows.recent_start
    frame["baseline_start"] = windows.baseline_start
    return frame[FINDING_COLUMNS].reset_index(drop=True)


def journeys_data_end(journeys: pd.DataFrame, now: datetime) -> datetime:
    """The newest event the journeys were built at (their data_as_of), else ``now``."""
    if journeys.empty or journeys["data_as_of"].isna().all():
        return now
    end = pd.Timestamp(journeys["data_as_of"].max())
    return (end.tz_localize("UTC") if end.tzinfo is None else end).to_pydatetime()


def run_flow_dropoff(con: Any, now: datetime) -> pd.DataFrame:
    """Analyse the warehouse's journeys and write ``results.flow_dropoff_findings`` (replacing the
    rows of the same data date)."""
    journeys = read_journeys(con)
    frame = flow_dropoff_findings(journeys, journeys_data_end(journeys, now), now)
    write_results(con, "flow_dropoff_findings", frame, replace_where=("analysis_date",))
    return frame
