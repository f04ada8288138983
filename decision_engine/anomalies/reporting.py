"""Outputs of the anomaly engine: the ``results.anomaly_alerts`` rows and incident charts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pandas as pd

from core.results_schema import column_names
from decision_engine.anomalies.incidents import Incident
from decision_engine.anomalies.metrics import metric_spec

if TYPE_CHECKING:
    import plotly.graph_objects as go

ALERT_COLUMNS = tuple(column_names("anomaly_alerts"))  # the results contract


def anomaly_alerts(
    incidents: list[Incident],
    analysis_timestamp: datetime | None = None,
    analysis_date: date | None = None,
) -> pd.DataFrame:
    """One row per incident and affected series (its latest anomalous point), for
    ``results.anomaly_alerts``. ``severity`` is the incident's severity; ``analysis_date`` is
    the data date (the last day the scan judged)."""
    stamp = pd.Timestamp(analysis_timestamp or datetime.now(UTC))
    data_date = pd.Timestamp(analysis_date).date() if analysis_date is not None else None
    rows = []
    for incident in incidents:
        latest = {}
        for point in incident.points:
            latest[point.series_id] = point
        for point in latest.values():
            label = metric_spec(point.metric).label
            rows.append(
                {
                    "incident_id": incident.incident_id,
                    "incident_type": incident.incident_type,
                    "metric": point.metric,
                    "entity": point.entity,
                    "window_start": incident.window_start,
                    "window_end": incident.window_end,
                    "observed": point.observed,
                    "expected": point.expected,
                    "lower": point.lower,
                    "upper": point.upper,
                    "severity": incident.severity,
                    "status": incident.status,
                    "explanation": f"{incident.title}: {label} {point.direction}. {incident.likely_cause}",
                    "analysis_timestamp": stamp,
                    "analysis_date": data_date,
                    "options": json.dumps(list(incident.options)),
                }
            )
    return pd.DataFrame(rows, columns=list(ALERT_COLUMNS))


def incident_chart(
    incident: Incident, verdicts: pd.DataFrame, context_periods: int = 42, max_series: int = 6
) -> go.Figure:
    """One panel per affected series: observed, expected, the normal band, anomalies marked."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    series_ids = incident.series_ids[:max_series]
    fig = make_subplots(
        rows=len(series_ids),
        cols=1,
        shared_xaxes=True,
        subplot_titles=[_panel_title(incident, s) for s in series_ids],
    )
    frame = verdicts[verdicts["series_id"].isin(series_ids)].copy()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    for row, series_id in enumerate(series_ids, start=1):
        data = frame[frame["series_id"] == series_id].sort_values("timestamp")
        before = data[data["timestamp"] < incident.window_start].tail(context_periods)
        data = data[
            data["timestamp"] >= (before["timestamp"].min() if len(before) else incident.window_start)
        ]
        show = row == 1
        fig.add_trace(
            go.Scatter(
                x=data["timestamp"], y=data["upper"], line={"width": 0}, showlegend=False, hoverinfo="skip"
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=data["timestamp"],
                y=data["lower"],
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(99,110,250,0.15)",
                name="normal range",
                showlegend=show,
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=data["timestamp"],
                y=data["expected"],
                line={"dash": "dot"},
                name="expected",
                showlegend=show,
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=data["timestamp"], y=data["value"], mode="lines+markers", name="observed", showlegend=show
            ),
            row=row,
            col=1,
        )
        flagged = data[data["is_anomaly"].astype(bool)]
        fig.add_trace(
            go.Scatter(
                x=flagged["timestamp"],
                y=flagged["value"],
                mode="markers",
                marker={"color": "red", "size": 10, "symbol": "x"},
                name="anomaly",
                showlegend=show,
            ),
            row=row,
            col=1,
        )
    fig.add_vrect(
        x0=incident.window_start, x1=incident.window_end, fillcolor="red", opacity=0.08, line_width=0
    )
    fig.update_layout(
        title=f"{incident.title} [{incident.severity}, {incident.status}]",
        height=240 * len(series_ids) + 120,
        template="plotly_white",
    )
    return fig


def _panel_title(incident: Incident, series_id: str) -> str:
    point = next(p for p in incident.points if p.series_id == series_id)
    return f"{metric_spec(point.metric).label} — {point.entity}"
