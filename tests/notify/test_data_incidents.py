from __future__ import annotations

from activation.notify import IncidentRecord
from decision_engine.anomalies.data_incidents import quality_gate_incident
from decision_engine.anomalies.playbook import PLAYBOOKS


def test_quality_gate_incident_from_plain_values() -> None:
    failing = quality_gate_incident("marts.fct_deals", "run-1", "3 of 12 expectations failed", False)
    assert failing.status == "open" and failing.severity == "critical" and failing.is_data_incident
    assert failing.title == "Data quality gate failed: marts.fct_deals"
    assert failing.summary == "3 of 12 expectations failed"
    assert failing.likely_cause == PLAYBOOKS["data_quality_gate"].likely_cause
    assert failing.options[0] == "Inspect the failing expectations on marts.fct_deals in the Dagster UI"
    assert failing.entities == ["marts.fct_deals"] and failing.scope == "marts.fct_deals"
    passed = quality_gate_incident("marts.fct_deals", "run-1", None, True)
    assert passed.incident_id == failing.incident_id  # one id for the whole failing streak
    assert passed.status == "resolved" and passed.summary == "Quality gate failed on marts.fct_deals."
    assert quality_gate_incident("marts.fct_deals", "run-9", None, False).incident_id != failing.incident_id


def test_the_pager_record_keeps_the_data_incident_flag() -> None:
    record = IncidentRecord.from_incident(quality_gate_incident("marts.fct_deals", "run-1", None, False))
    assert record.is_data_incident and record.window_start is None
    assert IncidentRecord(**record.to_dict()).is_data_incident  # survives the trip through metadata
