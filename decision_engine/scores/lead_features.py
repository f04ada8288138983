"""Lead-score features and outcomes as of a prediction date, from CRM and email history.

Every event table is cut at the prediction date before anything is computed: a stage entered,
an email opened or clicked, a deal created after it cannot enter the features (an email sent
before the date but clicked after it counts as sent, not clicked). The outcome is whether a
deal is created in the ``window_days`` after the date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

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


def _days(later: pd.Timestamp, earlier: pd.Series) -> pd.Series:
    return (later - earlier).dt.total_seconds() / 86400.0


def features_as_of(history: CrmHistory, as_of: datetime) -> pd.DataFrame:
    """One row per CRM contact known by ``as_of`` without a deal by then, indexed by contact_id."""
    cut = pd.Timestamp(as_of)
    transitions = history.transitions[history.transitions["transitioned_at"] <= cut]
    deals = history.deals[history.deals["created_at"] <= cut]
    if transitions.empty:
        return pd.DataFrame(columns=list(FEATURES), index=pd.Index([], name="contact_id"), dtype=float)
    stage = transitions.assign(stage_order=transitions["to_stage"].map(LIFECYCLE_ORDER).fillna(0))
    by_contact = stage.sort_values("transitioned_at").groupby("contact_id")
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
    open_stage = (frame["stage_order"] < OPPORTUNITY_STAGE) & ~frame.index.isin(deals["contact_id"])
    frame = frame[open_stage]

    sends = history.sends
    recent = sends[(sends["sent_at"] <= cut) & (sends["sent_at"] > cut - timedelta(days=ENGAGEMENT_DAYS))]
    opened = recent["first_opened_at"].notna() & (recent["first_opened_at"] <= cut)
    clicked = recent["first_clicked_at"].notna() & (recent["first_clicked_at"] <= cut)
    engagement = pd.DataFrame(
        {
            "emails_delivered_30d": recent["is_delivered"].astype(float).groupby(recent["contact_id"]).sum(),
            "emails_opened_30d": opened.astype(float).groupby(recent["contact_id"]).sum(),
            "emails_clicked_30d": clicked.astype(float).groupby(recent["contact_id"]).sum(),
        }
    )
    clicks = sends.loc[sends["first_clicked_at"] <= cut, ["contact_id", "first_clicked_at"]]
    last_click = clicks.groupby("contact_id")["first_clicked_at"].max()
    frame = frame.join(engagement, how="left")
    frame[["emails_delivered_30d", "emails_opened_30d", "emails_clicked_30d"]] = frame[
        ["emails_delivered_30d", "emails_opened_30d", "emails_clicked_30d"]
    ].fillna(0.0)
    frame["days_since_last_click"] = _days(cut, last_click.reindex(frame.index)).fillna(NEVER_CLICKED_DAYS)
    frame.index.name = "contact_id"
    return frame[list(FEATURES)]


def outcomes(history: CrmHistory, contacts: pd.Index, as_of: datetime, window_days: int) -> np.ndarray:
    """1 where a deal was created in (as_of, as_of + window_days], aligned with ``contacts``."""
    start = pd.Timestamp(as_of)
    end = start + timedelta(days=window_days)
    created = history.deals[(history.deals["created_at"] > start) & (history.deals["created_at"] <= end)]
    return contacts.isin(created["contact_id"]).astype(np.int64)
