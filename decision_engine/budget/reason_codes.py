"""Why an ad gets its budget: machine-readable codes, and the one place their English is written.

Every recommendation has one primary :class:`ReasonCode` (the decision) and zero or more
qualifier codes (caps, exploration, thin or quarantined data). :func:`classify_reason` picks
them from the per-ad :class:`ReasonFacts`; :func:`render_reason` turns codes and facts into
the plain-English ``reason``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from decision_engine.budget.objective import OBJECTIVE_LABELS
from decision_engine.policy import BudgetObjective

HOLD_THRESHOLD = 0.01  # planned moves smaller than 1% are holds
EXPLORATORY_MIN_CHANGE = 0.001  # a hold that still moves at least 0.1% is an exploratory move
FEW_EVENTS = 10  # fewer effective conversions than this: the estimate leans on the campaign
HOLD_BAND = 0.05  # a hold's marginal return within 5% of the cutoff is "in line with the other ads"


class ReasonCode(StrEnum):
    # primary: the decision
    FROZEN_BY_POLICY = "frozen_by_policy"
    NOT_APPROVED = "not_approved"
    NO_RECENT_SPEND = "no_recent_spend"
    COLD_START_EXPLORATION = "cold_start_exploration"
    COLD_START_NO_BUDGET = "cold_start_no_budget"
    KEPT_CURRENT_LOW_CONFIDENCE = "kept_current_low_confidence"
    HOLD_WITHIN_UNCERTAINTY = "hold_within_uncertainty"
    HOLD_NEAR_OPTIMUM = "hold_near_optimum"
    INCREASE_HIGH_MARGINAL_RETURN = "increase_high_marginal_return"
    DECREASE_LOW_MARGINAL_RETURN = "decrease_low_marginal_return"
    # qualifiers
    CAPPED_BY_MAX_CHANGE = "capped_by_max_change"
    CAPPED_BY_MAX_BUDGET = "capped_by_max_budget"
    HELD_AT_MIN_BUDGET = "held_at_min_budget"
    EXPLORATORY_MOVE = "exploratory_move"
    NO_REVENUE_YET = "no_revenue_yet"
    LITTLE_OWN_DATA = "little_own_data"
    QUARANTINED_DAYS_EXCLUDED = "quarantined_days_excluded"
    AWAITS_APPROVAL = "awaits_approval"


@dataclass(frozen=True)
class ReasonFacts:
    """What one ad's (or budget entity's) reason is decided and written from (money in its currency)."""

    approved: bool
    cold: bool
    cold_budget: float
    kept: bool
    probability: float  # portfolio chance of gain (NaN when not evaluated)
    min_gain_probability: float
    max_change: float
    change: float
    planned_change: float
    at_upper: bool
    at_lower: bool
    capped: bool  # the max-change guardrail, not a min/max budget, was the binding bound
    marginal_now: float
    cutoff: float
    uncertainty: float
    prior_roas: float
    events: float
    spend_days: int
    silent: bool  # spent without any revenue
    quarantined_days: int = 0
    frozen: bool = False  # the policy freezes it (its platform or id is in ``frozen``)
    idle: bool = False  # a budget entity whose ads spent nothing in the last 7 days
    peers: str = "ads"  # what it is compared with, for the text: "ads" or "budgets"
    awaits_approval: bool = False  # its move waits for a human; the moves that apply alone balance without it
    objective: BudgetObjective = "platform_revenue"  # what its returns are measured in (the run's objective)

    @property
    def measure(self) -> str:
        """The objective as the text names it: "platform-attributed revenue", "expected customer value"."""
        return OBJECTIVE_LABELS[self.objective]


def _primary(facts: ReasonFacts) -> ReasonCode:
    if facts.frozen:
        return ReasonCode.FROZEN_BY_POLICY
    if not facts.approved:
        return ReasonCode.NOT_APPROVED
    if facts.idle:
        return ReasonCode.NO_RECENT_SPEND
    if facts.cold:
        return ReasonCode.COLD_START_EXPLORATION if facts.cold_budget > 0 else ReasonCode.COLD_START_NO_BUDGET
    if facts.kept:
        return ReasonCode.KEPT_CURRENT_LOW_CONFIDENCE
    if abs(facts.planned_change) < HOLD_THRESHOLD:
        cutoff = facts.cutoff
        if cutoff == cutoff and abs(facts.marginal_now - cutoff) > HOLD_BAND * max(cutoff, 1e-9):
            return ReasonCode.HOLD_WITHIN_UNCERTAINTY
        return ReasonCode.HOLD_NEAR_OPTIMUM
    if facts.planned_change > 0:
        return ReasonCode.INCREASE_HIGH_MARGINAL_RETURN
    return ReasonCode.DECREASE_LOW_MARGINAL_RETURN


def _qualifiers(primary: ReasonCode, facts: ReasonFacts) -> list[ReasonCode]:
    flags = []
    if primary is ReasonCode.INCREASE_HIGH_MARGINAL_RETURN and facts.at_upper:
        flags.append(ReasonCode.CAPPED_BY_MAX_CHANGE if facts.capped else ReasonCode.CAPPED_BY_MAX_BUDGET)
    if primary is ReasonCode.DECREASE_LOW_MARGINAL_RETURN and facts.at_lower:
        flags.append(ReasonCode.CAPPED_BY_MAX_CHANGE if facts.capped else ReasonCode.HELD_AT_MIN_BUDGET)
    hold = primary in (ReasonCode.HOLD_WITHIN_UNCERTAINTY, ReasonCode.HOLD_NEAR_OPTIMUM)
    if hold and abs(facts.change) >= EXPLORATORY_MIN_CHANGE:
        flags.append(ReasonCode.EXPLORATORY_MOVE)
    if facts.approved and not facts.cold and not facts.idle:
        if facts.silent:
            flags.append(ReasonCode.NO_REVENUE_YET)
        elif facts.events < FEW_EVENTS:
            flags.append(ReasonCode.LITTLE_OWN_DATA)
    if facts.quarantined_days > 0:
        flags.append(ReasonCode.QUARANTINED_DAYS_EXCLUDED)
    if facts.awaits_approval:
        flags.append(ReasonCode.AWAITS_APPROVAL)
    return flags


def classify_reason(facts: ReasonFacts) -> tuple[ReasonCode, tuple[ReasonCode, ...]]:
    """The primary code and the qualifier codes, in the order the text mentions them."""
    primary = _primary(facts)
    return primary, tuple(_qualifiers(primary, facts))


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _primary_text(code: ReasonCode, f: ReasonFacts) -> str:
    """The sentence for the decision, without its closing full stop where a qualifier can follow."""
    if code is ReasonCode.FROZEN_BY_POLICY:
        return "Frozen by the policy: kept at its current budget."
    if code is ReasonCode.NO_RECENT_SPEND:
        return (
            "Its ads spent nothing in the last 7 days: kept at its current budget until they deliver again."
        )
    if code is ReasonCode.NOT_APPROVED:
        return "Not approved for automatic budget changes: left at its current spend."
    if code is ReasonCode.COLD_START_EXPLORATION:
        return (
            f"New ad with no spend in the last 7 days: exploration budget of {_money(f.cold_budget)} to learn its "
            f"response (expected ROAS {f.prior_roas:.2f} in {f.measure}, borrowed from its campaign's ads)."
        )
    if code is ReasonCode.COLD_START_NO_BUDGET:
        return "No spend in the last 7 days and no exploration budget available: left at 0."
    if code is ReasonCode.KEPT_CURRENT_LOW_CONFIDENCE:
        text = f"Kept at current spend: no reallocation is expected to beat the current allocation in {f.measure}"
        if f.probability == f.probability:
            return (
                text + f" with enough confidence (chance of gain {f.probability:.0%}, "
                f"needed {f.min_gain_probability:.0%})."
            )
        return text + "."
    if code is ReasonCode.HOLD_WITHIN_UNCERTAINTY:
        side = "higher" if f.marginal_now > f.cutoff else "lower"
        return (
            f"Hold: its marginal return in {f.measure} ({f.marginal_now:.2f} per 1.00 spent) looks {side} than "
            f"the {f.cutoff:.2f} "
            f"elsewhere, but not by more than its uncertainty (+/-{f.uncertainty:.2f}), so it is not moved on this evidence."
        )
    if code is ReasonCode.HOLD_NEAR_OPTIMUM:
        return (
            f"Hold: its marginal return in {f.measure} ({f.marginal_now:.2f} per 1.00 spent) is in line with "
            f"the other {f.peers}."
        )
    if code is ReasonCode.INCREASE_HIGH_MARGINAL_RETURN:
        return (
            f"Increase {f.change:.0%}: each extra 1.00 here is expected to return {f.marginal_now:.2f} in {f.measure}, "
            f"more than the {f.cutoff:.2f} the last 1.00 earns elsewhere"
        )
    if code is ReasonCode.DECREASE_LOW_MARGINAL_RETURN:
        return (
            f"Decrease {-f.change:.0%}: diminishing returns, the last 1.00 here returns about {f.marginal_now:.2f} "
            f"in {f.measure}, "
            f"less than the {f.cutoff:.2f} it can earn elsewhere"
        )
    raise ValueError(f"{code} is not a primary reason code")


def _bound_text(code: ReasonCode, flags: tuple[ReasonCode, ...], f: ReasonFacts) -> str:
    """The parenthesis naming the bound an increase or decrease stopped at, and the full stop."""
    increase = code is ReasonCode.INCREASE_HIGH_MARGINAL_RETURN
    if ReasonCode.CAPPED_BY_MAX_CHANGE in flags:
        verb = "capped by" if increase else "limited by"
        return f" ({verb} the {f.max_change:.0%} max daily change)."
    if ReasonCode.CAPPED_BY_MAX_BUDGET in flags:
        return " (capped by its max budget)."
    if ReasonCode.HELD_AT_MIN_BUDGET in flags:
        return " (held at its min budget)."
    return "."


def _qualifier_text(flag: ReasonCode, f: ReasonFacts) -> str:
    if flag is ReasonCode.EXPLORATORY_MOVE:
        return f" Small exploratory move ({f.change:+.1%}) so the system keeps learning."
    if flag is ReasonCode.NO_REVENUE_YET:
        return f" No revenue recorded yet for {f.spend_days} days of spend."
    if flag is ReasonCode.LITTLE_OWN_DATA:
        return " Little data of its own, so the estimate leans on its campaign's ads."
    if flag is ReasonCode.QUARANTINED_DAYS_EXCLUDED:
        days = f.quarantined_days
        verb = "was" if days == 1 else "were"
        return f" {days} day{'' if days == 1 else 's'} of this ad's data {verb} quarantined at the source and left out."
    if flag is ReasonCode.AWAITS_APPROVAL:
        return (
            " Too little evidence to apply on its own, so it waits for a human; the budgets that move on "
            "their own were balanced without it, so approving it also changes the account's daily total."
        )
    return ""  # bound qualifiers are part of the primary sentence


def render_reason(code: ReasonCode, flags: tuple[ReasonCode, ...], facts: ReasonFacts) -> str:
    """The plain-English reason for ``code`` and ``flags`` (the only place this text is written)."""
    text = _primary_text(code, facts)
    if code in (ReasonCode.INCREASE_HIGH_MARGINAL_RETURN, ReasonCode.DECREASE_LOW_MARGINAL_RETURN):
        text += _bound_text(code, flags, facts)
    return text + "".join(_qualifier_text(flag, facts) for flag in flags)
