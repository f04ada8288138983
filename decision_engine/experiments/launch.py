"""Loopwise launches and runs its own tests of library content (``policy.yaml``'s
``experiments.library``); it never writes a subject of its own.

Every run, :func:`propose_test_actions` proposes:

1. ``launch_experiment`` (target: the test id ``lw-<library id>-<yyyymmdd>``) for the top
   candidates (:func:`candidate_tests`), as many as ``experiments.max_running_tests`` leaves room
   for beside the tests that run or wait to launch. Tests running together are assigned
   independently (a factorial design). Executing it writes ``lw_arm_<key>`` = control / variant to every
   enrolled subscribed profile (``decision_engine.experiments.assignment``) and records
   ``results.experiment_assignments``. The policy decides whether it needs a human
   (``experiments.auto_launch``).
2. ``apply_test_subject`` for every message of an upcoming campaign (scheduled, send time after
   now; each message of a marketer's A/B test too, :func:`upcoming_messages`): its subject
   becomes a template that shows each active test's style to that test's variant arm
   (:func:`conditional_subject`). Covered by the launch's approval (a test is active
   only once its launch executed), so the engine allows it to apply on its own.

A test is *pending* while its launch waits for a verdict or a human, *approved* once the launch
may run (its campaign subjects are proposed with it: :func:`propose_and_govern` proposes, governs,
and proposes again, so a launch and its subjects go out in the same run), *running* once
launched, *shipped* once its
``rollout_winner`` executed (its holdback keeps measuring, so campaigns keep the conditional
subject) and *ended* on ``keep_control`` or ``stop_for_harm`` (campaigns stop showing it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from decision_engine.actions import ProposedAction, write_actions
from decision_engine.experiments.design import METRIC_WORDS, Baseline, design_experiment, read_baseline
from decision_engine.policy import LibraryEntry, Policy
from decision_engine.queue import APPROVED, DONE, LIVE, GovernSummary, govern
from decision_engine.store import RESULTS_SCHEMA

TestStatus = Literal["pending", "approved", "running", "shipped", "ended"]
EXPERIMENT_PREFIX = "loopwise:"  # fct_experiment_exposures' experiment_id of a test
TEMPLATE_MARK = "{% if person|lookup:'lw_arm_"  # what a subject Loopwise templated holds
ENDING_DECISIONS = ("keep_control", "stop_for_harm")
# launches that leave their library entry tested (declined by a human or failed count too, so the
# same entry is not proposed again every day); an expired or superseded launch may come back
SPENT = (*LIVE, *DONE, "rejected", "failed")


def experiment_id(test_id: str) -> str:
    """The test's experiment id in ``marts.fct_experiment_exposures`` and the experiment tables."""
    return EXPERIMENT_PREFIX + test_id


@dataclass(frozen=True)
class Candidate:
    """A library entry that could be tested next, best first."""

    entry: LibraryEntry
    rank: int
    expected_relative_lift: float | None = None  # None: design.DEFAULT_EXPECTED_LIFT


@dataclass(frozen=True)
class LoopwiseTest:
    """A test Loopwise proposed, as the action queue and the decisions tell it."""

    test_id: str
    library_id: str
    property: str
    subject_template: str
    status: TestStatus
    launched_at: datetime | None
    payload: dict[str, Any] = field(default_factory=dict)
    ending: dict[str, Any] | None = None  # the decision that ended it (decision, reason_code, ...): a
    # shipped test's first ship, an ended test's first keep_control or stop_for_harm

    def styled(self, subject: str) -> str:
        return self.subject_template.replace("{subject}", subject)


def candidate_tests(con: Any, policy: Policy, now: datetime) -> list[Candidate]:
    """Library entries not yet tested, best first.

    With ``decision_engine.experiments.hypotheses`` present, its ranked backlog decides (rows
    with a library entry, not needing a human, still candidates, by ``rank``, with their
    ``expected_relative_lift``). Without it the order is the library's own in ``policy.yaml``
    (the order a human listed them) with the default prior lift. Either way an entry already
    launched (or declined) is left out.
    """
    tested = {test.library_id for test in loopwise_tests(con)} | _spent_library_ids(con)
    library = {entry.id: entry for entry in policy.experiments.library}
    try:
        from decision_engine.experiments.hypotheses import build_hypotheses  # type: ignore[import-not-found]
    except ImportError:
        build_hypotheses = None
    if build_hypotheses is None:
        entries = [entry for entry in policy.experiments.library if entry.id not in tested]
        return [Candidate(entry, rank) for rank, entry in enumerate(entries, start=1)]
    backlog = build_hypotheses(con, policy, now)
    found = []
    for row in backlog.sort_values("rank").to_dict("records"):
        library_id = row.get("library_id")
        if library_id not in library or library_id in tested or bool(row.get("needs_human")):
            continue
        if row.get("status", "candidate") != "candidate":
            continue
        lift = row.get("expected_relative_lift")
        found.append(
            Candidate(library[library_id], int(row["rank"]), float(lift) if lift == lift and lift else None)
        )
    return found


