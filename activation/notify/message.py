"""What a notifier sends: one message per incident event (trigger or resolve)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


class IncidentLike(Protocol):
    """What dispatch needs from an incident (``decision_engine.anomalies.Incident`` fits)."""

    incident_id: str
    incident_type: str
    title: str
    severity: str
    status: str
    summary: str
    likely_cause: str
    options: list[str]
    entities: list[str]
    metrics: list[str]

    @property
    def is_data_incident(self) -> bool: ...


@dataclass
class IncidentRecord:
    """An incident as plain data: what travels in Dagster metadata from the scan to the pager."""

    incident_id: str
    incident_type: str
    title: str
    severity: str
    status: str
    summary: str
    likely_cause: str
    options: list[str]
    entities: list[str]
    metrics: list[str]
    scope: str | None = None
    data_quality_failed: bool = False
    window_start: str | None = None
    window_end: str | None = None
    data_incident: bool = False  # about the data, not marketing performance (the incident says which)

    @property
    def is_data_incident(self) -> bool:
        return self.data_incident or self.data_quality_failed

    @classmethod
    def from_incident(cls, incident: Any) -> IncidentRecord:
        """From ``decision_engine.anomalies.Incident`` (or anything with the same fields)."""
        return cls(
            incident_id=incident.incident_id,
            incident_type=incident.incident_type,
            title=incident.title,
            severity=incident.severity,
            status=incident.status,
            summary=incident.summary,
            likely_cause=incident.likely_cause,
            options=list(incident.options),
            entities=list(incident.entities),
            metrics=list(incident.metrics),
            scope=getattr(incident, "scope", None),
            data_quality_failed=bool(getattr(incident, "data_quality_failed", False)),
            window_start=_text(getattr(incident, "window_start", None)),
            window_end=_text(getattr(incident, "window_end", None)),
            data_incident=bool(incident.is_data_incident),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str | None:
    """A window bound as text; missing (None, NaT, empty) stays None."""
    text = "" if value is None or value != value else str(value)  # NaT != NaT
    return text or None


@dataclass(frozen=True)
class NotificationMessage:
    incident_id: str
    action: str  # trigger | resolve | digest (the weekly digest, activation/notify/digest.py)
    incident_type: str
    title: str
    severity: str
    summary: str
    likely_cause: str
    options: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    window_start: str | None = None
    window_end: str | None = None
    data_incident: bool = False

    @property
    def headline(self) -> str:
        if self.action == "digest":
            return self.title
        prefix = "[data incident] " if self.data_incident else ""
        state = "RESOLVED" if self.action == "resolve" else self.severity.upper()
        return f"{prefix}[{state}] {self.title}"

    def text(self) -> str:
        if self.action == "digest":  # the weekly digest: its Markdown, then where the full report is
            return "\n".join([self.summary, *(f"Full report: {link}" for link in self.options)])
        lines = [self.headline, "", self.summary]
        if self.action == "trigger":
            lines += ["", f"Likely cause: {self.likely_cause}", "Options:"] + [
                f"  - {o}" for o in self.options
            ]
        lines += ["", f"Incident: {self.incident_id}"]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NotificationMessage:
        return cls(**data)

    @classmethod
    def from_incident(cls, incident: IncidentLike, action: str) -> NotificationMessage:
        start, end = getattr(incident, "window_start", None), getattr(incident, "window_end", None)
        return cls(
            incident_id=incident.incident_id,
            action=action,
            incident_type=incident.incident_type,
            title=incident.title,
            severity=incident.severity,
            summary=incident.summary,
            likely_cause=incident.likely_cause,
            options=list(incident.options),
            entities=list(incident.entities),
            metrics=list(incident.metrics),
            window_start=None if start is None else str(start),
            window_end=None if end is None else str(end),
            data_incident=bool(incident.is_data_incident),
        )
