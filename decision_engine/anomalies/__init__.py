"""Anomaly detection for marketing series: online robust seasonal baselines, incident
grouping with plain-English explanations, and the ``results.anomaly_alerts`` frame.

Pure Python; the Dagster asset calls ``run_anomaly_scan(con, now, report_dir)``
(``decision_engine.anomalies.run``), which does::

    series = build_series(duckdb_connection, now)     # or any long frame; now: the run's time
    verdicts = detect(series)                          # one verdict per row, online
    incidents = group_incidents(verdicts)              # open / resolved, stable ids
    alerts = anomaly_alerts(incidents, analysis_timestamp, analysis_date)
    write_results(con, "anomaly_alerts", alerts, replace_where=("incident_id",))
"""

from decision_engine.anomalies.detector import (
    DAILY,
    HOURLY,
    DetectorConfig,
    Frequency,
    detect,
    infer_frequency,
)
from decision_engine.anomalies.incidents import Incident, IncidentPoint, group_incidents, incident_id
from decision_engine.anomalies.metrics import METRICS, MetricSpec, metric_spec
from decision_engine.anomalies.playbook import PLAYBOOKS, Playbook
from decision_engine.anomalies.reporting import ALERT_COLUMNS, anomaly_alerts, incident_chart
from decision_engine.anomalies.series import build_series, data_as_of

__all__ = [
    "ALERT_COLUMNS",
    "DAILY",
    "HOURLY",
    "METRICS",
    "PLAYBOOKS",
    "DetectorConfig",
    "Frequency",
    "Incident",
    "IncidentPoint",
    "MetricSpec",
    "Playbook",
    "anomaly_alerts",
    "build_series",
    "data_as_of",
    "detect",
    "group_incidents",
    "incident_chart",
    "incident_id",
    "infer_frequency",
    "metric_spec",
]
