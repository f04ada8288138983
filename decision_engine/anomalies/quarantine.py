"""Quarantined ad-days as data incidents.

An ad-day whose vendor record was quarantined at ingestion has unknown metrics: the series
leave the day out (missing, not zero) and the scan opens one ``data_quarantine`` incident per
platform and run of consecutive quarantined days instead of a marketing anomaly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from decision_engine.anomalies.incidents import Incident, IncidentPoint, incident_id
from decision_engine.anomalies.playbook import PLAYBOOKS

INCIDENT_TYPE = "data_quarantine"
SEVERITY = "warning"  # data owners are told; nothing marketing-side is paged
RECOVERY_DAYS = 2  # like metric incidents: resolved after two judged days without a quarantine
MAX_GAP_DAYS = 1  # quarantined days at most this many days apart belong to one incident


def quarantine_incidents(ad_days: pd.DataFrame, through: pd.Timestamp | None) -> list[Incident]:
    """Incidents from ``day, platform, ad_id`` rows of quarantined ad-days (up to ``through``,
    the last day judged)."""
    if ad_days.empty:
        return []
    frame = ad_days.assign(day=pd.to_datetime(ad_days["day"]))
    incidents = []
    for platform, rows in frame.groupby("platform", sort=True):
        days = np.sort(rows["day"].unique())
        breaks = np.flatnonzero(np.diff(days) > pd.Timedelta(days=MAX_GAP_DAYS + 1)) + 1
        for run in np.split(days, breaks):
            members = rows[rows["day"].between(run[0], run[-1])]
            incidents.append(_incident(str(platform), members, through))
    incidents.sort(key=lambda i: (i.window_start, i.scope))
    return incidents


def _incident(platform: str, members: pd.DataFrame, through: pd.Timestamp | None) -> Incident:
    start, end = pd.Timestamp(members["day"].min()), pd.Timestamp(members["day"].max())
    scope = f"ads:{platform}"
    playbook = PLAYBOOKS[INCIDENT_TYPE]
    resolved = through is not None and pd.Timestamp(through) >= end + pd.Timedelta(days=RECOVERY_DAYS)
    members = members.sort_values(["day", "ad_id"])
    points = [
        IncidentPoint(
            series_id=f"ad:{platform}:{row.ad_id}:spend",
            metric="spend",
            entity=f"ad:{platform}:{row.ad_id}",
            timestamp=pd.Timestamp(row.day),
            observed=float("nan"),
            expected=float("nan"),
            lower=float("nan"),
            upper=float("nan"),
            severity=SEVERITY,
            direction="missing",
        )
        for row in members.itertuples(index=False)
    ]
    ads = sorted(members["ad_id"].astype(str).unique())
    window = f"on {start:%Y-%m-%d}" if start == end else f"from {start:%Y-%m-%d} to {end:%Y-%m-%d}"
    shown = ", ".join(ads[:5]) + (f" and {len(ads) - 5} more" if len(ads) > 5 else "")
    summary = (
        f"{len(members)} ad-day record(s) from {platform} were quarantined at ingestion {window} "
        f"(ads {shown}): their metrics are unknown, not zero, and the anomaly series leave them out. "
        + ("Later days loaded cleanly." if resolved else "It is still ongoing.")
    )
    return Incident(
        incident_id=incident_id(INCIDENT_TYPE, scope, start),
        incident_type=INCIDENT_TYPE,
        scope=scope,
        title=f"{playbook.title} ({scope})",
        severity=SEVERITY,
        status="resolved" if resolved else "open",
        window_start=start,
        window_end=end,
        entities=[f"ad:{platform}:{ad}" for ad in ads],
        metrics=["spend"],
        summary=summary,
        likely_cause=playbook.likely_cause,
        options=list(playbook.options),
        points=points,
    )
