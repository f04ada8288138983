"""What each executed change predicted and what it realized, read from the warehouse.

One :class:`Assessment` per change (``assess``). Budget moves (``set_daily_budget``,
``extend_daily_budget``) are judged by the model's counterfactual over ``BUDGET_HORIZON_DAYS``
from the day the change was written, cut short by the next change written to the same entity,
and read once the conversions of the window have arrived (``LAG_DAYS`` later). Rollouts
(``rollout_winner``) are judged by their holdback over ``ROLLOUT_HORIZON_DAYS`` of campaign
sends, read once the orders of the window can have been attributed. Send-time schedules
(``schedule_send_times``) are judged by the campaign's randomized control: its personalized
against its control sends' human open rate, read once the last send has matured
(``send_time_lift.MATURITY_DAYS``). The statistics are in :mod:`decision_engine.impact`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from decision_engine.budget.lag import LAG_DAYS
from decision_engine.experiments.metrics import DEFAULT_METRICS
from decision_engine.experiments.run import ExperimentRunConfig
from decision_engine.governance import CONTENT_CHOICE_KIND
from decision_engine.impact import (
    LEVEL,
    ArmSums,
    Estimate,
    EvaluationMethod,
    Verdict,
    counterfactual_change,
    holdback_lift,
    judge,
    rescale_interval,
)
from decision_engine.store import table_exists

BUDGET_HORIZON_DAYS = 7  # a whole week: the curve's forecast has no day-of-week in it
ROLLOUT_HORIZON_DAYS = 28
EMAIL_ATTRIBUTION_DAYS = 5  # dbt var attribution_window_days: orders credited to a send this late
BUDGET_TYPES = ("set_daily_budget", "extend_daily_budget")
SEND_TIME_TYPE = "schedule_send_times"
STANDING = ("executed", "verified")  # changes that reached the vendor and still stand
DECISION_LEVEL = 1 - ExperimentRunConfig().alpha  # the confidence of results.experiment_decisions' CI
# the marts.fct_email_sends column of each exposure column a rollout's metric can be measured on
SEND_COLUMNS = {
    **{flag: flag for flag in ("is_delivered", "is_opened", "is_human_opened", "is_clicked", "is_converted",
                               "is_unsubscribed", "is_spam_complaint", "is_bounced")},
    "revenue": "attributed_revenue",
}  # fmt: skip
PLATFORM_REVENUE = "platform_revenue"


@dataclass(frozen=True)
class Assessment:
    """The prediction, how and when it is checked, and what was measured, for one change."""

    predicted_metric: str | None = None
    predicted: Estimate | None = None
    predicted_daily_revenue_change: float | None = None
    evaluation_method: str | None = None
    horizon_days: int | None = None
    evaluate_after: datetime | None = None
    realized: Estimate | None = None
    realized_daily_revenue_change: float | None = None
    verdict: Verdict | None = None
    summary: str | None = None


@dataclass(frozen=True)
class Change:
    """One row of the decision log's source: an action that left the queue."""

    action_type: str
    status: str
    platform: str
    target_id: str
    analysis_date: Any
    executed_at: datetime | None
    next_change_at: datetime | None  # the next standing write to the same entity, if any
    evidence: dict[str, Any]
    payload: dict[str, Any] = field(default_factory=dict)  # the action's payload (results.actions)


def assess(con: Any, change: Change, now: datetime) -> Assessment:
    """The assessment of one change (an empty one for actions that predict nothing)."""
    if change.action_type in BUDGET_TYPES:
        return _budget(con, change, now)
    if change.action_type == "rollout_winner":
        return _rollout(con, change, now)
    if change.action_type == SEND_TIME_TYPE:
        return _send_time(con, change, now)
    if change.action_type == CONTENT_CHOICE_KIND:
        return _content(con, change, now)
    return Assessment()


