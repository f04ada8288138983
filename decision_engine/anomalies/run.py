"""One anomaly scan, start to finish: series from the warehouse, verdicts, incidents,
``results.anomaly_alerts``, incident charts and a headline.

Pure of any orchestrator: the Dagster asset connects, calls :func:`run_anomaly_scan` and
attaches the numbers as metadata; a script or a test does the same with a DuckDB connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from decision_engine.anomalies.detector import detect
from decision_engine.anomalies.incidents import Incident, group_incidents
from decision_engine.anomalies.quarantine import quarantine_incidents
from decision_engine.anomalies.reporting import anomaly_alerts, incident_chart
from decision_engine.anomalies.series import build_series, quarantined_ad_days

MAX_CHARTS = 10
MAX_RECENT_INCIDENTS = 200


@dataclass
class AnomalyScan:
    """What one scan saw and wrote."""

    analysis_timestamp: datetime
    analysis_date: date | None  # the last day judged (None when there was nothing to judge)
    series: pd.DataFrame
    verdicts: pd.DataFrame
    incidents: list[Incident]
    alerts: pd.DataFrame
    headline: str
    by_status_severity: dict[str, int] = field(default_factory=dict)
    charts: list[str] = field(default_factory=list)

    @property
    def open_incidents(self) -> list[Incident]:
        return [incident for incident in self.incidents if incident.status == "open"]

    @property
    def series_monitored(self) -> int:
        return int(self.series["series_id"].nunique()) if len(self.series) else 0

    @property
    def points_scored(self) -> int:
        return len(self.verdicts)

    @property
    def alert_rows(self) -> int:
        return len(self.alerts)

    def recent_incidents(self, limit: int = MAX_RECENT_INCIDENTS) -> list[Incident]:
        """The newest incidents (by window end), newest first: what the pager reads."""
        return sorted(self.incidents, key=lambda i: str(i.window_end), reverse=True)[:limit]


def run_anomaly_scan(con: Any, now: datetime | None = None, report_dir: Path | None = None) -> AnomalyScan:
    """Scan the marts on ``con`` as of ``now`` (the run's time; default the wall clock), write
    ``results.anomaly_alerts`` (rows of each incident replaced by id) and, given ``report_dir``,
    an HTML chart for each of the newest open incidents."""
    from decision_engine.store import write_results

    analysis_timestamp = now or datetime.now(UTC)
    series = build_series(con, now=analysis_timestamp)  # days ended before data last arrived
    analysis_date = pd.Timestamp(series["timestamp"].max()).date() if len(series) else None
    verdicts = detect(series)
    through = pd.Timestamp(analysis_date) if analysis_date is not None else None
    # Quarantined ad-days are missing from the series; they are a data incident of their own.
    quarantined = quarantined_ad_days(con, through) if through is not None else None
    incidents = group_incidents(verdicts) + (
        quarantine_incidents(quarantined, through) if quarantined is not None else []
    )
    incidents.sort(key=lambda i: (i.window_start, i.incident_type, i.scope))
    alerts = anomaly_alerts(incidents, analysis_timestamp, analysis_date)
    write_results(con, "anomaly_alerts", alerts, replace_where=("incident_id",))
    scan = AnomalyScan(
        analysis_timestamp=analysis_timestamp,
        analysis_date=analysis_date,
        series=series,
        verdicts=verdicts,
        incidents=incidents,
        alerts=alerts,
        headline="",
    )
    for incident in scan.incidents:
        key = f"{incident.status}_{incident.severity}"
        scan.by_status_severity[key] = scan.by_status_severity.get(key, 0) + 1
    open_incidents = scan.open_incidents
    if report_dir is not None:
        report_dir = Path(report_dir)
        report_dir.mkdir(parents=True, exist_ok=True)
        newest = sorted(open_incidents, key=lambda i: str(i.window_end), reverse=True)[:MAX_CHARTS]
        for incident in newest:
            path = report_dir / f"incident_{incident.incident_id}.html"
            incident_chart(incident, verdicts).write_html(str(path), include_plotlyjs="directory")
            scan.charts.append(str(path))
    scan.headline = f"{len(open_incidents)} open incident(s) across {scan.series_monitored} series" + (
        f"; latest: {open_incidents[0].title}" if open_incidents else ""
    )
    return scan
