"""The policy applied to one action: its verdict, and the hard limits no approval can lift.

:func:`verdict` decides once, when an action is governed, whether it may apply on its own,
needs a human, or is refused. :func:`hard_limit_violations` is checked again right before
every vendor write, however the action was approved, because the world moves between the
two (another change today, a new blackout date, the kill switch).

Two limits are about *when*, not *what*: the kill switch and blackout dates stop execution
but do not reject the action, so it can run once they lift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from decision_engine.policy import Policy

# Always a human decision, whatever the policy file says (docs/architecture.md section 1).
HUMAN_ONLY_KINDS = frozenset({"launch_campaign", "new_creative", "new_offer", "discount", "eligibility_rule"})
# Content changes: need approval unless content.auto_apply.
CONTENT_KINDS = frozenset({"set_content", "flow_content"})
SEND_TIME_KIND = "schedule_send_times"  # decision_engine.personalization.send_time_schedule
# each recipient's content angle from the policy's approved library (content_choice.auto_apply)
CONTENT_CHOICE_KIND = "personalize_content"  # decision_engine.personalization.content_choice
ROLLBACK_KIND = "reverse_change"
BUDGET_KIND = "set_daily_budget"
# the part of a budget move beyond what applies on its own: always a human decision
EXTENSION_KIND = "extend_daily_budget"
ROLLOUT_KIND = "rollout_winner"
# Loopwise's own tests (decision_engine.experiments.launch): starting a test of library content
# (needs approval unless experiments.auto_launch), and showing its variant subject on an upcoming
# campaign. The subject is content, but content a human approved in the policy's library and
# covered by the launch's approval, so it needs no approval of its own once the launch was
# approved (the proposing engine says so through auto_apply_allowed).
LAUNCH_KIND = "launch_experiment"
TEST_SUBJECT_KIND = "apply_test_subject"
LIBRARY_KINDS = frozenset({LAUNCH_KIND, TEST_SUBJECT_KIND})
KNOWN_KINDS = (
    HUMAN_ONLY_KINDS
    | CONTENT_KINDS
    | LIBRARY_KINDS
    | {SEND_TIME_KIND, CONTENT_CHOICE_KIND, ROLLBACK_KIND, BUDGET_KIND, EXTENSION_KIND, ROLLOUT_KIND}
)

FLOAT_SLACK = 1e-9  # relative float error tolerated when a move is compared with a percentage limit

VerdictStatus = Literal["auto_approved", "pending_approval", "rejected"]


@dataclass(frozen=True)
class ActionRow:
    """One row of ``results.actions`` as the policy and the queue see it (JSON columns decoded)."""

    action_id: str
    action_type: str
    platform: str
    target_id: str
    payload: dict[str, Any]
    auto_apply_allowed: bool
    status: str = "proposed"
    source: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    payload_hash: str | None = None
    approved_payload_hash: str | None = None
    attempts: int = 0

    @property
    def entity_key(self) -> str:
        return f"{self.platform}:{self.target_id}"


@dataclass(frozen=True)
class ExecutionContext:
    """What the hard limits need to know about the world at the moment of judging.

    ``day_start_budget`` is the entity's budget at the start of the day, so two moves in one
    day cannot add up past the cap; ``current_budget`` its budget now; ``account_total`` the
    account's summed daily budget now (this entity included). Unknown values are None.
    """

    today: date
    day_start_budget: float | None = None
    current_budget: float | None = None
    account_total: float | None = None


@dataclass(frozen=True)
class Verdict:
    status: VerdictStatus
    reasons: list[str]
    reason_code: str


def verdict(action: ActionRow, policy: Policy, context: ExecutionContext) -> Verdict:
    """Whether ``action`` may apply on its own (``auto_approved``), needs a human, or is refused."""
    violations = _action_violations(action, policy, context)
    if violations:
        return Verdict("rejected", [text for _, text in violations], violations[0][0])
    needs_human = _approval_reasons(action, policy)
    if needs_human:
        blocks = _time_blocks(policy, context.today)
        return Verdict("pending_approval", [text for _, text in needs_human + blocks], needs_human[0][0])
    return Verdict("auto_approved", ["within the policy's limits for automatic changes"], "within_policy")


def hard_limit_violations(action: ActionRow, policy: Policy, context: ExecutionContext) -> list[str]:
    """Every reason ``action`` must not be written now; empty when the write may go ahead."""
    found = _time_blocks(policy, context.today) + _action_violations(action, policy, context)
    return [text for _, text in found]


Reason = tuple[str, str]  # (machine-readable code, plain English)


def action_limit_violations(action: ActionRow, policy: Policy, context: ExecutionContext) -> list[Reason]:
    """The hard limits on what ``action`` changes (not on when: the kill switch and blackout dates
    are left out), as ``(code, text)``; empty when the change is within the policy."""
    return _action_violations(action, policy, context)


def _time_blocks(policy: Policy, today: date) -> list[Reason]:
    blocks = []
    if policy.autonomy == "off":
        blocks.append(("kill_switch", "autonomy is off (kill switch): nothing executes"))
    if today in policy.blackout_dates:
        blocks.append(("blackout_date", f"{today.isoformat()} is a blackout date: nothing executes"))
    return blocks


def _action_violations(action: ActionRow, policy: Policy, context: ExecutionContext) -> list[Reason]:
    if action.action_type not in KNOWN_KINDS:
        return [("unknown_action_type", f"unknown action type {action.action_type!r}")]
    found = []
    frozen = set(policy.budget.frozen)
    if action.platform in frozen:
        found.append(("frozen", f"platform {action.platform} is frozen by the policy"))
    if action.target_id in frozen:
        found.append(("frozen", f"entity {action.target_id} is frozen by the policy"))
    if _moves_budget(action):
        found += _budget_violations(action.payload, policy, context)
    if action.action_type in LIBRARY_KINDS or "library_id" in action.payload:
        found += _library_violations(action.payload, policy)
    return found


def _library_violations(payload: dict[str, Any], policy: Policy) -> list[Reason]:
    """A test's content must still be in the policy's library when it is judged and written."""
    named = payload.get("library_ids") or [payload.get("library_id")]
    missing = [
        name for name in named if not isinstance(name, str) or policy.experiments.library_entry(name) is None
    ]
    return [
        ("not_in_library", f"test content {name!r} is not in the policy's experiments.library")
        for name in missing
    ]


def _moves_budget(action: ActionRow) -> bool:
    """A budget change, or the rollback of one (it carries the budget it restores)."""
    return action.action_type in (BUDGET_KIND, EXTENSION_KIND) or (
        action.action_type == ROLLBACK_KIND and "daily_budget" in action.payload
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _day_start(payload: dict[str, Any], context: ExecutionContext) -> float | None:
    if context.day_start_budget is not None:
        return context.day_start_budget
    return _number(payload.get("current_daily_budget"))


def _change_pct(new: float, base: float) -> float:
    if base == 0:
        return 0.0 if new == 0 else math.inf
    return abs(new - base) / base * 100


def _exceeds(new: float, base: float, limit_pct: float) -> bool:
    """Whether ``new`` moves more than ``limit_pct`` percent from ``base``, ignoring float error:
    661 -> 727.10 is a 10% move, though ``(727.1 - 661) / 661`` computes as 10.000000000000004%."""
    return abs(new - base) > base * limit_pct / 100 + FLOAT_SLACK * max(1.0, abs(base))


def _budget_violations(payload: dict[str, Any], policy: Policy, context: ExecutionContext) -> list[Reason]:
    limits = policy.budget
    new = _number(payload.get("daily_budget"))
    if new is None:
        return [("invalid_payload", "the payload has no valid daily_budget")]
    found = []
    base = _day_start(payload, context)
    if base is None:
        found.append(("budget_unknown", "the entity's budget at the start of the day is unknown"))
    elif _exceeds(new, base, limits.max_change_pct):
        found.append(
            (
                "max_change",
                f"moves the budget {_change_pct(new, base):.1f}% from {base:g} at the start of the day "
                f"(hard cap {limits.max_change_pct:g}%)",
            )
        )
    if new < limits.min_daily_budget:
        found.append(("min_budget", f"new budget {new:g} is below the minimum {limits.min_daily_budget:g}"))
    if limits.max_total_daily_budget is not None:
        found += _total_violations(new, payload, limits.max_total_daily_budget, context)
    if payload.get("explicitly_shared") is True and not limits.allow_shared_budgets:
        found.append(("shared_budget", "an explicitly shared budget moves several campaigns; not allowed"))
    return found


def _total_violations(
    new: float, payload: dict[str, Any], cap: float, context: ExecutionContext
) -> list[Reason]:
    current = context.current_budget
    if current is None:
        current = _day_start(payload, context)
    if context.account_total is None or current is None:
        return [("total_unknown", "the account's daily total is unknown, so its cap cannot be checked")]
    after = context.account_total - current + new
    if after > cap:
        return [("max_total", f"the account's daily total would be {after:g} (cap {cap:g})")]
    return []


def _approval_reasons(action: ActionRow, policy: Policy) -> list[Reason]:
    """Why ``action`` needs a human; empty when the policy lets it apply on its own."""
    kind = action.action_type
    reasons: list[Reason] = []
    if policy.autonomy == "recommend":
        reasons.append(("autonomy_recommend", "autonomy is recommend: every action needs approval"))
    elif policy.autonomy == "off":
        reasons.append(("kill_switch", "autonomy is off: nothing applies on its own"))
    if kind in HUMAN_ONLY_KINDS:
        reasons.append(("human_only", f"{kind} is always a human decision"))
    if kind in CONTENT_KINDS and not policy.content.auto_apply:
        reasons.append(("content_needs_approval", "content changes need approval (content.auto_apply)"))
    if kind == SEND_TIME_KIND and not policy.send_time.auto_apply:
        reasons.append(("send_time_needs_approval", "send-time changes need approval (send_time.auto_apply)"))
    if kind == CONTENT_CHOICE_KIND and not policy.content_choice.auto_apply:
        reasons.append(
            ("content_choice_needs_approval", "content choice needs approval (content_choice.auto_apply)")
        )
    if kind == LAUNCH_KIND and not policy.experiments.auto_launch:
        reasons.append(("auto_launch_off", "launching a test needs approval (experiments.auto_launch)"))
    if kind == ROLLBACK_KIND and not policy.rollback.auto_execute:
        reasons.append(("rollback_needs_approval", "rollbacks need approval (rollback.auto_execute)"))
    if not action.auto_apply_allowed and kind != EXTENSION_KIND:  # an extension says why itself
        reasons.append(("engine_requires_approval", "the proposing engine asks for a human decision"))
    if kind == EXTENSION_KIND:
        reasons.append(
            ("beyond_auto_limit", "a move beyond what applies on its own is always a human decision")
        )
    if kind in (BUDGET_KIND, EXTENSION_KIND):
        reasons += _budget_approval(action.payload, policy)
    if kind == ROLLOUT_KIND:
        reasons += _rollout_approval(action, policy)
    return reasons


def _budget_approval(payload: dict[str, Any], policy: Policy) -> list[Reason]:
    new = _number(payload.get("daily_budget"))
    base = _number(payload.get("current_daily_budget"))
    if new is None or base is None:
        return [("budget_unknown", "the change cannot be sized without the current budget")]
    change = _change_pct(new, base)
    if _exceeds(new, base, policy.budget.auto_approve_max_change_pct):
        return [
            (
                "above_auto_approve",
                f"a {change:.1f}% move is above the {policy.budget.auto_approve_max_change_pct:g}% "
                "that applies on its own",
            )
        ]
    return []


def _rollout_evidence(action: ActionRow) -> tuple[float | None, float | None]:
    """Units in the smaller arm and the chance to beat control, from the payload or the evidence."""
    units = _number(action.payload.get("n_per_arm"))
    if units is None:
        arms = [_number(action.evidence.get(key)) for key in ("n_control", "n_variant")]
        units = min(arms) if None not in arms else None  # type: ignore[type-var]
    chance = _number(action.payload.get("chance_to_beat_control"))
    if chance is None:
        chance = _number(action.evidence.get("chance_to_beat_control"))
    return units, chance


def _rollout_approval(action: ActionRow, policy: Policy) -> list[Reason]:
    rules = policy.experiments
    if not rules.auto_ship:
        return [("auto_ship_off", "winners ship only with approval (experiments.auto_ship)")]
    units, chance = _rollout_evidence(action)
    reasons = []
    if units is None or units < rules.min_units_per_arm:
        reasons.append(
            ("too_few_units", f"{units if units is not None else 'unknown'} units per arm "
             f"(needs {rules.min_units_per_arm} to ship on its own)")
        )  # fmt: skip
    if chance is None or chance < rules.min_chance_to_beat_control:
        reasons.append(
            ("low_chance_to_beat_control", f"chance to beat control {chance if chance is not None else 'unknown'} "
             f"(needs {rules.min_chance_to_beat_control:g} to ship on its own)")
        )  # fmt: skip
    return reasons
