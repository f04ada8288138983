"""The action queue (``results.actions``): what the decision engines propose to change.

One definition of an action for every engine. The engines only *propose*; the lifecycle
after that (verdicts, approvals, execution) is ``decision_engine.queue``'s. ``action_id`` is
a hash of what the action does and the analysis (data) date, so a re-run of the same day's
analysis finds its proposals again instead of duplicating them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import pandas as pd

from core.results_schema import column_names
from decision_engine.queue import merge_proposals

ActionSource = Literal["budget", "experiments", "anomalies", "personalization"]
ActionType = Literal[
    "set_daily_budget",
    "extend_daily_budget",
    "rollout_winner",
    "reverse_change",
    "launch_experiment",
    "apply_test_subject",
    # send an upcoming campaign at each contact's best local hour (hourly clones), with a randomized
    # control at the account's best hour and exploration (results.send_time_assignments)
    "schedule_send_times",
    # show each recipient of an upcoming campaign its preferred approved content angle, with a
    # randomized control at a random approved angle (results.content_assignments)
    "personalize_content",
]


@dataclass(frozen=True)
class ProposedAction:
    """A change an engine proposes; the policy decides whether it needs approval."""

    source: ActionSource
    action_type: ActionType
    platform: str  # where it would be applied: meta_ads, google_ads or klaviyo
    target_id: str  # ad id or experiment id
    payload: dict[str, Any]  # the change, e.g. {"daily_budget": 120.0, "currency": "USD"}
    reason: str  # plain English
    auto_apply_allowed: bool
    evidence: dict[str, Any] = field(default_factory=dict)
    reason_code: str | None = None  # machine-readable reason beside the English text

    def action_id(self, analysis_date: date) -> str:
        identity = json.dumps(
            [self.source, self.action_type, self.platform, str(self.target_id), analysis_date.isoformat()]
        )
        return hashlib.sha256(identity.encode()).hexdigest()[:20]


def actions_frame(
    actions: Sequence[ProposedAction], analysis_timestamp: datetime, analysis_date: date
) -> pd.DataFrame:
    """``results.actions`` rows (status ``proposed``) for ``actions``.

    ``analysis_date`` is the data date the proposing analysis looked at (its last complete
    day), the same date its own results table carries, so BI can join them.
    """
    rows = [
        {
            "action_id": action.action_id(analysis_date),
            "analysis_timestamp": pd.Timestamp(analysis_timestamp),
            "analysis_date": pd.Timestamp(analysis_date),
            "source": action.source,
            "action_type": action.action_type,
            "platform": action.platform,
            "target_id": str(action.target_id),
            "payload": json.dumps(action.payload, sort_keys=True, default=str),
            "evidence": json.dumps(action.evidence, sort_keys=True, default=str),
            "reason": action.reason,
            "reason_code": action.reason_code,
            "auto_apply_allowed": bool(action.auto_apply_allowed),
            "status": "proposed",
        }
        for action in actions
    ]
    return pd.DataFrame(rows, columns=column_names("actions"))


def write_actions(
    con: Any, actions: Sequence[ProposedAction], analysis_timestamp: datetime, analysis_date: date
) -> int:
    """Queue ``actions`` in ``results.actions`` without clobbering their lifecycle state.

    A re-run of the same analysis keeps each action's status; an action whose payload changed
    goes back to ``proposed`` (see ``decision_engine.queue.merge_proposals``). With no actions
    the lifecycle tables are still created, so BI always finds them.
    """
    frame = actions_frame(actions, analysis_timestamp, analysis_date)
    return merge_proposals(con, frame.to_dict("records"), analysis_timestamp)
