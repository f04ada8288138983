"""Wording shared by the digest's sections: amounts, percentages, what a change is and what it did.

No id is ever written: entities go through :class:`~decision_engine.digest.names.NameBook`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from decision_engine.digest.names import NameBook, platform_name, quoted


def parse_json(value: Any) -> Any:
    if not isinstance(value, str):
        return {}
    try:
        return json.loads(value)
    except ValueError:
        return {}


def number(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict):
        value = value.get("daily_budget")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def flag(value: Any) -> bool:
    """A boolean cell (Python or numpy bool) that is true; a missing value is false."""
    return isinstance(value, (bool, np.bool_)) and bool(value)


def money(value: float, currency: str | None = None) -> str:
    """``1,234.50 USD``: thousands separated, so no amount reads like an id."""
    text = f"{value:,.2f}"
    return f"{text} {currency}" if currency else text


def signed_money(value: float, currency: str | None = None) -> str:
    return ("+" if value >= 0 else "-") + money(abs(value), currency)


def percent(value: float, signed: bool = True) -> str:
    return f"{value:+.1%}" if signed else f"{value:.1%}"


# ---- what a change is, in words ------------------------------------------------------------------
def describe_change(row: Any, payload: dict[str, Any], names: NameBook, proposed: bool = False) -> str:
    """One action (a ``results.actions`` or ``decision_log`` row) as a sentence without ids; ``proposed``
    words it as what approving it would do."""
    action_type = str(row.get("action_type"))
    target = str(row.get("target_id"))
    platform = row.get("platform")
    if (
        action_type in ("set_daily_budget", "extend_daily_budget", "reverse_change")
        and "daily_budget" in payload
    ):
        kind = {"adset": "adset", "campaign": "campaign", "campaign_budget": "campaign_budget"}.get(
            payload.get("entity_type"), "ad"
        )
        entity = names.name(target, kind)
        if entity.startswith(("a ", "an ")):
            entity = f"{entity} on {platform_name(platform)}"
        before = number(row.get("value_before")) or number(payload.get("current_daily_budget"))
        after = number(row.get("value_after")) or number(payload.get("daily_budget"))
        currency = payload.get("currency")
        verb = "Reverse the daily budget" if action_type == "reverse_change" else "Daily budget"
        if proposed and before and after is not None and action_type != "reverse_change":
            direction = "Raise" if after >= before else "Lower"
            return (
                f"{direction} the daily budget of {entity} from {money(before)} to {money(after, currency)} "
                f"({percent(after / before - 1)})"
            )
        if before and after is not None:
            return f"{verb} of {entity}: {money(before)} -> {money(after, currency)} ({percent(after / before - 1)})"
        return f"{verb} of {entity} set to {money(after or 0.0, currency)}"
    if action_type == "rollout_winner":
        winner = payload.get("winner") or payload.get("variant")
        subject = names.labels.get(str(payload.get("winner_message_id") or ""), None)
        what = f"variant {winner}" if winner else "the winning variant"
        if subject:
            what = f"{what} ({subject})"
        return f"Roll out {what} of {names.experiment(target)}"
    if action_type == "launch_experiment":
        return f"Launch {names.loopwise_test(str(payload.get('test_id') or target))}"
    if action_type == "apply_test_subject":
        campaign = str(payload.get("campaign_id") or target)
        arm = f", {names.name(target, 'message')}" if target != campaign else ""
        return f"Put the test's subject line on {names.name(campaign, 'email_campaign')}{arm}"
    if action_type in ("schedule_send_times", "personalize_content"):
        name = payload.get("campaign_name")
        campaign = (
            f"campaign {quoted(name)}"
            if isinstance(name, str) and name.strip()
            else names.name(target, "email_campaign")
        )
        if action_type == "personalize_content":
            verb = "Show" if proposed else "Showed"
            return (
                f"{verb} each recipient of {campaign} the approved content angle it engages with most "
                "(a randomized control sees a random approved angle)"
            )
        verb = "Send" if proposed else "Sent"
        return (
            f"{verb} {campaign} at each contact's best local hour (a randomized control at the account's "
            "best hour, a few at other hours to keep learning)"
        )
    return f"{action_type.replace('_', ' ').capitalize()} on {names.name(target)}"


def predicted_column(frame: pd.DataFrame) -> str | None:
    for column in ("predicted_daily_revenue_change", "predicted_impact"):
        if column in frame:
            return column
    return None


def realized_column(frame: pd.DataFrame) -> str | None:
    for column in ("realized_daily_revenue_change", "realized_impact"):
        if column in frame:
            return column
    return None


def _interval(row: Any, frame: pd.DataFrame, prefix: str) -> tuple[float, float] | None:
    """``<prefix>..._lower`` / ``_upper`` (or ``_low`` / ``_high``) columns, when a row has both."""
    lower = next(
        (c for c in frame.columns if c.startswith(prefix) and c.endswith(("_lower", "_low", "_ci_lower"))),
        None,
    )
    upper = next(
        (c for c in frame.columns if c.startswith(prefix) and c.endswith(("_upper", "_high", "_ci_upper"))),
        None,
    )
    if lower is None or upper is None:
        return None
    low, high = number(row.get(lower)), number(row.get(upper))
    return (low, high) if low is not None and high is not None else None


def impact_text(row: Any, frame: pd.DataFrame) -> str:
    """What the change was expected to do and, once measured, what it did: the decision log's own
    sentence (``impact_summary``) when it wrote one, else built from the money columns."""
    summary = row.get("impact_summary") if "impact_summary" in frame else None
    summary = summary.strip().rstrip(".") if isinstance(summary, str) and summary.strip() else None
    parts = []
    predicted_name = predicted_column(frame)
    unit = " a day in revenue" if predicted_name == "predicted_daily_revenue_change" else ""
    predicted = number(row.get(predicted_name)) if predicted_name else None
    if predicted is not None:
        interval = _interval(row, frame, predicted_name)
        band = (
            f" (90% interval {signed_money(interval[0])} to {signed_money(interval[1])})" if interval else ""
        )
        parts.append(f"expected {signed_money(predicted)}{unit}{band}")
    if summary:
        return "; ".join([*parts, summary[:1].lower() + summary[1:] if parts else summary])
    realized_name = realized_column(frame)
    realized = number(row.get(realized_name)) if realized_name else None
    if realized is not None:
        interval = _interval(row, frame, realized_name)
        band = (
            f" (90% interval {signed_money(interval[0])} to {signed_money(interval[1])})" if interval else ""
        )
        parts.append(f"measured {signed_money(realized)}{band}")
    verdict = row.get("verdict") if "verdict" in frame else None
    if isinstance(verdict, str) and verdict:
        parts.append(VERDICT_TEXT.get(verdict, verdict.replace("_", " ")))
    elif predicted is not None and realized is None:
        parts.append("not measured yet")
    return "; ".join(parts)


VERDICT_TEXT = {
    "as_predicted": "as predicted",
    "better": "better than predicted",
    "worse": "worse than predicted",
    "inconclusive": "too uncertain to judge",
    "pending": "measurement window still open",
}

DECIDED_TEXT = {
    "executed": "applied",
    "verified": "applied and verified",
    "rolled_back": "applied, then rolled back",
    "failed": "failed to apply",
    "rejected": "rejected",
    "expired": "lapsed without a decision",
    "superseded": "replaced by a newer proposal",
}


def approved_by_text(row: Any) -> str:
    approved = row.get("approved_by")
    if approved == "policy":
        return "on its own under the policy"
    if isinstance(approved, str) and approved:
        return f"approved by {approved}"
    return ""
