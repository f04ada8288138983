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


#: Incident types that are about the data, not about marketing performance.
DATA_INCIDENT_TYPES = frozenset({"data_source_health", "data_quality_gate", "data_quarantine"})


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

    @property
    def is_data_incident(self) -> bool:
        return self.data_quality_failed or self.incident_type in DATA_INCIDENT_TYPES

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
            window_start=str(getattr(incident, "window_start", "")) or None,
            window_end=str(getattr(incident, "window_end", "")) or None,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NotificationMessage:
    incident_id: str
    action: str  # trigger | resolve
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
        prefix = "[data incident] " if self.data_incident else ""
        state = "RESOLVED" if self.action == "resolve" else self.severity.upper()
        return f"{prefix}[{state}] {self.title}"

    def text(self) -> str:
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
