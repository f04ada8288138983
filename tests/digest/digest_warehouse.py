"""A small warehouse for the digest tests: names in staging and marts, results written by the engines'
own writers (queue, decision log, results store), ids shaped like the vendors' (and the sandbox's)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from decision_engine.actions import ProposedAction, write_actions
from decision_engine.decision_log import write_decision_log
from decision_engine.policy import parse_policy
from decision_engine.queue import WriteRecord, govern, record_write
from decision_engine.store import write_results

NOW = datetime(2026, 5, 4, 7, tzinfo=UTC)  # a Monday, 07:00: the digest of 2026-W18
POLICY = parse_policy("")

# Named entities
NAMED_ADSET = "120210000000001142"
NAMED_AD = "1202100000000011421"
GOOGLE_BUDGET = "200000000421"
CAMPAIGN = "01FYAWTD1N7P9WB679DH7HQEQA"  # Klaviyo campaign (ULID)
MESSAGE_B = "01PMSEYTZK56FEA90H259JAR5A"
FLOW = "0frYek"
FLOW_STEP = "50042002"
OLD_CAMPAIGN = "015V8BZA54Y9Y8ZTTRFDJEVCYZ"
# No name anywhere in the warehouse
UNNAMED_ADSET = "120210000000009999"
CONTACT = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

RUNNING_TEST_BLOCK = "{% if person|lookup:'lw_arm_quick_read_20260427' == 'variant' %}Quick read: {% endif %}"
NAMES = {
    "adset": "Prospecting / Ad set 1",
    "ad": "Carousel #1",
    "google_budget": "Search - Brand budget",
    "campaign": "Spring sale - 2026-04-28",
    "subject_b": "Quick read: the spring sale",
    "flow": "Welcome Nurture",
    "old_campaign": "Pricing plans compared - 2026-03-20",
}


def _table(con: Any, qualified: str, frame: pd.DataFrame) -> None:
    con.register("frame", frame)
    con.execute(f"create or replace table {qualified} as select * from frame")
    con.unregister("frame")


def build_names(con: Any) -> None:
    con.execute("create schema if not exists staging")
    con.execute("create schema if not exists marts")
    _table(
        con,
        "staging.stg_klaviyo__campaigns",
        pd.DataFrame(
            {
                "campaign_id": [CAMPAIGN, OLD_CAMPAIGN],
                "campaign_name": [NAMES["campaign"], NAMES["old_campaign"]],
            }
        ),
    )
    _table(
        con,
        "staging.stg_klaviyo__campaign_messages",
        # as ingested while a Loopwise test runs: its variant arm's style in a template block
        pd.DataFrame(
            {
                "message_id": [MESSAGE_B],
                "campaign_id": [CAMPAIGN],
                "subject": [RUNNING_TEST_BLOCK + NAMES["subject_b"]],
            }
        ),
    )
    _table(con, "staging.stg_klaviyo__flows", pd.DataFrame({"flow_id": [FLOW], "flow_name": [NAMES["flow"]]}))
    _table(
        con,
        "staging.stg_klaviyo__flow_actions",
        pd.DataFrame({"flow_action_id": [FLOW_STEP], "flow_id": [FLOW], "step_position": [2]}),
    )
    _table(
        con,
        "marts.dim_budget_entities",
        pd.DataFrame(
            {
                "platform": ["meta_ads", "meta_ads", "google_ads"],
                "budget_entity_type": ["adset", "adset", "campaign_budget"],
                "budget_entity_id": [NAMED_ADSET, UNNAMED_ADSET, GOOGLE_BUDGET],
                "budget_entity_name": [NAMES["adset"], None, NAMES["google_budget"]],
            }
        ),
    )
    _table(
        con,
        "marts.fct_ad_performance_daily",
        pd.DataFrame(
            {
                "platform": ["meta_ads"],
                "campaign_id": ["120210000000001042"],
                "campaign_name": ["Meta Prospecting 2"],
                "ad_group_id": [NAMED_ADSET],
                "ad_group_name": [NAMES["adset"]],
                "ad_id": [NAMED_AD],
                "ad_name": [NAMES["ad"]],
            }
        ),
    )


def budget(
    target: str, new: float, current: float, kind: str = "set_daily_budget", platform: str = "meta_ads"
) -> ProposedAction:
    return ProposedAction(
        source="budget",
        action_type=kind,  # type: ignore[arg-type]
        platform=platform,
        target_id=target,
        payload={
            "daily_budget": new,
            "currency": "USD",
            "entity_type": "adset" if platform == "meta_ads" else "campaign_budget",
            "current_daily_budget": current,
            "explicitly_shared": False,
        },
        # engines name ids in their reasons; the digest must not repeat them
        reason=f"Ad set {target}, ads {NAMED_AD}: increase",
        auto_apply_allowed=kind == "set_daily_budget",
        evidence={"expected_daily_revenue_current": 300.0, "expected_daily_revenue_recommended": 321.5},
        reason_code="increase_high_marginal_return",
    )


def build_actions(con: Any) -> dict[str, str]:
    """One executed budget move (this week), two changes waiting for a human (3 and 1 days), one move
    the policy refused (beyond its hard cap)."""
    early, late = NOW - timedelta(days=3), NOW - timedelta(days=1)
    move = budget(NAMED_ADSET, 105.0, 100.0)
    write_actions(con, [move], early, early.date() - timedelta(days=1))
    extend = budget(UNNAMED_ADSET, 118.0, 100.0, kind="extend_daily_budget")
    write_actions(con, [extend], early, early.date() - timedelta(days=1))
    refused = budget(GOOGLE_BUDGET, 900.0, 640.0, platform="google_ads")
    write_actions(con, [refused], early, early.date() - timedelta(days=1))
    govern(con, POLICY, early)
    rollout = ProposedAction(
        source="experiments",
        action_type="rollout_winner",
        platform="klaviyo",
        target_id=f"campaign_ab:{CAMPAIGN}",
        payload={
            "winner": "B",
            "winner_message_id": MESSAGE_B,
            "n_per_arm": 400,
            "chance_to_beat_control": 0.97,
        },
        reason=f"B beats A in campaign {CAMPAIGN}",
        auto_apply_allowed=True,
        reason_code="primary_better",
    )
    write_actions(con, [rollout], late, late.date() - timedelta(days=1))
    govern(con, POLICY, late)
    move_id = move.action_id(early.date() - timedelta(days=1))
    record_write(
        con,
        move_id,
        WriteRecord(
            mode="execute",
            status="executed",
            entity_type="adset",
            entity_id=NAMED_ADSET,
            field="daily_budget",
            value_requested=105.0,
            value_before=100.0,
            value_after=105.0,
        ),
        early + timedelta(hours=1),
        POLICY,
    )
    write_decision_log(con, NOW)
    return {
        "move": move_id,
        "extend": extend.action_id(early.date() - timedelta(days=1)),
        "rollout": rollout.action_id(late.date() - timedelta(days=1)),
    }


def _decision(experiment_id: str, decision: str, day: date, **values: Any) -> dict[str, Any]:
    return {
        "analysis_timestamp": pd.Timestamp(NOW - timedelta(hours=1)),
        "analysis_date": pd.Timestamp(day),
        "experiment_id": experiment_id,
        "decision": decision,
        "primary_metric": "click_rate",
        "explanation": f"{experiment_id}: {decision}",
        **values,
    }


def build_results(con: Any) -> None:
    write_results(
        con,
        "experiment_decisions",
        pd.DataFrame(
            [
                _decision(
                    f"campaign_ab:{CAMPAIGN}",
                    "continue",
                    date(2026, 5, 2),
                    relative_lift=0.12,
                    relative_ci_lower=-0.05,
                    relative_ci_upper=0.3,
                    information_fraction=0.4,
                ),
                _decision(
                    f"flow_split:{FLOW_STEP}",
                    "keep_control",
                    date(2026, 5, 1),
                    relative_lift=-0.2,
                    relative_ci_lower=-0.5,
                    relative_ci_upper=0.1,
                ),
                _decision(
                    f"campaign_ab:{OLD_CAMPAIGN}", "keep_control", date(2026, 3, 25), relative_lift=0.01
                ),
                _decision(
                    "loopwise:lw-quick_read-20260427", "continue", date(2026, 5, 3), relative_lift=0.05
                ),
            ]
        ),
    )
    write_results(
        con,
        "budget_entity_recommendations",
        pd.DataFrame(
            {
                "analysis_timestamp": [pd.Timestamp(NOW - timedelta(hours=1))] * 3,
                "analysis_date": [pd.Timestamp(date(2026, 5, 3))] * 3,
                "platform": ["meta_ads", "meta_ads", "google_ads"],
                "budget_entity_type": ["adset", "adset", "campaign_budget"],
                "budget_entity_id": [NAMED_ADSET, UNNAMED_ADSET, GOOGLE_BUDGET],
                "budget_entity_name": [NAMES["adset"], None, NAMES["google_budget"]],
                "currency": ["USD"] * 3,
                "current_daily_budget": [105.0, 100.0, 640.0],
                "recommended_daily_budget": [110.0, 130.0, 600.0],
                "change_pct": [0.047, 0.3, -0.0625],
                "expected_daily_revenue_current": [310.0, 90.0, 300.0],
                "expected_daily_revenue_recommended": [320.0, 99.0, 296.0],
                "auto_apply_allowed": [True, False, True],
            }
        ),
    )
    alert = {
        "analysis_timestamp": pd.Timestamp(NOW - timedelta(hours=1)),
        "analysis_date": pd.Timestamp(date(2026, 5, 3)),
        "observed": 900.0,
        "expected": 300.0,
        "lower": 200.0,
        "upper": 400.0,
        "options": "[]",
    }
    write_results(
        con,
        "anomaly_alerts",
        pd.DataFrame(
            [
                {
                    **alert,
                    "incident_id": "d2a767b0e23a6ec7afe5",
                    "incident_type": "runaway_spend",
                    "metric": "spend",
                    "entity": f"ad:meta_ads:{NAMED_AD}",
                    "window_start": pd.Timestamp("2026-05-02"),
                    "window_end": pd.Timestamp("2026-05-03"),
                    "severity": "critical",
                    "status": "open",
                    "explanation": f"Runaway ad spend (ad:meta_ads:{NAMED_AD}): spend spike.",
                },
                {
                    **alert,
                    "incident_id": "f687b1940cd917243848",
                    "incident_type": "crm_sync_stall",
                    "metric": "crm_stage_changes",
                    "entity": "crm:hubspot",
                    "window_start": pd.Timestamp("2026-03-01"),
                    "window_end": pd.Timestamp("2026-03-02"),
                    "severity": "critical",
                    "status": "resolved",
                    "explanation": "CRM sync stall (crm): stage changes drop.",
                },
            ]
        ),
    )
    # results.hypotheses as the shared design describes it (another helper adds it to the contract)
    con.execute(
        "create table results.hypotheses (hypothesis_id varchar, factor varchar, level varchar, library_id varchar, "
        "description varchar, status varchar, rank integer, weeks_to_decision double, needs_human boolean, "
        "analysis_timestamp timestamptz)"
    )
    con.execute(
        "insert into results.hypotheses values "
        "('h1', 'subject_style', 'quick_read', 'quick_read', 'Subject lines that start with Quick read', "
        "'running', 1, 3, false, ?), "
        "('h2', 'send_hour', '18', null, 'Send campaigns at 18:00 instead of 10:00', 'candidate', 2, 4, true, ?)",
        [NOW, NOW],
    )


def digest_warehouse(path: Path) -> tuple[Any, dict[str, str]]:
    con = duckdb.connect(str(path))
    build_names(con)
    ids = build_actions(con)
    build_results(con)
    return con, ids
