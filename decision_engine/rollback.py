"""Automatic rollback: an incident on something Loopwise changed recently proposes the reverse change.

When an open incident names an ad (``ad:<platform>:<ad_id>``) or a whole ad platform
(``ad_platform:<platform>``), every budget entity on it that Loopwise changed within the
policy's ``rollback.window_days`` gets a ``reverse_change`` action back to the budget it had
before the change. Whether it then runs without a human is the policy's
``rollback.auto_execute``; data incidents (quarantine, gates) never roll anything back.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from decision_engine.actions import ProposedAction, write_actions
from decision_engine.policy import Policy
from decision_engine.store import RESULTS_SCHEMA

DATA_INCIDENTS = ("data_quarantine", "data_quality_gate")

_CHANGED_SQL = f"""
select a.action_id, a.platform, a.target_id, a.payload, l.value_before, l.value_after, a.executed_at
from {RESULTS_SCHEMA}.actions as a
join {RESULTS_SCHEMA}.action_log as l
    on l.action_id = a.action_id and l.mode = 'execute' and l.status = 'executed'
where a.status in ('executed', 'verified') and a.action_type in ('set_daily_budget', 'extend_daily_budget')
    and a.executed_at >= ?
"""


def _tables_exist(con: Any) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? "
        "and table_name in ('anomaly_alerts', 'actions', 'action_log')",
        [RESULTS_SCHEMA],
    ).fetchall()
    return found[0][0] == 3


def _open_incidents(con: Any) -> list[tuple[str, str, str, str]]:
    """(incident_id, incident_type, entity, severity) of open incidents in the latest scan."""
    return con.execute(
        f"select distinct incident_id, incident_type, entity, severity from {RESULTS_SCHEMA}.anomaly_alerts "
        f"where status = 'open' and incident_type not in {DATA_INCIDENTS} "
        f"and analysis_timestamp = (select max(analysis_timestamp) from {RESULTS_SCHEMA}.anomaly_alerts)"
    ).fetchall()


def _entity_of_ad(con: Any, platform: str, ad_id: str) -> str | None:
    try:
        found = con.execute(
            "select arg_max(budget_entity_id, date_day) from marts.fct_ad_performance_daily "
            "where platform = ? and ad_id = ?",
            [platform, ad_id],
        ).fetchall()
    except Exception:  # noqa: BLE001 - a warehouse without the budget entity columns
        return None
    return found[0][0] if found else None


def _affected(con: Any, entity: str) -> tuple[str, str | None] | None:
    """(platform, budget entity id or None for the whole platform) an incident entity touches."""
    parts = entity.split(":")
    if parts[0] == "ad" and len(parts) == 3:
        return parts[1], _entity_of_ad(con, parts[1], parts[2]) or "?"
    if parts[0] == "ad_platform" and len(parts) == 2:
        return parts[1], None
    return None


def propose_rollbacks(con: Any, policy: Policy, now: datetime) -> list[ProposedAction]:
    """Queue a ``reverse_change`` for each recent Loopwise change an open incident touches."""
    if not _tables_exist(con):
        return []
    since = now - timedelta(days=policy.rollback.window_days)
    changed = con.execute(_CHANGED_SQL, [since]).fetchall()
    if not changed:
        return []
    proposals: dict[str, ProposedAction] = {}
    for incident_id, incident_type, entity, severity in _open_incidents(con):
        scope = _affected(con, entity)
        if scope is None:
            continue
        platform, budget_entity = scope
        for action_id, change_platform, target, payload_json, before, after, executed_at in changed:
            if change_platform != platform or (budget_entity is not None and budget_entity != target):
                continue
            payload = json.loads(payload_json)
            previous, current = json.loads(before), json.loads(after)
            reason = (
                f"{severity.capitalize()} incident {incident_id} ({incident_type.replace('_', ' ')}) is open on "
                f"{entity}, {(now - executed_at).days} day(s) after Loopwise changed the daily budget of "
                f"{platform} {payload.get('entity_type', 'entity')} {target} from {previous} to {current} "
                f"(action {action_id}): reverse the change to {previous}."
            )
            proposals[target] = ProposedAction(
                source="anomalies",
                action_type="reverse_change",
                platform=platform,
                target_id=target,
                payload={
                    "daily_budget": previous,
                    "current_daily_budget": current,
                    "currency": payload.get("currency"),
                    "entity_type": payload.get("entity_type"),
                    "explicitly_shared": bool(payload.get("explicitly_shared")),
                    "reverses": action_id,
                },
                reason=reason,
                auto_apply_allowed=policy.rollback.auto_execute,
                evidence={"incident_id": incident_id, "incident_type": incident_type, "entity": entity},
                reason_code="incident_on_recent_change",
            )
    actions = list(proposals.values())
    if actions:
        write_actions(con, actions, now, now.date())
    return actions
