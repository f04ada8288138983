from __future__ import annotations

import json

import pandas as pd
from anomaly_world import build_world

from decision_engine.anomalies import ALERT_COLUMNS, anomaly_alerts, detect, group_incidents, incident_chart


def test_alerts_frame_and_chart() -> None:
    world = build_world(0)
    verdicts = detect(world.series)
    incidents = group_incidents(verdicts)
    stamp = pd.Timestamp("2024-07-01T06:00:00Z")
    alerts = anomaly_alerts(incidents, stamp)
    assert tuple(alerts.columns) == ALERT_COLUMNS
    assert set(alerts["status"]) <= {"open", "resolved"}
    assert set(alerts["severity"]) <= {"info", "warning", "critical"}
    assert (alerts["analysis_timestamp"] == stamp).all()
    assert set(alerts["incident_id"]) == {i.incident_id for i in incidents}
    tracking = next(i for i in incidents if i.incident_type == "esp_tracking")
    assert "open rate" in tracking.summary and "pause" in " ".join(tracking.options)
    tracking_rows = alerts[alerts["incident_id"] == tracking.incident_id]
    assert all(
        json.loads(options) == tracking.options for options in tracking_rows["options"]
    )  # what the page shows
    figure = incident_chart(tracking, verdicts)
    assert len(figure.data) == 5 * min(6, len(tracking.series_ids))
    assert "Email tracking outage" in figure.layout.title.text


def test_no_anomalies_no_alerts() -> None:
    assert anomaly_alerts([]).empty
    assert group_incidents(detect(build_world(0).series.head(0))) == []
