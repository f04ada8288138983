"""The weekly digest as data: its period, its sections (codes beside the English), its charts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo


class SectionCode(StrEnum):
    """The digest's sections, in the order they are shown."""

    NEEDS_DECISION = "needs_decision"
    CHANGES = "changes"
    PREDICTED_VS_REALIZED = "predicted_vs_realized"
    EXPERIMENTS = "experiments"
    SEND_TIME = "send_time"
    CONTENT = "content"
    BUDGET = "budget"
    INCIDENTS = "incidents"


SECTION_TITLES = {
    SectionCode.NEEDS_DECISION: "What needs your decision",
    SectionCode.CHANGES: "Changes made and their measured impact",
    SectionCode.PREDICTED_VS_REALIZED: "Predicted vs realized so far",
    SectionCode.EXPERIMENTS: "Experiments running and concluded",
    SectionCode.SEND_TIME: "Send time",
    SectionCode.CONTENT: "Content",
    SectionCode.BUDGET: "Budget moves",
    SectionCode.INCIDENTS: "Incidents and how they ended",
}


@dataclass(frozen=True)
class DigestPeriod:
    """The week the digest covers: the seven days up to ``end`` (``start`` excluded, ``end`` included),
    so weekly runs report every change exactly once."""

    start: datetime
    end: datetime
    timezone: str

    @property
    def week(self) -> str:
        """ISO week of the period's middle, e.g. ``2026-W14`` (the file name): a run on Monday 07:00
        names the week that ended on Sunday."""
        middle = (self.start + (self.end - self.start) / 2).astimezone(ZoneInfo(self.timezone)).date()
        year, week, _ = middle.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def first_day(self) -> date:
        """The first local day the period reports on (the day after ``start``'s day)."""
        return self.start.astimezone(ZoneInfo(self.timezone)).date() + timedelta(days=1)

    @property
    def last_day(self) -> date:
        return self.end.astimezone(ZoneInfo(self.timezone)).date()

    def contains_day(self, value: Any) -> bool:
        """Whether a data date (a date, or a timestamp read from a DATE column) is one of the period's days."""
        import pandas as pd

        if value is None or (not isinstance(value, date) and pd.isna(value)):
            return False
        return self.first_day <= pd.Timestamp(value).date() <= self.last_day

    def contains(self, moment: Any) -> bool:
        """Whether a timestamp (naive ones are UTC) falls in the period."""
        import pandas as pd

        stamp = _timestamp(moment)
        if stamp is None:
            return False
        return pd.Timestamp(self.start) < stamp <= pd.Timestamp(self.end)

    def describe(self) -> str:
        zone = ZoneInfo(self.timezone)
        start, end = self.start.astimezone(zone), self.end.astimezone(zone)
        return f"{start:%a %d %b %H:%M} to {end:%a %d %b %Y %H:%M} ({self.timezone})"


def period_for(now: datetime, timezone: str = "UTC") -> DigestPeriod:
    """The seven days before ``now`` (an aware time; a naive one is taken as UTC)."""
    end = now if now.tzinfo else now.replace(tzinfo=ZoneInfo("UTC"))
    ZoneInfo(timezone)  # an unknown zone fails here, not halfway through the digest
    return DigestPeriod(start=end - timedelta(days=7), end=end, timezone=timezone)


def _timestamp(moment: Any) -> Any:
    import pandas as pd

    if moment is None:
        return None
    stamp = pd.Timestamp(moment)
    if pd.isna(stamp):
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp


def local_date(moment: Any, timezone: str) -> date | None:
    """The local date of a timestamp (naive ones are UTC) or a date; None for a missing value."""
    if isinstance(moment, date) and not isinstance(moment, datetime):
        return moment
    stamp = _timestamp(moment)
    return None if stamp is None else stamp.tz_convert(timezone).date()


@dataclass(frozen=True)
class Section:
    code: SectionCode
    lines: tuple[str, ...]
    empty: str  # what the section says when it has nothing to report
    note: str | None = None  # one sentence under the title (e.g. counts)

    @property
    def title(self) -> str:
        return SECTION_TITLES[self.code]


@dataclass(frozen=True)
class PendingApproval:
    """One action waiting for a human, as the digest lists it."""

    what: str  # the change, by entity name
    why: str  # the policy's reason it needs a human
    waiting_days: float
    lapses_on: date | None

    def line(self) -> str:
        age = "proposed today" if self.waiting_days < 1 else f"waiting {_days(self.waiting_days)}"
        lapse = f"; lapses on {self.lapses_on:%a %d %b}" if self.lapses_on else ""
        return f"{self.what}. Why it needs you: {self.why}. ({age}{lapse})"


def _days(days: float) -> str:
    whole = int(days)
    return "1 day" if whole == 1 else f"{whole} days"


@dataclass(frozen=True)
class Chart:
    """A chart of the digest: a plotly figure and the sentence that says what it shows."""

    name: str
    title: str
    caption: str
    figure: Any  # plotly.graph_objects.Figure


@dataclass
class Digest:
    period: DigestPeriod
    generated_at: datetime
    data_as_of: date | None  # the newest analysis date the digest read
    headline: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    pending: list[PendingApproval] = field(default_factory=list)
    summary: str | None = None  # the optional LLM summary (off unless a key is configured)

    @property
    def title(self) -> str:
        return f"Loopwise weekly digest, {self.period.week}"

    def section(self, code: SectionCode) -> Section:
        return next(section for section in self.sections if section.code == code)
