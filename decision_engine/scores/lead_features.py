"""Lead-score features and outcomes as of a prediction date, from CRM and email history.

Every event table is cut at the prediction date before anything is computed: a stage entered,
an email opened or clicked, a deal created after it cannot enter the features (an email sent
before the date but clicked after it counts as sent, not clicked). The outcome is whether a
deal is created in the ``window_days`` after the date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

LIFECYCLE_ORDER = {
    "subscriber": 1,
    "lead": 2,
    "marketingqualifiedlead": 3,
    "salesqualifiedlead": 4,
    "opportunity": 5,
    "customer": 6,
}
OPPORTUNITY_STAGE = LIFECYCLE_ORDER["opportunity"]
ENGAGEMENT_DAYS = 30
NEVER_CLICKED_DAYS = 3650.0  # days_since_last_click of a contact who never clicked
FEATURES = (
    "stage_order",
    "days_in_stage",
    "days_since_created",
    "stages_passed",
    "source_code",
    "emails_delivered_30d",
    "emails_opened_30d",
    "emails_clicked_30d",
    "days_since_last_click",
)
SOURCES = ("EMAIL_MARKETING", "PAID_SOCIAL", "PAID_SEARCH", "ORGANIC_SEARCH", "DIRECT_TRAFFIC", "REFERRALS")


@dataclass(frozen=True)
class CrmHistory:
    """Event tables the features are computed from (timestamps naive UTC).

    ``transitions``: contact_id, to_stage, transitioned_at, analytics_source (marts.fct_crm_funnel);
    ``sends``: contact_id, sent_at, is_delivered, first_opened_at (human opens), first_clicked_at
    (marts.fct_email_sends); ``deals``: contact_id, created_at (marts.fct_deals).
    """

    transitions: pd.DataFrame
    sends: pd.DataFrame
    deals: pd.DataFrame

    @property
    def last_event(self) -> pd.Timestamp:
        times = pd.concat([self.transitions["transitioned_at"], self.deals["created_at"]]).dropna()
        return pd.Timestamp(times.max())

    # Features are computed at many dates (a model trains on snapshots every few weeks): each table
    # is put in time order once, so a date's rows are a slice (searchsorted), not a scan of all rows,
    # and carries each contact as an integer (``contact``, its position in ``contact_ids``): pandas
    # groups and matches text several times slower (on the large world, a lead model's ~70
    # snapshots took 0.4 s each, mostly factorizing contact ids).
    @cached_property
    def contact_ids(self) -> pd.Index:
        """Every contact with a CRM transition, sorted (as a group-by on the text orders them)."""
        return pd.Index(self.transitions["contact_id"].dropna().unique(), name="contact_id").sort_values()

    def _coded(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with ``contact``: the position of its contact_id in ``contact_ids``, -1 if absent."""
        return frame.assign(contact=self.contact_ids.get_indexer(frame["contact_id"]))

    @cached_property
    def stages_in_time_order(self) -> pd.DataFrame:
        """Transitions with their stage's order, by time (rows without a time can never be before a date)."""
        timed = self.transitions.dropna(subset=["transitioned_at"])
        timed = timed.assign(stage_order=timed["to_stage"].map(LIFECYCLE_ORDER).fillna(0))
        return self._coded(timed.sort_values("transitioned_at", kind="stable", ignore_index=True))

    @cached_property
    def sends_in_time_order(self) -> pd.DataFrame:
        sent = self.sends["sent_at"]
        if sent.is_monotonic_increasing and sent.notna().all():
            return self._coded(self.sends)  # as the warehouse reads them: not sorted again
        return self._coded(
            self.sends.dropna(subset=["sent_at"]).sort_values("sent_at", kind="stable", ignore_index=True)
        )

    @cached_property
    def clicks_in_time_order(self) -> pd.DataFrame:
        clicks = self.sends.loc[self.sends["first_clicked_at"].notna(), ["contact_id", "first_clicked_at"]]
        return self._coded(clicks.sort_values("first_clicked_at", kind="stable", ignore_index=True))

    @cached_property
    def first_deal_at(self) -> np.ndarray:
        """Per position in ``contact_ids``: when the contact's first deal was created (NaT: none yet)."""
        deals = self._coded(self.deals.dropna(subset=["created_at"]))
        deals = deals[deals["contact"] >= 0]
        first = deals.groupby("contact")["created_at"].min()
        out = np.full(len(self.contact_ids), np.datetime64("NaT"), dtype="datetime64[ns]")
        out[first.index.to_numpy()] = first.to_numpy(dtype="datetime64[ns]")
        return out


