"""The action queue (``results.actions``): what the decision engines propose to change.

Lifecycle (DESIGN.md section 3): proposed -> approved / auto-approved / rejected ->
executed -> verified. The engines only *propose*; executing under ``policy.yaml`` is the
loop's job. ``action_id`` is a hash of what the action does and the analysis date, so a
re-run of the same day's analysis replaces its proposals instead of duplicating them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

ACTION_COLUMNS = (
    "action_id",
    "analysis_timestamp",
    "analysis_date",
    "source",
    "action_type",
    "platform",
    "target_id",
    "payload",
    "evidence",
    "reason",
    "auto_apply_allowed",
    "status",
)


@dataclass(frozen=True)
class ProposedAction:
    source: str  # "budget" | "experiments"
    action_type: str  # "set_daily_budget" | "rollout_winner"
    platform: str
    target_id: str
    payload: dict[str, Any]
    reason: str
    auto_apply_allowed: bool
    evidence: dict[str, Any] = field(default_factory=dict)


def actions_frame(actions: list[ProposedAction], analysis_timestamp: datetime) -> pd.DataFrame:
    analysis_date = analysis_timestamp.date()
    rows = []
    for action in actions:
        identity = json.dumps(
            [action.source, action.action_type, action.platform, action.target_id, analysis_date.isoformat()]
        )
        rows.append(
            {
                "action_id": hashlib.sha256(identity.encode()).hexdigest()[:20],
                "analysis_timestamp": pd.Timestamp(analysis_timestamp),
                "analysis_date": pd.Timestamp(analysis_date),
                "source": action.source,
                "action_type": action.action_type,
                "platform": action.platform,
                "target_id": str(action.target_id),
                "payload": json.dumps(action.payload, sort_keys=True, default=str),
                "evidence": json.dumps(action.evidence, sort_keys=True, default=str),
                "reason": action.reason,
                "auto_apply_allowed": bool(action.auto_apply_allowed),
                "status": "proposed",
            }
        )
    return pd.DataFrame(rows, columns=list(ACTION_COLUMNS))
