"""``results.decision_log``: every action that left the queue, with what changed and who decided.

Rebuilt whole from the lifecycle tables on each run (they are the record; this is the
readable view BI and the weekly digest read), so it always agrees with them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd

from core.results_schema import column_names
from decision_engine.queue import ensure_lifecycle_tables
from decision_engine.store import RESULTS_SCHEMA, write_results

DECIDED = ("executed", "verified", "failed", "rejected", "expired", "superseded", "rolled_back")

_SQL = f"""
with writes as (
    select
        action_id,
        count(*) as writes,
        arg_max(value_before, "at") filter (where mode = 'execute' and status = 'executed') as value_before,
        arg_max(value_after, "at") filter (where mode = 'execute' and status in ('executed', 'noop'))
            as value_after
    from {RESULTS_SCHEMA}.action_log
    group by action_id
)
select
    a.action_id, a.analysis_date, a.status_at as decided_at, a.source, a.action_type, a.platform,
    a.target_id, a.status, a.status_by as decided_by, a.approved_by, a.reason, a.status_reason,
    w.value_before, w.value_after, coalesce(w.writes, 0) as writes, a.evidence
from {RESULTS_SCHEMA}.actions as a
left join writes as w using (action_id)
where a.status in {DECIDED}
order by a.status_at, a.action_id
"""


def _predicted_change(evidence: Any) -> float | None:
    """The entity's expected daily revenue change, when the engine recorded one."""
    try:
        facts = json.loads(evidence) if isinstance(evidence, str) else {}
    except ValueError:
        return None
    if not isinstance(facts, dict):
        return None
    recommended = facts.get("expected_daily_revenue_recommended")
    current = facts.get("expected_daily_revenue_current")
    if isinstance(recommended, (int, float)) and isinstance(current, (int, float)):
        return float(recommended) - float(current)
    return None


def write_decision_log(con: Any, now: datetime) -> int:
    """Rebuild ``results.decision_log``; returns its row count."""
    ensure_lifecycle_tables(con)
    frame = con.execute(_SQL).df()
    frame["predicted_daily_revenue_change"] = [_predicted_change(e) for e in frame.pop("evidence")]
    frame["realized_daily_revenue_change"] = None
    frame["analysis_timestamp"] = pd.Timestamp(now)
    frame = frame.reindex(columns=column_names("decision_log"))
    write_results(con, "decision_log", frame)  # no replace_where: the whole table is rebuilt
    return len(frame)
