"""Checks on the decision tables, for the orchestration's asset checks (no Dagster here).

Each reads the latest output of one ``results`` table and says whether it may be used:

- :func:`check_budget_total`: the recommended budgets add up to the total the run allocated
  (the account's daily budget across platforms), within a cent per budget, counting a move
  that waits for a human at the budget it moves from.
- :func:`check_actions_within_policy`: every approved or executed action passes the policy's
  hard limits (``decision_engine.governance``) under the policy in force, and every
  auto-approved one would still be auto-approved by it.
- :func:`check_alert_entities`: every anomaly alert names an entity the marts know.
- :func:`check_experiment_decisions`: every decision names an experiment in the exposures mart.
- :func:`check_hypotheses`: the backlog's plans add up (weeks = 2 x sample per arm / enrolled weekly
  volume), ranks run 1..n, and rows that need a human carry no library id.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from decision_engine.governance import ExecutionContext, action_limit_violations, verdict
from decision_engine.policy import Policy
from decision_engine.queue import action_row
from decision_engine.scores.checks import CheckOutcome
from decision_engine.store import table_exists

CENT = 0.01
MAX_LISTED = 20  # offending rows listed in a check's metadata

# Limits that need the world's state at write time (the budget at the start of the day, the account
# total): the write re-checks them with the vendor's values; from the table alone they are unknown.
UNKNOWN_STATE_CODES = frozenset({"budget_unknown", "total_unknown"})


def _latest(table: str) -> str:
    return f"analysis_timestamp = (select max(analysis_timestamp) from results.{table})"


def _entity_budgets(con: Any) -> dict[str, float]:
    """Platform -> summed current budget of its budget entities in the latest entity analysis (the
    account's daily budget); empty when budgets are per ad."""
    if not table_exists(con, "results", "budget_entity_recommendations"):
        return {}
    rows = con.execute(
        "select platform, sum(current_daily_budget) from results.budget_entity_recommendations "
        f"where {_latest('budget_entity_recommendations')} group by platform"
    ).fetchall()
    return {platform: float(budget) for platform, budget in rows if budget is not None}


def _waiting_moves(con: Any, per_entity: bool) -> dict[str, float]:
    """Platform -> summed move (recommended minus current) of the budgets whose move waits for a
    human (reason flag ``awaits_approval``) in the latest analysis: per budget entity when
    ``per_entity`` (budgets are set per entity), per ad otherwise.

    The engine balances the moves that apply on their own without these (they are held at their
    budget), so the total holds for what applies; a waiting move is a proposal on top of it.
    """
    table, current = "budget_recommendations", "current_daily_spend"
    if per_entity:
        table, current = "budget_entity_recommendations", "current_daily_budget"
    if not table_exists(con, "results", table):
        return {}
    rows = con.execute(
        f"select platform, sum(recommended_daily_budget - {current}) from results.{table} "
        f"where {_latest(table)} and coalesce(list_contains(reason_flags, 'awaits_approval'), false) "
        "group by platform"
    ).fetchall()
    return {platform: float(move) for platform, move in rows if move is not None}


def check_budget_total(con: Any, total_daily_budget: float | None) -> CheckOutcome:
    """The latest recommendations add up to ``total_daily_budget`` (the total the run allocated)
    within a cent per recommended budget.

    Without the run's total, the account's budget is the total: the summed current budgets of the
    budget entities, or today's spend when budgets are per ad (what the engine allocates unless
    told otherwise). It is one total across platforms, as the engine moves money between them;
    each platform's current and recommended sums are reported beside it. Money is in the ads'
    currency: the run refuses mixed currencies without exchange rates, so a second one fails here.

    A budget whose move waits for a human (too little evidence of its own) counts at the budget it
    moves from: the engine balances the moves that apply on their own without it, so the account
    keeps its total whether or not the human approves (``waiting_move`` in the metadata).
    """
    rows = con.execute(
        "select platform, coalesce(currency, '') as currency, count(*) as ads, "
        "sum(current_daily_spend) as current_total, sum(recommended_daily_budget) as recommended_total "
        f"from results.budget_recommendations where {_latest('budget_recommendations')} "
        "group by all order by platform"
    ).fetchall()
    if not rows:
        return CheckOutcome(passed=True, metadata={"ads": 0, "note": "no recommendations yet"})
    budgets = _entity_budgets(con)
    waiting = _waiting_moves(con, per_entity=bool(budgets))
    by_platform = {
        platform: {"currency": currency, "ads": int(ads),
                   "current": round(budgets.get(platform, float(spend)), 2),
                   "recommended": round(float(recommended), 2),
                   "waiting_move": round(waiting.get(platform, 0.0), 2)}
        for platform, currency, ads, spend, recommended in rows
    }  # fmt: skip
    ads = sum(int(row[2]) for row in rows)
    recommended = sum(float(row[4]) for row in rows)
    waiting_move = sum(waiting.values())
    if total_daily_budget is not None:
        total = float(total_daily_budget)
    else:
        total = sum(budgets.values()) if budgets else sum(float(row[3]) for row in rows)
    currencies = sorted({row[1] for row in rows})
    tolerance = CENT * ads
    difference = recommended - waiting_move - total
    return CheckOutcome(
        passed=abs(difference) <= tolerance and len(currencies) == 1,
        metadata={
            "total_daily_budget": round(total, 2),
            "recommended_total": round(recommended, 2),
            "waiting_move": round(waiting_move, 2),
            "difference": round(difference, 4),
            "tolerance": round(tolerance, 2),
            "currencies": currencies,
            "by_platform": by_platform,
        },
    )


def _outside_policy(record: dict[str, Any], policy: Policy) -> list[str]:
    """Why a recorded action is outside ``policy``; empty when it is within it."""
    action = action_row(record)
    judged_at = record["executed_at"] or record["status_at"] or record["analysis_timestamp"]
    context = ExecutionContext(today=judged_at.date())
    found = [
        text
        for code, text in action_limit_violations(action, policy, context)
        if code not in UNKNOWN_STATE_CODES
    ]
    if record["status"] == "auto_approved":
        now = verdict(action, policy, context)
        if now.status != "auto_approved":
            found.append(
                f"auto-approved, but the policy in force says {now.status}: {'; '.join(now.reasons)}"
            )
    return found


def check_actions_within_policy(con: Any, policy: Policy, statuses: Collection[str]) -> CheckOutcome:
    """Every action of ``results.actions`` in one of ``statuses`` is within ``policy``."""
    placeholders = ", ".join("?" for _ in statuses)
    cursor = con.execute(
        f"select * from results.actions where status in ({placeholders}) order by action_id", list(statuses)
    )
    names = [column[0] for column in cursor.description]
    records = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    outside = {}
    for record in records:
        reasons = _outside_policy(record, policy)
        if reasons:
            outside[record["action_id"]] = reasons
    return CheckOutcome(
        passed=not outside,
        metadata={
            "actions_checked": len(records),
            "statuses": sorted(statuses),
            "outside_policy": len(outside),
            "examples": json.loads(json.dumps(dict(list(outside.items())[:MAX_LISTED]))),
            "policy_hash": policy.hash(),
        },
    )


def _known_entities(con: Any) -> set[str]:
    """Every entity name the anomaly scan can give a series (``decision_engine.anomalies.series``),
    from the monitoring marts it reads."""
    platforms = [
        row[0]
        for row in con.execute("select distinct platform from marts.fct_monitoring_ads_daily").fetchall()
    ]
    ads = con.execute("select distinct platform, ad_id from marts.fct_monitoring_ads_daily").fetchall()
    streams = [
        row[0]
        for row in con.execute(
            "select distinct email_stream from marts.fct_monitoring_email_daily"
        ).fetchall()
    ]
    return {
        "source:email", "source:crm", "email_channel:all", "crm:hubspot",
        *(f"source:ads:{platform}" for platform in platforms),
        *(f"ad_platform:{platform}" for platform in platforms),
        *(f"ad:{platform}:{ad_id}" for platform, ad_id in ads),
        *(f"email_stream:{stream}" for stream in streams),
    }  # fmt: skip


def check_alert_entities(con: Any) -> CheckOutcome:
    """Every alert of the latest scan names an entity (``type:id``) found in the monitoring marts."""
    alerts = con.execute(
        f"select distinct entity from results.anomaly_alerts where {_latest('anomaly_alerts')} order by 1"
    ).fetchall()
    known = _known_entities(con)
    unknown = [entity for (entity,) in alerts if entity not in known]
    return CheckOutcome(
        passed=not unknown,
        metadata={
            "entities_checked": len(alerts),
            "unknown_entities": len(unknown),
            "examples": unknown[:MAX_LISTED],
        },
    )


def check_experiment_decisions(con: Any) -> CheckOutcome:
    """Every decision of the latest analysis names an experiment in ``marts.fct_experiment_exposures``."""
    unknown = [
        row[0]
        for row in con.execute(
            "select distinct decisions.experiment_id from results.experiment_decisions as decisions "
            "anti join (select distinct experiment_id from marts.fct_experiment_exposures) as exposures "
            "on decisions.experiment_id = exposures.experiment_id "
            f"where decisions.{_latest('experiment_decisions')} order by 1"
        ).fetchall()
    ]
    (checked,) = con.execute(
        "select count(distinct experiment_id) from results.experiment_decisions "
        f"where {_latest('experiment_decisions')}"
    ).fetchone()
    return CheckOutcome(
        passed=not unknown,
        metadata={
            "experiments_checked": int(checked),
            "unknown_experiments": len(unknown),
            "examples": unknown[:MAX_LISTED],
        },
    )


def _weeks_match(units_per_arm: float, weekly_per_arm: float, weeks: float) -> bool:
    """``weeks`` is the first tenth of a week by which ``weekly_per_arm`` reaches the sample
    (``decision_engine.experiments.design``; the sample is rounded up to whole sends)."""
    return units_per_arm <= weekly_per_arm * weeks + 1 and weeks < units_per_arm / weekly_per_arm + 0.1 + 1e-9


def check_hypotheses(con: Any, policy: Any) -> CheckOutcome:
    """The latest backlog is consistent: every planned row's sample per arm is reached in its
    weeks to a decision at half the enrolled weekly volume (the policy's ``experiments.test_share``
    of ``weekly_units``), and not a tenth of a week earlier (the planner steps in tenths), ranks run
    1..n, and only rows a human need not act on carry a library id."""
    test_share = float(getattr(policy.experiments, "test_share", 1.0) or 1.0)
    rows = con.execute(
        "select hypothesis_id, rank, needs_human, library_id, required_units_per_arm, weekly_units, "
        f"weeks_to_decision from results.hypotheses where {_latest('hypotheses')} order by rank"
    ).fetchall()
    wrong_weeks = [
        hypothesis_id
        for hypothesis_id, _, _, _, required, weekly, weeks in rows
        if required is not None and weekly and weeks is not None
        and not _weeks_match(required, weekly * test_share / 2, weeks)
    ]  # fmt: skip
    ranks_ok = [row[1] for row in rows] == list(range(1, len(rows) + 1))
    human_with_library = [row[0] for row in rows if row[2] and row[3] is not None]
    return CheckOutcome(
        passed=not wrong_weeks and ranks_ok and not human_with_library,
        metadata={
            "hypotheses_checked": len(rows),
            "weeks_inconsistent": wrong_weeks[:MAX_LISTED],
            "ranks_consecutive": ranks_ok,
            "needs_human_with_library_id": human_with_library[:MAX_LISTED],
        },
    )
