"""Scores incidents found in a synthetic world against its labels."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from anomaly_world import World

from decision_engine.anomalies.incidents import Incident

ONE_DAY = pd.Timedelta(days=1)


@dataclass
class Score:
    labels: int
    caught: int  # right type, warning or worse, first flagged no later than the day after the start
    caught_critical: int
    incidents: int  # warning or worse
    true_incidents: int  # overlapping a labelled window (+-1 day)
    false_pages: int  # critical incidents outside every labelled window
    weeks_monitored: float

    @property
    def recall(self) -> float:
        return self.caught / self.labels if self.labels else 1.0

    @property
    def precision(self) -> float:
        return self.true_incidents / self.incidents if self.incidents else 1.0


def score_world(world: World, incidents: list[Incident], min_history_days: int = 14) -> Score:
    def overlaps(incident: Incident) -> bool:
        return any(
            incident.window_start <= label.end + ONE_DAY and incident.window_end >= label.start - ONE_DAY
            for label in world.labels
        )

    caught = caught_critical = 0
    for label in world.labels:
        matches = [
            i
            for i in incidents
            if i.incident_type == label.incident_type
            and label.start - ONE_DAY <= i.window_start <= label.start + ONE_DAY
        ]
        caught += bool(matches)
        caught_critical += any(i.severity == "critical" for i in matches)
    true_incidents = sum(overlaps(i) for i in incidents)
    false_pages = sum(i.severity == "critical" and not overlaps(i) for i in incidents)
    weeks = (len(world.days) - min_history_days) / 7
    return Score(
        len(world.labels), caught, caught_critical, len(incidents), true_incidents, false_pages, weeks
    )