def _actions(con: Any, action_type: str) -> list[dict[str, Any]]:
    try:
        cursor = con.execute(
            f"select action_id, target_id, status, payload, executed_at from {RESULTS_SCHEMA}.actions "
            "where action_type = ? order by analysis_date, analysis_timestamp, action_id",
            [action_type],
        )
    except Exception:  # noqa: BLE001 - no queue yet: nothing was ever proposed
        return []
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _spent_library_ids(con: Any) -> set[str]:
    spent = set()
    for record in _actions(con, "launch_experiment"):
        if record["status"] in SPENT:
            spent.add(json.loads(record["payload"] or "{}").get("library_id"))
    return spent


def _first_decisions(con: Any, decisions: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per experiment id, its first decision among ``decisions`` (decision, target_variant,
    reason_code, explanation, analysis_date)."""
    try:
        cursor = con.execute(
            f"select experiment_id, decision, target_variant, reason_code, explanation, analysis_date "
            f"from {RESULTS_SCHEMA}.experiment_decisions where decision in (select unnest(?)) "
            "qualify row_number() over (partition by experiment_id order by analysis_date, analysis_timestamp) = 1",
            [list(decisions)],
        )
    except Exception:  # noqa: BLE001 - no decisions yet
        return {}
    names = [column[0] for column in cursor.description]
    return {str(row[0]): dict(zip(names[1:], row[1:], strict=True)) for row in cursor.fetchall()}


def loopwise_tests(con: Any) -> list[LoopwiseTest]:
    """Every test whose launch is live or executed, oldest first, with its status."""
    endings = _first_decisions(con, ENDING_DECISIONS)
    ships = _first_decisions(con, ("ship",))
    shipped = {record["target_id"] for record in _actions(con, "rollout_winner") if record["status"] in DONE}
    tests: dict[str, LoopwiseTest] = {}
    for record in _actions(con, "launch_experiment"):
        payload = json.loads(record["payload"] or "{}")
        test_id = str(payload.get("test_id") or record["target_id"])
        if record["status"] in APPROVED:
            status: TestStatus = "approved"
        elif record["status"] in LIVE:
            status = "pending"
        elif record["status"] in DONE:
            name = experiment_id(test_id)
            status = "shipped" if name in shipped else "ended" if name in endings else "running"
        else:
            continue
        if test_id in tests and tests[test_id].status not in ("pending", "approved"):
            continue
        tests[test_id] = LoopwiseTest(
            test_id=test_id,
            library_id=str(payload.get("library_id")),
            property=str(payload.get("property")),
            subject_template=str(payload.get("subject_template")),
            status=status,
            launched_at=record["executed_at"],
            payload=payload,
            # a shipped test ended at the ship its rollout carried out; an ended one at keep_control
            # or stop_for_harm
            ending=(ships if status == "shipped" else endings).get(experiment_id(test_id)),
        )
    return sorted(
        tests.values(), key=lambda t: (t.launched_at is None, t.launched_at or datetime.min, t.test_id)
    )


@dataclass
class TestProposals:
    actions: list[ProposedAction]
    notes: list[str] = field(default_factory=list)  # what was not proposed, and why


def propose_test_actions(con: Any, policy: Policy, now: datetime) -> TestProposals:
    """This run's ``launch_experiment`` and ``apply_test_subject`` proposals (module docstring)."""
    tests = loopwise_tests(con)
    proposals = TestProposals(actions=[])
    busy = [test for test in tests if test.status in ("pending", "approved", "running")]
    slots = policy.experiments.max_running_tests - len(busy)
    if slots > 0:
        launches = launch_actions(con, policy, now, slots)
        if not launches:
            proposals.notes.append("no library entry left to test (experiments.library)")
        proposals.actions += launches
    active = [test for test in tests if test.status in ("approved", "running", "shipped")]
    if active:
        proposals.actions += subject_actions(con, active, now, proposals.notes)
    return proposals


def propose_and_govern(con: Any, policy: Policy, now: datetime) -> tuple[TestProposals, GovernSummary]:
    """Propose this run's test actions, then govern every proposal in the queue (the engines'
    too: this is the run's :func:`decision_engine.queue.govern`); a launch the verdict approves
    gets its campaign subjects proposed and judged in the same pass, so they go out together."""
    first = propose_test_actions(con, policy, now)
    write_actions(con, first.actions, now, now.date())
    summary = govern(con, policy, now)
    if not any(action.action_type == "launch_experiment" for action in first.actions):
        return first, summary
    second = propose_test_actions(con, policy, now)
    write_actions(con, second.actions, now, now.date())
    again = govern(con, policy, now)
    merged = {a.action_id(now.date()): a for a in (*first.actions, *second.actions)}
    totals = GovernSummary(*(x + y for x, y in zip(_counts(summary), _counts(again), strict=True)))
    return TestProposals(list(merged.values()), first.notes + second.notes), totals


def _counts(summary: GovernSummary) -> tuple[int, ...]:
    return (summary.auto_approved, summary.pending_approval, summary.rejected, summary.superseded,
            summary.expired)  # fmt: skip


def launch_actions(con: Any, policy: Policy, now: datetime, slots: int) -> list[ProposedAction]:
    """``launch_experiment`` proposals for the top ``slots`` candidates (none when none is left)."""
    candidates = candidate_tests(con, policy, now)[:slots]
    if not candidates:
        return []
    baseline = read_baseline(con, now)
    return [_launch_action(top, baseline, policy, now) for top in candidates]


def _launch_action(top: Candidate, baseline: Baseline, policy: Policy, now: datetime) -> ProposedAction:
    entry = top.entry
    plan = design_experiment(baseline, top.expected_relative_lift, policy.experiments.test_share)
    stamp = now.strftime("%Y%m%d")
    test_id = f"lw-{entry.id}-{stamp}"
    payload = {
        "test_id": test_id,
        "library_id": entry.id,
        "factor": entry.factor,
        "level": entry.level,
        "property": f"lw_arm_{entry.id}_{stamp}",
        "arms": ["control", "variant"],
        "subject_template": entry.subject_template,
        "test_share": policy.experiments.test_share,
        "primary_metric": plan.primary_metric,
        "primary_metric_note": plan.note,
        "baseline_rate": round(plan.baseline_rate, 6),
        "expected_relative_lift": plan.expected_relative_lift,
        "planned_units_per_arm": plan.planned_units_per_arm,
        "required_units_per_arm": plan.required_units_per_arm,
        "weekly_units_per_arm": round(plan.weekly_units_per_arm, 1),
        "weeks_to_decision": round(plan.weeks_to_decision, 1),
        "min_units_per_arm": policy.experiments.min_units_per_arm,
    }
    described = entry.description or entry.subject_template
    reason = (
        f"Test {entry.factor.replace('_', ' ')} '{entry.level}' ({described}) on every upcoming campaign: "
        f"{policy.experiments.test_share:.0%} of subscribed contacts split 50/50, about "
        f"{plan.planned_units_per_arm:,} recipients per arm (~{plan.weeks_to_decision:.1f} weeks) on "
        f"{METRIC_WORDS[plan.primary_metric]}. {plan.note}"
    )
    evidence = {
        "rank": top.rank,
        "baseline_click_rate": baseline.clicks.rate,
        "baseline_order_rate": baseline.orders.rate,
        "click_icc": baseline.clicks.icc,
        "design_effect": plan.design_effect,
        "weekly_sends": baseline.weekly_sends,
        "contacts": baseline.contacts,
    }
    return ProposedAction(
        source="experiments",
        action_type="launch_experiment",
        platform="klaviyo",
        target_id=test_id,
        payload=payload,
        reason=reason,
        auto_apply_allowed=True,  # the policy decides (experiments.auto_launch)
        evidence=evidence,
        reason_code="library_candidate",
    )


def conditional_subject(base: str, tests: list[LoopwiseTest]) -> str:
    """The subject template showing each test's style to its variant arm: one flat block per
    test for its prefix and one for its suffix around ``base`` (the latest test's style
    outermost), so a contact in the variant of two tests sees both styles, without nesting
    blocks (adjacent blocks are the simplest template tags to render). With no tests, ``base``
    unchanged."""

    def block(test: LoopwiseTest, text: str) -> str:
        return f"{{% if person|lookup:'{test.property}' == 'variant' %}}{text}{{% endif %}}" if text else ""

    pairs = [(test, test.subject_template.split("{subject}")) for test in tests]
    prefixes = "".join(block(test, prefix) for test, (prefix, _) in reversed(pairs))
    suffixes = "".join(block(test, suffix) for test, (_, suffix) in pairs)
    return prefixes + base + suffixes


def _applied_bases(con: Any) -> dict[str, str]:
    """Per target (a campaign, or an A/B test's message), the marketer's own subject recorded by the
    last executed subject action."""
    bases = {}
    for record in _actions(con, "apply_test_subject"):
        if record["status"] in DONE:
            bases[record["target_id"]] = json.loads(record["payload"] or "{}").get("base_subject")
    return {target: base for target, base in bases.items() if isinstance(base, str)}


@dataclass(frozen=True)
class UpcomingMessage:
    """A message of a campaign scheduled after now: the one message of a campaign, or one arm of
    a marketer's own A/B test."""

    campaign_id: str
    campaign_name: str
    message_id: str
    send_time: datetime
    subject: str
    messages: int  # messages in its campaign (2+: a marketer's A/B test)

    @property
    def target_id(self) -> str:
        """What its ``apply_test_subject`` targets: the campaign when it has one message, else the
        message (each arm of an A/B test is a write of its own)."""
        return self.campaign_id if self.messages == 1 else self.message_id


def upcoming_messages(con: Any, now: datetime) -> list[UpcomingMessage]:
    """Every message of the campaigns scheduled after ``now``, by send time. A marketer's A/B test
    is reached too: each of its messages shows the test's style to the test's variant arm, so its
    arms (split by Klaviyo at random) each hold both test arms (split by profile property) in
    the planned shares, and the marketer's comparison stays fair."""
    rows = con.execute(
        "select c.campaign_id, c.campaign_name, m.message_id, c.send_time, m.subject, "
        "count(*) over (partition by c.campaign_id) "
        "from staging.stg_klaviyo__campaigns as c "
        "inner join staging.stg_klaviyo__campaign_messages as m on c.campaign_id = m.campaign_id "
        "where c.send_time > ? and lower(c.campaign_status) in ('scheduled', 'draft') "
        "order by c.send_time, c.campaign_id, m.message_id",
        [now],
    ).fetchall()
    return [
        UpcomingMessage(str(campaign), str(name), str(message), send_time, subject or "", int(count))
        for campaign, name, message, send_time, subject, count in rows
    ]


def upcoming_campaigns(con: Any, now: datetime) -> list[tuple[str, str, str, datetime, str]]:
    """(campaign id, name, message id, send time, subject) of the one-message campaigns scheduled
    after ``now``: send times and content personalization leave a marketer's A/B test alone."""
    return [
        (m.campaign_id, m.campaign_name, m.message_id, m.send_time, m.subject)
        for m in upcoming_messages(con, now)
        if m.messages == 1
    ]


def subject_actions(
    con: Any, active: list[LoopwiseTest], now: datetime, notes: list[str] | None = None
) -> list[ProposedAction]:
    """One ``apply_test_subject`` per upcoming campaign whose subject does not show the active tests yet."""
    notes = notes if notes is not None else []
    bases = _applied_bases(con)
    newest = active[-1]
    actions = []
    for message in upcoming_messages(con, now):
        current, name = message.subject, message.campaign_name
        base = bases.get(message.target_id) if TEMPLATE_MARK in current else current
        if base is None:
            notes.append(
                f"campaign {name!r}: its subject is a test template Loopwise did not write; left alone"
            )
            continue
        subject = conditional_subject(base, active)
        if subject == current:
            continue
        styles = ", ".join(f"'{test.styled(base)}'" for test in active)
        arm = f" (the A/B test's message '{base}')" if message.messages > 1 else ""
        actions.append(
            ProposedAction(
                source="experiments",
                action_type="apply_test_subject",
                platform="klaviyo",
                target_id=message.target_id,
                payload={
                    "test_id": newest.test_id,
                    "test_ids": [test.test_id for test in active],
                    "library_id": newest.library_id,
                    "library_ids": [test.library_id for test in active],
                    "campaign_id": message.campaign_id,
                    "message_id": message.message_id,
                    "campaign_name": name,
                    "base_subject": base,
                    "subject": subject,
                },
                reason=(
                    f"Campaign '{name}'{arm} (sends {message.send_time:%Y-%m-%d %H:%M} UTC): the variant arm "
                    f"of {', '.join(test.test_id for test in active)} sees {styles} instead of '{base}'."
                ),
                auto_apply_allowed=True,  # covered by the executed launches of these tests
                evidence={"send_time": message.send_time, "current_subject": current},
                reason_code="running_test",
            )
        )
    return actions
