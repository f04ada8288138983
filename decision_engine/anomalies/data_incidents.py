"""Data incidents that do not come from a metric series: failed quality gates and failed runs.

Plain values in, one :class:`Incident` out; the orchestrator reads its event log and calls
:func:`quality_gate_incident` per failing gate, and :func:`run_failure_incident` per failed run. The words come from the anomaly playbook,
like every other incident's.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from decision_engine.anomalies.incidents import Incident
from decision_engine.anomalies.playbook import PLAYBOOKS

QUALITY_GATE = "data_quality_gate"
RUN_FAILURE = "pipeline_run_failure"


def quality_gate_incident(
    table: str, streak_start_run_id: str, summary: str | None, latest_passed: bool
) -> Incident:
    """The data incident for the quality gate on ``table`` that has failed since the run
    ``streak_start_run_id``: open while it fails, resolved once its latest evaluation passed.
    The id is the same for the whole failing streak."""
    playbook = PLAYBOOKS[QUALITY_GATE]
    return Incident(
        incident_id=hashlib.sha256(f"quality_gate|{table}|{streak_start_run_id}".encode()).hexdigest()[:16],
        incident_type=QUALITY_GATE,
        scope=table,
        title=f"{playbook.title}: {table}",
        severity="critical",
        status="resolved" if latest_passed else "open",
        window_start=pd.NaT,
        window_end=pd.NaT,
        entities=[table],
        metrics=["data_quality"],
        summary=str(summary) if summary is not None else f"Quality gate failed on {table}.",
        likely_cause=playbook.likely_cause,
        options=playbook.options_for(table=table),
        data_quality_failed=True,
    )


def run_failure_incident(job: str, run_id: str, error: str | None) -> Incident:
    """The data incident for the failed run ``run_id`` of ``job``: one per run, never resolved
    (the next successful run is the recovery; the page says what to do until then)."""
    playbook = PLAYBOOKS[RUN_FAILURE]
    return Incident(
        incident_id=hashlib.sha256(f"run_failure|{run_id}".encode()).hexdigest()[:16],
        incident_type=RUN_FAILURE,
        scope=job,
        title=f"{playbook.title}: {job}",
        severity="critical",
        status="open",
        window_start=pd.NaT,
        window_end=pd.NaT,
        entities=[f"job:{job}"],
        metrics=["run_status"],
        summary=f"Run {run_id} of {job} failed" + (f": {error}" if error else "."),
        likely_cause=playbook.likely_cause,
        options=playbook.options_for(job=job, run_id=run_id),
        data_quality_failed=False,
    )
