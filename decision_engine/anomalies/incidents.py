"""Group anomalous points into incidents a person can act on.

Points are classified by what they look like together at one timestamp (all email
engagement down across streams -> tracking outage; spend up on one ad -> runaway spend;
conversions down while clicks hold -> landing page / pixel; ...), then consecutive periods
of the same type and scope become one incident. The incident id is a hash of type, scope
(the entities) and start, so it is stable across runs and ticks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.severity import SEVERITY_RANK
from decision_engine.anomalies.metrics import metric_spec
from decision_engine.anomalies.playbook import PLAYBOOKS

_TRAFFIC_METRICS = ("clicks", "ctr", "click_rate")
_ENGAGEMENT_DROP = "email_engagement"
# Opens or clicks (machine opens included) all but vanishing is lost tracking, not dull content.
_TRACKED_METRICS = ("open_rate", "click_rate")
_COLLAPSE = -0.8
# Privacy-proxy (machine) opens fire on delivery whatever the content says, so when they fall the
# tracking broke, even if clicks only dipped.
_PROXY_OPENS = "machine_open_rate"


@dataclass
class IncidentPoint:
    series_id: str
    metric: str
    entity: str
    timestamp: pd.Timestamp
    observed: float
    expected: float
    lower: float
    upper: float
    severity: str
    direction: str


@dataclass
class Incident:
    incident_id: str
    incident_type: str
    scope: str
    title: str
    severity: str
    status: str  # open | resolved
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    entities: list[str]
    metrics: list[str]
    summary: str
    likely_cause: str
    options: list[str]
    data_quality_failed: bool = False
    points: list[IncidentPoint] = field(default_factory=list)

    @property
    def is_data_incident(self) -> bool:
        """Data incidents go to the data owners, never to a marketing page."""
        return self.data_quality_failed or PLAYBOOKS[self.incident_type].data_incident

    @property
    def series_ids(self) -> list[str]:
        return sorted({p.series_id for p in self.points})


def incident_id(incident_type: str, scope: str, start: pd.Timestamp) -> str:
    key = f"{incident_type}|{scope}|{pd.Timestamp(start).isoformat()}"
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def _prepare(verdicts: pd.DataFrame) -> pd.DataFrame:
    frame = verdicts.copy()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    for column, default in (("entity_type", "series"), ("metric", "value"), ("data_quality_failed", False)):
        if column not in frame.columns:
            frame[column] = default
    if "entity_id" not in frame.columns:
        frame["entity_id"] = frame["series_id"].astype(str)
    if "source" not in frame.columns:
        frame["source"] = frame["entity_type"].astype(str)
    frame["entity"] = frame["entity_type"].astype(str) + ":" + frame["entity_id"].astype(str)
    specs = {m: metric_spec(str(m)) for m in frame["metric"].unique()}
    frame["family"] = frame["metric"].map(lambda m: specs[m].family)
    bad = [d in specs[m].bad_directions for m, d in zip(frame["metric"], frame["direction"], strict=True)]
    severity = frame["severity"].where(frame["is_anomaly"].astype(bool), None)
    effective = pd.Series(
        np.where(np.asarray(bad, dtype=bool) | severity.isna(), severity, "info"),
        index=frame.index,
        dtype=object,
    )
    # Spend falling (an ad paused, a day's rows quarantined) or a short quiet spell in a sparse
    # source is worth a message, not a page.
    capped = [
        effective_severity == "critical"
        and not (
            specs[m].may_page(d) and (specs[m].critical_at_least is None or v >= specs[m].critical_at_least)
        )
        for m, d, v, effective_severity in zip(
            frame["metric"], frame["direction"], frame["value"], effective, strict=True
        )
    ]
    frame["effective_severity"] = effective.where(~np.asarray(capped, dtype=bool), "warning")
    return frame


def _classify(anomalies: pd.DataFrame, everything: pd.DataFrame) -> pd.DataFrame:
    """Adds ``incident_type`` and ``scope`` to each anomalous point."""
    types, scopes = [], []
    drops = everything[everything["is_anomaly"].astype(bool) & (everything["direction"] == "drop")]
    traffic_drop = set(
        zip(
            drops.loc[drops["metric"].isin(_TRAFFIC_METRICS), "source"],
            drops.loc[drops["metric"].isin(_TRAFFIC_METRICS), "timestamp"],
            strict=True,
        )
    )
    spikes = everything[everything["is_anomaly"].astype(bool) & (everything["direction"] == "spike")]
    spend_rows = spikes[spikes["family"] == "spend"]
    spend_spike = set(zip(spend_rows["entity"], spend_rows["timestamp"], strict=True))
    # The ad whose spend jumped, per source and period: platform totals and traffic moving with
    # it belong to that ad's incident, not to incidents of their own.
    ad_spend = spend_rows[spend_rows["entity_type"] == "ad"]
    spend_by_source = ad_spend.groupby(["source", "timestamp"])["entity"].min()
    # Streams, not the pooled source-level series, vote on "all of email is down".
    engagement = drops[(drops["family"] == _ENGAGEMENT_DROP) & (drops["entity_type"] != "source")]
    streams_down = engagement.groupby(["source", "timestamp"])["entity"].nunique()
    email_rows = everything[
        (everything["family"] == _ENGAGEMENT_DROP) & (everything["entity_type"] != "source")
    ]
    streams_active = (
        email_rows[email_rows["value"].notna()].groupby(["source", "timestamp"])["entity"].nunique()
    )
    proxy = drops[drops["metric"] == _PROXY_OPENS]
    proxy_down = set(zip(proxy["source"], proxy["timestamp"], strict=True))
    for row in anomalies.itertuples(index=False):
        kind, scope = "metric_anomaly", f"{row.entity}|{row.family}"
        if row.family == "data_health":
            kind, scope = (
                ("crm_sync_stall", row.source) if row.source == "crm" else ("data_source_health", row.source)
            )
        elif row.family == "crm" and row.direction == "drop":
            kind, scope = "crm_sync_stall", row.source
        elif row.family == _ENGAGEMENT_DROP and row.direction == "drop":
            down = streams_down.get((row.source, row.timestamp), 0)
            active = streams_active.get((row.source, row.timestamp), 0)
            collapsed = row.metric in _TRACKED_METRICS and getattr(row, "relative_change", 0.0) <= _COLLAPSE
            proxy_lost = row.metric == _PROXY_OPENS or (row.source, row.timestamp) in proxy_down
            if down >= 2 or (down >= 1 and down == active) or collapsed or proxy_lost:
                kind, scope = "esp_tracking", row.source
            else:
                kind, scope = "email_engagement_drop", row.entity
        elif row.family == "email_deliverability":
            kind, scope = "deliverability", row.source
        elif (
            row.family in ("spend", "conversions", "traffic")
            and row.entity_type != "ad"
            and ((row.source, row.timestamp) in spend_by_source.index)
        ):
            kind, scope = "runaway_spend", spend_by_source[(row.source, row.timestamp)]
        elif (row.family == "spend" and row.direction == "spike") or (
            row.family == "conversions" and (row.entity, row.timestamp) in spend_spike
        ):
            kind, scope = "runaway_spend", row.entity
        elif (
            row.family in ("conversions", "traffic") and (row.source, row.timestamp) in spend_by_source.index
        ):
            kind, scope = "runaway_spend", spend_by_source[(row.source, row.timestamp)]
        elif row.family == "conversions" and row.direction == "drop":
            if streams_down.get((row.source, row.timestamp), 0) >= 2:
                kind, scope = "esp_tracking", row.source  # attributed orders vanish with click tracking
            elif (row.source, row.timestamp) in traffic_drop:
                kind, scope = "traffic_drop", row.source
            else:
                kind, scope = "conversion_tracking", row.source
        types.append(kind)
        scopes.append(scope)
    return anomalies.assign(incident_type=types, scope=scopes)


def group_incidents(
    verdicts: pd.DataFrame,
    min_severity: str = "warning",
    max_gap_periods: int = 1,
    recovery_periods: int = 2,
) -> list[Incident]:
    """Incidents from detector verdicts (the output of :func:`detect`, with pass-through
    columns ``entity_type, entity_id, metric`` and optionally ``source`` and
    ``data_quality_failed``). Anomalies in a harmless direction (an open-rate spike) count as
    info. An incident is resolved once its series have ``recovery_periods`` normal periods
    after its last anomalous one; until then (or when data stops arriving) it stays open.
    """
    if verdicts.empty:
        return []
    frame = _prepare(verdicts)
    rank = frame["effective_severity"].map(SEVERITY_RANK).fillna(0)
    anomalies = frame[rank >= SEVERITY_RANK[min_severity]]
    if anomalies.empty:
        return []
    anomalies = _classify(anomalies, frame)
    step = _step(frame["timestamp"])
    incidents = []
    for (kind, scope), group in anomalies.groupby(["incident_type", "scope"], sort=True):
        times = np.sort(group["timestamp"].unique())
        breaks = np.flatnonzero(np.diff(times) > step * (max_gap_periods + 1)) + 1
        for run in np.split(times, breaks):
            members = group[group["timestamp"].between(run[0], run[-1])]
            incidents.append(_build(kind, scope, members, frame, recovery_periods))
    incidents.sort(key=lambda i: (i.window_start, i.incident_type, i.scope))
    return incidents


def _step(timestamps: pd.Series) -> pd.Timedelta:
    unique = np.sort(timestamps.unique())
    if len(unique) < 2:
        return pd.Timedelta(days=1)
    return pd.Timedelta(np.median(np.diff(unique)))


def _build(
    kind: str, scope: str, members: pd.DataFrame, frame: pd.DataFrame, recovery_periods: int
) -> Incident:
    start, end = pd.Timestamp(members["timestamp"].min()), pd.Timestamp(members["timestamp"].max())
    series = frame[frame["series_id"].isin(members["series_id"].unique())]
    later = series.loc[(series["timestamp"] > end) & series["value"].notna(), "timestamp"].nunique()
    status = "resolved" if later >= recovery_periods else "open"
    severity = max(members["effective_severity"], key=lambda s: SEVERITY_RANK[s])
    points = [
        IncidentPoint(
            str(r.series_id),
            str(r.metric),
            str(r.entity),
            pd.Timestamp(r.timestamp),
            float(r.value),
            float(r.expected),
            float(r.lower),
            float(r.upper),
            str(r.effective_severity),
            str(r.direction),
        )
        for r in members.sort_values(["timestamp", "series_id"]).itertuples(index=False)
    ]
    playbook = PLAYBOOKS[kind]
    data_failed = bool(members["data_quality_failed"].fillna(False).astype(bool).any())
    title = f"{playbook.title} ({scope})"
    if data_failed:
        title = f"Data incident: {title} — computed from data that failed quality checks"
    return Incident(
        incident_id=incident_id(kind, scope, start),
        incident_type=kind,
        scope=scope,
        title=title,
        severity=severity,
        status=status,
        window_start=start,
        window_end=end,
        entities=sorted(members["entity"].astype(str).unique()),
        metrics=sorted(members["metric"].astype(str).unique()),
        summary=_summary(points, start, end, status),
        likely_cause=playbook.likely_cause,
        options=list(playbook.options),
        data_quality_failed=data_failed,
        points=points,
    )


def _summary(points: list[IncidentPoint], start: pd.Timestamp, end: pd.Timestamp, status: str) -> str:
    latest: dict[str, IncidentPoint] = {}
    for point in points:
        latest[point.series_id] = point
    worst = sorted(latest.values(), key=lambda p: -abs(_relative(p)))
    parts = []
    for p in worst[:3]:
        spec = metric_spec(p.metric)
        rate = spec.kind == "rate"
        parts.append(
            f"{spec.label} for {p.entity} was {_fmt(p.observed, rate)} against about {_fmt(p.expected, rate)} "
            f"expected ({_relative(p):+.0%})"
        )
    more = f" and {len(worst) - 3} more series" if len(worst) > 3 else ""
    window = f"on {start:%Y-%m-%d}" if start == end else f"from {start:%Y-%m-%d} to {end:%Y-%m-%d}"
    state = "It has recovered." if status == "resolved" else "It is still ongoing."
    return f"{'; '.join(parts)}{more}, {window}. {state}"


def _relative(point: IncidentPoint) -> float:
    if point.expected == 0:
        return 0.0
    return (point.observed - point.expected) / abs(point.expected)


def _fmt(value: float, rate: bool) -> str:
    if rate:
        return f"{value:.2%}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
