"""Data incidents that do not come from a metric series: failed quality gates.

Plain values in, one :class:`IncidentRecord` out; the orchestrator reads its event log and
calls :func:`quality_gate_incident` per failing gate. The words come from the anomaly
playbook (``decision_engine.anomalies.playbook``), like every other incident's.
"""

from __future__ import annotations

import hashlib

from activation.notify.message import IncidentRecord

QUALITY_GATE = "data_quality_gate"


def quality_gate_incident(
    table: str, streak_start_run_id: str, summary: str | None, latest_passed: bool
) -> IncidentRecord:
    """The data incident for the quality gate on ``table`` that has failed since the run
    ``streak_start_run_id``: open while it fails, resolved once its latest evaluation passed.
    The id is the same for the whole failing streak."""
    from decision_engine.anomalies.playbook import PLAYBOOKS

    playbook = PLAYBOOKS[QUALITY_GATE]
    return IncidentRecord(
        incident_id=hashlib.sha256(f"quality_gate|{table}|{streak_start_run_id}".encode()).hexdigest()[:16],
        incident_type=QUALITY_GATE,
        title=f"{playbook.title}: {table}",
        severity="critical",
        status="resolved" if latest_passed else "open",
        summary=str(summary) if summary is not None else f"Quality gate failed on {table}.",
        likely_cause=playbook.likely_cause,
        options=playbook.options_for(table=table),
        entities=[table],
        metrics=["data_quality"],
        scope=table,
        data_quality_failed=True,
    )