def _until(
    frame: pd.DataFrame, column: str, cut: pd.Timestamp, after: pd.Timestamp | None = None
) -> pd.DataFrame:
    """The rows of ``frame`` (in ``column`` order) with ``after < column <= cut``."""
    times = frame[column]
    start = 0 if after is None else int(times.searchsorted(after, side="right"))
    return frame.iloc[start : int(times.searchsorted(cut, side="right"))]


def _days(later: pd.Timestamp, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / 86400.0


def features_as_of(history: CrmHistory, as_of: datetime) -> pd.DataFrame:
    """One row per CRM contact known by ``as_of`` without a deal by then, indexed by contact_id."""
    cut = pd.Timestamp(as_of)
    transitions = _until(history.stages_in_time_order, "transitioned_at", cut)
    if transitions.empty:
        return pd.DataFrame(columns=list(FEATURES), index=pd.Index([], name="contact_id"), dtype=float)
    # in time order: last() is the latest stage; grouped by the contact's position in contact_ids
    columns = ["contact", "stage_order", "transitioned_at", "analytics_source"]
    by_contact = transitions[columns].groupby("contact")
    latest = by_contact.last()
    frame = pd.DataFrame(
        {
            "stage_order": latest["stage_order"].astype(float),
            "days_in_stage": _days(cut, latest["transitioned_at"]),
            "days_since_created": _days(cut, by_contact["transitioned_at"].min()),
            "stages_passed": by_contact.size().astype(float),
            "source_code": latest["analytics_source"].map({s: i for i, s in enumerate(SOURCES)}).fillna(-1),
        }
    )
    had_deal = history.first_deal_at[frame.index.to_numpy()] <= cut.to_datetime64()
    frame = frame[(frame["stage_order"] < OPPORTUNITY_STAGE).to_numpy() & ~had_deal]

    recent = _until(history.sends_in_time_order, "sent_at", cut, after=cut - timedelta(days=ENGAGEMENT_DAYS))
    opened = recent["first_opened_at"].notna() & (recent["first_opened_at"] <= cut)
    clicked = recent["first_clicked_at"].notna() & (recent["first_clicked_at"] <= cut)
    engagement = pd.DataFrame(
        {
            "emails_delivered_30d": recent["is_delivered"].astype(float).groupby(recent["contact"]).sum(),
            "emails_opened_30d": opened.astype(float).groupby(recent["contact"]).sum(),
            "emails_clicked_30d": clicked.astype(float).groupby(recent["contact"]).sum(),
        }
    )
    clicks = _until(history.clicks_in_time_order, "first_clicked_at", cut)
    last_click = clicks.groupby("contact")["first_clicked_at"].max()
    frame = frame.join(engagement, how="left")
    frame[["emails_delivered_30d", "emails_opened_30d", "emails_clicked_30d"]] = frame[
        ["emails_delivered_30d", "emails_opened_30d", "emails_clicked_30d"]
    ].fillna(0.0)
    frame["days_since_last_click"] = _days(cut, last_click.reindex(frame.index)).fillna(NEVER_CLICKED_DAYS)
    frame.index = history.contact_ids.take(frame.index.to_numpy())
    return frame[list(FEATURES)]


def outcomes(history: CrmHistory, contacts: pd.Index, as_of: datetime, window_days: int) -> np.ndarray:
    """1 where a deal was created in (as_of, as_of + window_days], aligned with ``contacts``."""
    start = pd.Timestamp(as_of)
    end = start + timedelta(days=window_days)
    created = history.deals[(history.deals["created_at"] > start) & (history.deals["created_at"] <= end)]
    # Arrow's hash set: pandas' isin on Arrow-backed text converts every value to a scalar in Python
    keys = pa.array(np.asarray(contacts, dtype=object), type=pa.string())
    values = pa.array(np.asarray(created["contact_id"].dropna(), dtype=object), type=pa.string())
    return pc.is_in(keys, value_set=values).to_numpy(zero_copy_only=False).astype(np.int64)
