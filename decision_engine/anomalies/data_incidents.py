"""Data incidents that do not come from a metric series: failed quality gates.

Plain values in, one :class:`Incident` out; the orchestrator reads its event log and calls
:func:`quality_gate_incident` per failing gate. The words come from the anomaly playbook,
like every other incident's.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from decision_engine.anomalies.incidents import Incident
from decision_engine.anomalies.playbook import PLAYBOOKS

QUALITY_GATE = "data_quality_gate"


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
