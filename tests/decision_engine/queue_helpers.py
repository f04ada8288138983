"""Proposals and a warehouse for the queue, policy and CLI tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from decision_engine.actions import ProposedAction, write_actions
from decision_engine.policy import parse_policy

STAMP = datetime(2026, 5, 2, 6, tzinfo=UTC)
DAY = date(2026, 5, 1)
LATER = STAMP + timedelta(hours=1)
POLICY = parse_policy("")  # the default policy


def budget_action(
    target: str = "adset1",
    new: float = 105.0,
    current: float = 100.0,
    *,
    platform: str = "meta_ads",
    auto: bool = True,
    shared: bool = False,
    kind: str = "set_daily_budget",
) -> ProposedAction:
    return ProposedAction(
        source="budget",
        action_type=kind,  # type: ignore[arg-type]
        platform=platform,
        target_id=target,
        payload={
            "daily_budget": new,
            "currency": "USD",
            "entity_type": "adset",
            "current_daily_budget": current,
            "explicitly_shared": shared,
        },
        reason="Higher marginal return",
        auto_apply_allowed=auto,
        reason_code="increase_high_marginal_return",
    )


def rollout_action(experiment: str = "exp1", n_per_arm: int = 5000, chance: float = 0.99) -> ProposedAction:
    return ProposedAction(
        source="experiments",
        action_type="rollout_winner",
        platform="klaviyo",
        target_id=experiment,
        payload={"winner": "B", "n_per_arm": n_per_arm, "chance_to_beat_control": chance},
        reason="B beats A",
        auto_apply_allowed=True,
        reason_code="primary_better",
    )


def queue(con: Any, *actions: ProposedAction, day: date = DAY, stamp: datetime = STAMP) -> list[str]:
    """Write ``actions`` as one analysis and return their ids."""
    write_actions(con, list(actions), stamp, day)
    return [action.action_id(day) for action in actions]


def executed(con: Any, action: ProposedAction, at: datetime) -> str:
    """Queue ``action`` and mark it executed by Loopwise at ``at`` (as a successful vendor write
    leaves it); its id."""
    (action_id,) = queue(con, action)
    con.execute(
        "update results.actions set status = 'executed', status_at = ?, executed_at = ?, status_by = 'loopwise' "
        "where action_id = ?",
        [at, at, action_id],
    )
    return action_id


def warehouse(path: Path) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path))


def status(con: Any, action_id: str) -> str:
    return con.execute("select status from results.actions where action_id = ?", [action_id]).fetchone()[0]
