"""Churn risk: the purchase model's probability alive, discounted by how long ago the contact last
engaged with email, as a score with a tier and a segment.

``engagement_factor`` is 1 while the contact opened (as a human) or clicked in the last
``ENGAGED_DAYS`` days, then halves every ``ENGAGEMENT_HALF_LIFE_DAYS`` days of silence; a contact
who never engaged gets ``NEVER_ENGAGED_FACTOR`` (no evidence either way).
``churn_risk = 1 - p_alive * engagement_factor``.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from decision_engine.scores.codes import ChurnTier, Segment

ENGAGED_DAYS = 30
ENGAGEMENT_HALF_LIFE_DAYS = 60
NEVER_ENGAGED_FACTOR = 0.5
HIGH_RISK = 0.7
MEDIUM_RISK = 0.4
AT_RISK = 0.5
LAPSED_P_ALIVE = 0.3


def engagement_factor(days_since_engagement: np.ndarray) -> np.ndarray:
    days = np.asarray(days_since_engagement, dtype=float)
    silence = np.maximum(days - ENGAGED_DAYS, 0.0)
    return np.where(np.isnan(days), NEVER_ENGAGED_FACTOR, 0.5 ** (silence / ENGAGEMENT_HALF_LIFE_DAYS))


def churn_risk(p_alive: pd.Series, last_engagement: pd.Series, as_of: datetime) -> pd.DataFrame:
    """One row per contact in ``p_alive`` (indexed by contact_id)."""
    engaged_at = pd.to_datetime(last_engagement.reindex(p_alive.index))
    days = ((pd.Timestamp(as_of) - engaged_at).dt.total_seconds() / 86400.0).clip(lower=0).to_numpy()
    factor = engagement_factor(days)
    risk = 1.0 - p_alive.to_numpy(dtype=float) * factor
    tier = np.select([risk >= HIGH_RISK, risk >= MEDIUM_RISK], [ChurnTier.HIGH.value, ChurnTier.MEDIUM.value],
                     ChurnTier.LOW.value)  # fmt: skip
    lapsed = p_alive.to_numpy(dtype=float) < LAPSED_P_ALIVE
    segment = np.select([lapsed, risk >= AT_RISK], [Segment.LAPSED.value, Segment.AT_RISK.value],
                        Segment.ACTIVE.value)  # fmt: skip
    return pd.DataFrame(
        {
            "p_alive": p_alive.to_numpy(dtype=float),
            "days_since_last_engagement": days,
            "engagement_factor": factor,
            "churn_risk": risk,
            "churn_tier": tier,
            "segment": segment,
        },
        index=p_alive.index,
    )