def parse_evidence(evidence: Any) -> dict[str, Any]:
    try:
        facts = json.loads(evidence) if isinstance(evidence, str) else {}
    except ValueError:
        return {}
    return facts if isinstance(facts, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _pair(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, list) and len(value) == 2:
        return _number(value[0]), _number(value[1])
    return None, None


def _pct(value: float) -> str:
    return f"{value:+.1%}"


def _interval_text(estimate: Estimate) -> str:
    if not estimate.has_interval:
        return _pct(estimate.point)
    return f"{_pct(estimate.point)} ({LEVEL:.0%}: {_pct(estimate.low)} to {_pct(estimate.high)})"


VERDICT_TEXT = {
    Verdict.AS_PREDICTED: "as predicted",
    Verdict.BETTER: "better than predicted",
    Verdict.WORSE: "worse than predicted",
    Verdict.INCONCLUSIVE: "too noisy to judge",
}


def _summary(metric: str, predicted: Estimate, method_text: str, realized: Estimate | None,
             verdict: Verdict | None, after: datetime | None) -> str:  # fmt: skip
    text = f"Predicted {_interval_text(predicted)} {metric}"
    if verdict == Verdict.PENDING and after is not None:
        return f"{text}; measured after {after:%Y-%m-%d} ({method_text})."
    if realized is None:
        return f"{text}; no measurement ({method_text})."
    ending = f": {VERDICT_TEXT[verdict]}" if verdict in VERDICT_TEXT else ""
    return f"{text}; realized {_interval_text(realized)}, {method_text}{ending}."


def _day_start(at: datetime) -> datetime:
    return datetime(at.year, at.month, at.day, tzinfo=UTC)


def utc(at: Any) -> datetime | None:
    if at is None or (isinstance(at, float) and math.isnan(at)) or at is pd.NaT:
        return None
    stamp = pd.Timestamp(at)
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    return stamp.to_pydatetime()


# ---- budget moves: the curve's counterfactual -------------------------------------------------


def _budget_prediction(change: Change) -> tuple[Estimate | None, float | None]:
    facts = change.evidence
    current = _number(facts.get("expected_daily_revenue_current"))
    key = (
        "expected_daily_revenue_extended"
        if change.action_type == "extend_daily_budget"
        else "expected_daily_revenue_recommended"
    )
    target = _number(facts.get(key))
    if current is None or target is None:
        return None, None
    absolute = target - current
    if current <= 0:
        return None, absolute
    low, high = _pair(facts.get("expected_revenue_change_interval"))
    return Estimate(target / current - 1, low, high), absolute


def _budget(con: Any, change: Change, now: datetime) -> Assessment:
    predicted, absolute = _budget_prediction(change)
    base = Assessment(
        predicted_metric="daily_revenue", predicted=predicted, predicted_daily_revenue_change=absolute
    )
    if predicted is None or change.status not in STANDING or change.executed_at is None:
        return base
    metric = "daily revenue"
    if change.evidence.get("revenue_measure", PLATFORM_REVENUE) != PLATFORM_REVENUE:
        return replace(base, summary=f"Predicted {_interval_text(predicted)} {metric}; the curves were in "
                     f"{change.evidence['revenue_measure']} units, which no platform reports: not measured.")  # fmt: skip
    start = _day_start(change.executed_at)
    end = start + timedelta(days=BUDGET_HORIZON_DAYS)
    if change.next_change_at is not None:
        end = min(end, _day_start(change.next_change_at))
    days = (end - start).days
    method = EvaluationMethod.MODEL_COUNTERFACTUAL
    if days < 1:
        return replace(base, evaluation_method=method.value, horizon_days=0,
                     summary=f"Predicted {_interval_text(predicted)} {metric}; another change to the same "
                     "budget was written the same day, so it is measured with that one.")  # fmt: skip
    after = end + timedelta(days=LAG_DAYS)
    method_text = f"revenue over {days} days against the curve's forecast at the old budget"
    observed = _observed_revenue(con, change, start, end) if now >= after else None
    matured = observed is not None
    realized = absolute_realized = None
    if matured:
        low, high = _pair(change.evidence.get("expected_daily_revenue_current_interval"))
        forecast = _number(change.evidence.get("expected_daily_revenue_current"))
        realized = counterfactual_change(observed, forecast, low, high)
        absolute_realized = float(observed.mean()) - forecast if forecast is not None else None
    verdict = judge(predicted, realized, matured)
    return replace(
        base,
        evaluation_method=method.value,
        horizon_days=days,
        evaluate_after=after,
        realized=realized,
        realized_daily_revenue_change=absolute_realized,
        verdict=verdict,
        summary=_summary(metric, predicted, method_text, realized, verdict, after),
    )


def _observed_revenue(con: Any, change: Change, start: datetime, end: datetime) -> Any:
    """The entity's attributed revenue per day over [start, end) (0 on a day without rows, NaN on a
    day with a quarantined row); None until the mart covers the window (the last day loaded for
    the platform is before its end)."""
    if not table_exists(con, "marts", "fct_ad_performance_daily"):
        return None
    loaded = con.execute(
        "select max(date_day) from marts.fct_ad_performance_daily where platform = ?", [change.platform]
    ).fetchone()[0]
    if loaded is None or pd.Timestamp(loaded).date() < (end - timedelta(days=1)).date():
        return None
    daily = con.execute(
        """
        select
            date_day,
            case when bool_or(coalesce(is_quarantined, false)) then null else sum(conversions_value) end
                as revenue,
        from marts.fct_ad_performance_daily
        where platform = ? and budget_entity_id = ? and date_day >= ? and date_day < ?
        group by date_day
        """,
        [change.platform, change.target_id, start.date(), end.date()],
    ).df()
    days = pd.DataFrame({"date_day": pd.date_range(start.date(), end.date(), inclusive="left")})
    daily["date_day"] = pd.to_datetime(daily["date_day"])
    merged = days.merge(daily.assign(seen=True), on="date_day", how="left")
    # a day without rows earned nothing; a day with a quarantined row is unknown (NaN: left out)
    return merged["revenue"].where(merged["seen"].notna(), 0.0).to_numpy(float)


# ---- rollouts: the holdback ---------------------------------------------------------------


def _rollout_prediction(con: Any, change: Change) -> tuple[str | None, Estimate | None]:
    """The ship decision's relative lift and its CI as a 90% interval (results.experiment_decisions;
    the action's evidence when the decision row is gone)."""
    row = None
    if table_exists(con, "results", "experiment_decisions"):
        row = con.execute(
            """
            select primary_metric, relative_lift, relative_ci_lower, relative_ci_upper
            from results.experiment_decisions
            where experiment_id = ? and decision = 'ship' and analysis_date <= ?
            order by analysis_date desc, analysis_timestamp desc
            limit 1
            """,
            [change.target_id, change.analysis_date],
        ).fetchone()
    facts = change.evidence
    if row is None:
        row = (
            facts.get("metric"),
            facts.get("relative_lift"),
            facts.get("sequential_relative_ci_lower"),
            facts.get("sequential_relative_ci_upper"),
        )
    metric, point, low, high = row[0], _number(row[1]), _number(row[2]), _number(row[3])
    if point is None:
        return metric, None
    if low is None or high is None:
        return metric, Estimate(point)
    return metric, rescale_interval(point, low, high, DECISION_LEVEL)


def _rollout(con: Any, change: Change, now: datetime) -> Assessment:
    metric, predicted = _rollout_prediction(con, change)
    base = Assessment(predicted_metric=metric, predicted=predicted)
    if predicted is None or change.status not in STANDING or change.executed_at is None:
        return base
    label = (metric or "the metric").replace("_", " ")
    test_ids = [change.target_id, change.target_id.removeprefix("loopwise:")]
    if not _has_holdback(con, test_ids):
        return replace(base, summary=f"Predicted {_interval_text(predicted)} {label}; no holdback was kept, so "
                     "its realized effect cannot be told apart from everything else that changed.")  # fmt: skip
    start = change.executed_at
    end = start + timedelta(days=ROLLOUT_HORIZON_DAYS)
    after = _day_start(end) + timedelta(days=EMAIL_ATTRIBUTION_DAYS + 1)
    matured = now >= after
    realized = _holdback_lift(con, test_ids, metric, start, end) if matured else None
    verdict = judge(predicted, realized, matured)
    method_text = f"variant against the holdback over {ROLLOUT_HORIZON_DAYS} days of campaign sends"
    return replace(
        base,
        evaluation_method=EvaluationMethod.SHIP_HOLDBACK.value,
        horizon_days=ROLLOUT_HORIZON_DAYS,
        evaluate_after=after,
        realized=realized,
        verdict=verdict,
        summary=_summary(label, predicted, method_text, realized, verdict, after),
    )


def _has_holdback(con: Any, test_ids: list[str]) -> bool:
    if not table_exists(con, "results", "experiment_assignments"):
        return False
    return bool(
        con.execute(
            "select count(*) from results.experiment_assignments "
            "where experiment_id in (select unnest(?)) and arm = 'holdback'",
            [test_ids],
        ).fetchone()[0]
    )


def _send_expression(column: str | None) -> str | None:
    """The per-send value of an exposure column (1 per send for a metric without a denominator)."""
    return "1.0" if column is None else SEND_COLUMNS.get(column)


def _holdback_lift(con: Any, test_ids: list[str], metric: str | None, start: datetime, end: datetime):
    """Variant versus holdback on ``metric`` over the campaign sends in [start, end), per contact,
    each send in the arm the contact held when it was sent."""
    spec = next((m for m in DEFAULT_METRICS if m.name == metric), None)
    if spec is None or not table_exists(con, "marts", "fct_email_sends"):
        return None
    numerator, denominator = _send_expression(spec.numerator), _send_expression(spec.denominator)
    if numerator is None or denominator is None:
        return None
    arms = con.execute(
        f"""
        with assignments as (
            select contact_id, arm, assigned_at
            from results.experiment_assignments
            where experiment_id in (select unnest(?))
        ),
        sends as (
            select contact_id, sent_at, cast({numerator} as double) as y, cast({denominator} as double) as x
            from marts.fct_email_sends
            where send_type = 'campaign' and sent_at >= ? and sent_at < ?
        ),
        armed as (
            select sends.contact_id, assignments.arm, sum(sends.y) as y, sum(sends.x) as x
            from sends
            asof join assignments
                on sends.contact_id = assignments.contact_id and sends.sent_at >= assignments.assigned_at
            group by sends.contact_id, assignments.arm
        )
        select arm, count(*), sum(y), sum(y * y), sum(x), sum(x * x), sum(x * y)
        from armed
        where arm in ('variant', 'holdback')
        group by arm
        """,
        [test_ids, start, end],
    ).fetchall()
    sums = {row[0]: ArmSums(*(float(v or 0.0) for v in row[1:])) for row in arms}
    if "variant" not in sums or "holdback" not in sums:
        return None
    return holdback_lift(sums["variant"], sums["holdback"])


# ---- send-time schedules and content choice: the randomized control ------------------------


def payload_prediction(facts: dict[str, Any]) -> Estimate | None:
    """The predicted relative lift of a ``schedule_send_times`` action (human open rate) or a
    ``personalize_content`` action (click rate) and its 90% interval, from its payload:
    ``predicted_relative_lift`` and ``predicted_interval`` ``[low, high]`` (taken as a 90% interval;
    ``predicted_interval_level`` when it is another level, e.g. 0.95, and it is rescaled to 90% on
    the log-ratio scale)."""
    point = _number(facts.get("predicted_relative_lift"))
    if point is None:
        return None
    low, high = _pair(facts.get("predicted_interval"))
    if low is None or high is None:
        return Estimate(point)
    level = _number(facts.get("predicted_interval_level")) or LEVEL
    if not 0 < level < 1 or math.isclose(level, LEVEL):
        return Estimate(point, low, high)
    return rescale_interval(point, low, high, level)


def _campaign_text(facts: dict[str, Any]) -> str:
    name = facts.get("campaign_name")
    return f'"{name}"' if isinstance(name, str) and name.strip() else "the campaign"


def _randomized_holdout(
    con: Any,
    base: Assessment,
    now: datetime,
    last_send: datetime,
    load: Callable[[datetime], pd.DataFrame],
    label: str,
    describe: Callable[[str], str],
) -> Assessment:
    """The judgement of a campaign by its randomized control: read once its last send has matured
    (a day past ``MATURITY_DAYS`` after it, and the marts' matured sends reach beyond it); realized
    = the personalized arm over the control on ``base.predicted_metric``, from the campaign's
    matured sends ``load(before)``. ``describe(counted)``: the method in words."""
    from decision_engine.personalization.data_date import newest_send_day
    from decision_engine.personalization.send_time_lift import MATURITY_DAYS, arm_lift, matured_before

    after = _day_start(last_send) + timedelta(days=MATURITY_DAYS + 1)
    data_date = newest_send_day(con) if table_exists(con, "marts", "fct_email_sends") else None
    cutoff = matured_before(data_date) if data_date is not None else None
    # matured: the window's time has passed and the marts hold every send of the campaign with its opens
    matured = now >= after and cutoff is not None and utc(cutoff) > last_send
    realized, sends = None, 0
    if matured:
        frame = load(cutoff)
        sends = int(frame.loc[frame["arm"].isin(["personalized", "control"]), "sends"].sum())
        lift = arm_lift(frame, base.predicted_metric, "personalized", level=LEVEL) if len(frame) else None
        realized = Estimate(lift.point, lift.low, lift.high) if lift is not None else None
    verdict = judge(base.predicted, realized, matured)
    method_text = describe(f", {sends:,} sends" if sends else "")
    return replace(
        base,
        evaluation_method=EvaluationMethod.RANDOMIZED_HOLDOUT.value,
        horizon_days=MATURITY_DAYS,
        evaluate_after=after,
        realized=realized,
        verdict=verdict,
        summary=_summary(label, base.predicted, method_text, realized, verdict, after),
    )


def _send_time(con: Any, change: Change, now: datetime) -> Assessment:
    from decision_engine.personalization.send_time_lift import ASSIGNMENTS, load_arm_sends

    facts = {**change.evidence, **change.payload}  # the payload wins: it is what was scheduled
    predicted = payload_prediction(facts)
    label = "human open rate"
    base = Assessment(predicted_metric="human_open_rate", predicted=predicted)
    if predicted is None or change.status not in STANDING or change.executed_at is None:
        return base
    campaign = _campaign_text(facts)
    last = None
    if table_exists(con, "results", ASSIGNMENTS):
        last = con.execute(
            f"select max(scheduled_at) from results.{ASSIGNMENTS} where parent_campaign_id = ?",
            [change.target_id],
        ).fetchone()[0]
    if last is None:
        return replace(base, summary=f"Predicted {_interval_text(predicted)} {label}; no send-time assignment "
                       f"of {campaign} was recorded, so there is no randomized control to measure it against.")  # fmt: skip
    return _randomized_holdout(
        con,
        base,
        now,
        utc(last),
        lambda before: load_arm_sends(con, before, parent_campaign_id=change.target_id),
        label,
        lambda counted: (
            f"{campaign} at each contact's best local hour against its randomized control at "
            f"the account's best hour{counted}"
        ),
    )


def _content_last_send(con: Any, campaign_id: str) -> datetime | None:
    """When the campaign's last send was scheduled: its send-time clones' latest ``scheduled_at``
    when send time split it, else the campaign's own ``send_time`` (Klaviyo staging); None when
    neither is known."""
    from decision_engine.personalization.send_time_lift import ASSIGNMENTS as SEND_TIME_ASSIGNMENTS

    sources = []
    if table_exists(con, "results", SEND_TIME_ASSIGNMENTS):
        sources.append(
            f"(select max(scheduled_at) from results.{SEND_TIME_ASSIGNMENTS} where parent_campaign_id = $id)"
        )
    if table_exists(con, "staging", "stg_klaviyo__campaigns"):
        sources.append("(select max(send_time) from staging.stg_klaviyo__campaigns where campaign_id = $id)")
    if not sources:
        return None
    expression = sources[0] if len(sources) == 1 else f"coalesce({', '.join(sources)})"
    return utc(con.execute(f"select {expression}", {"id": campaign_id}).fetchone()[0])


def _content(con: Any, change: Change, now: datetime) -> Assessment:
    from decision_engine.personalization.content_lift import ASSIGNMENTS, load_content_sends

    facts = {**change.evidence, **change.payload}  # the payload wins: it is what was written
    predicted = payload_prediction(facts)
    label = "click rate"
    base = Assessment(predicted_metric="click_rate", predicted=predicted)
    if predicted is None or change.status not in STANDING or change.executed_at is None:
        return base
    campaign = _campaign_text(facts)
    assigned = (
        table_exists(con, "results", ASSIGNMENTS)
        and con.execute(
            f"select count(*) from results.{ASSIGNMENTS} where campaign_id = ?", [change.target_id]
        ).fetchone()[0]
    )
    if not assigned:
        return replace(base, summary=f"Predicted {_interval_text(predicted)} {label}; no content assignment "
                       f"of {campaign} was recorded, so there is no randomized control to measure it against.")  # fmt: skip
    last_send = _content_last_send(con, change.target_id)
    if last_send is None:
        return replace(
            base,
            evaluation_method=EvaluationMethod.RANDOMIZED_HOLDOUT.value,
            verdict=judge(predicted, None, matured=False),
            summary=f"Predicted {_interval_text(predicted)} {label}; measured once {campaign} has been sent "
            "(its send time is not known yet).",
        )
    return _randomized_holdout(
        con,
        base,
        now,
        last_send,
        lambda before: load_content_sends(con, before, campaign_id=change.target_id),
        label,
        lambda counted: (
            f"{campaign} with each contact's preferred content angle against its randomized "
            f"control at angles drawn at random{counted}"
        ),
    )
