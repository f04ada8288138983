"""policy.yaml: loading, one-line errors, and the verdicts and hard limits it implies."""

from __future__ import annotations

from datetime import date

import pytest

from core.settings import REPO_ROOT, policy_path
from decision_engine.governance import (
    HUMAN_ONLY_KINDS,
    ActionRow,
    ExecutionContext,
    hard_limit_violations,
    verdict,
)
from decision_engine.policy import Policy, PolicyError, load_policy, parse_policy

TODAY = date(2026, 5, 2)


def test_the_shipped_policy_file_is_the_defaults():
    """Except the libraries of approved content: the file lists the demo's, the defaults are empty
    (nothing is tested or chosen unless a human lists it)."""
    shipped = load_policy(REPO_ROOT / "policy.yaml")
    assert [entry.id for entry in shipped.experiments.library] == [
        "inside",
        "quick_read",
        "question",
        "you_asked",
    ]
    assert [v.angle for v in shipped.content_choice.library] == [
        "case_study",
        "how_to",
        "comparison",
        "promotion",
    ]
    without_library = shipped.model_copy(
        update={
            "experiments": shipped.experiments.model_copy(update={"library": ()}),
            "content_choice": shipped.content_choice.model_copy(update={"library": ()}),
        }
    )
    assert without_library == Policy()
    assert parse_policy("") == Policy()
    assert Policy().experiments.library == () and Policy().content_choice.library == ()


def test_the_policy_path_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("LOOPWISE_POLICY", raising=False)
    assert policy_path() == REPO_ROOT / "policy.yaml"
    custom = tmp_path / "strict.yaml"
    custom.write_text("autonomy: recommend\n")
    monkeypatch.setenv("LOOPWISE_POLICY", str(custom))
    assert policy_path() == custom
    assert load_policy().autonomy == "recommend"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("budget:\n  max_change_pct: 250\n", "budget.max_change_pct: must be between 0 and 100 (got 250)"),
        ("budget:\n  maxchange: 5\n", "budget.maxchange: unknown key"),
        ("version: 1\nbudget:\n  - [\n", "not valid YAML (line 4)"),
        ("autonomy: sometimes\n", "autonomy: must be 'off', 'recommend' or 'auto' (got 'sometimes')"),
        ("budget: {max_change_pct: '20'}\n", "budget.max_change_pct: must be a valid number (got '20')"),
        ("budget: {max_change_pct: 5}\n", "budget.auto_approve_max_change_pct: must not exceed"),
        ("send_time: {explore_share: 0.6, holdout_share: 0.5}\n", "explore_share + holdout_share"),
        ("blackout_dates: [2026-13-01]\n", "blackout_dates: '2026-13-01' is not an ISO date"),
        ("execution: {max_attempts: 0}\n", "execution.max_attempts: must be at least 1 (got 0)"),
        (
            "budget: {objective: lifetime_value}\n",
            "budget.objective: must be 'platform_revenue', 'customer_value' or 'crm_won_revenue' (got 'lifetime_value')",
        ),
        ("- autonomy: auto\n", "must be a mapping of keys (got list)"),
        (
            "experiments: {library: [{id: a, factor: f, level: l, subject_template: 'Hi'}]}\n",
            "experiments.library.subject_template: must contain {subject} exactly once (got 'Hi')",
        ),
        (
            "experiments: {library: [{id: a, factor: f, level: l, subject_template: '{subject} {name}'}]}\n",
            "experiments.library.subject_template: may hold no braces",
        ),
        (
            "experiments: {library: [{id: a, factor: f, level: l, subject_template: '{subject}', tone: warm}]}\n",
            "experiments.library.tone: unknown key",
        ),
        (
            "experiments: {library: [{id: Quick Read, factor: f, level: l, subject_template: '{subject}'}]}\n",
            "experiments.library.id: String should match pattern",
        ),
        (
            "experiments:\n  library:\n"
            "    - {id: a, factor: f, level: l, subject_template: '{subject}!'}\n"
            "    - {id: a, factor: f, level: m, subject_template: '{subject}?'}\n",
            "experiments.library: ids must be unique (repeated: a)",
        ),
        (
            "experiments: {max_running_tests: -1}\n",
            "experiments.max_running_tests: must be at least 0 (got -1)",
        ),
        ("experiments: {test_share: 1.5}\n", "experiments.test_share: must be between 0 and 1 (got 1.5)"),
        ("experiments: {auto_launch: 'yes'}\n", "experiments.auto_launch: must be a valid boolean"),
        (
            "content_choice: {library: [{angle: how_to, preview_template: 'how to | {topic} {name}'}]}\n",
            "content_choice.library.preview_template: must be non-empty text with no braces",
        ),
        (
            "content_choice: {library: [{angle: How To, preview_template: 'how to | {topic}'}]}\n",
            "content_choice.library.angle: String should match pattern",
        ),
        (
            "content_choice:\n  library:\n"
            "    - {angle: how_to, preview_template: 'how to | {topic}'}\n"
            "    - {angle: how_to, preview_template: 'guide | {topic}'}\n",
            "content_choice.library: angles must be unique (repeated: how_to)",
        ),
        ("content_choice: {holdout_share: 1.2}\n", "content_choice.holdout_share: must be between 0 and 1"),
    ],
)
def test_a_bad_policy_is_one_line_naming_file_and_key(tmp_path, text, message):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    line = str(raised.value)
    assert line.startswith(f"{path}: ") and message in line
    assert "\n" not in line


def test_the_budget_objective_defaults_to_platform_revenue():
    assert Policy().budget.objective == "platform_revenue"
    assert parse_policy("budget: {objective: customer_value}\n").budget.objective == "customer_value"
    assert parse_policy("budget: {objective: crm_won_revenue}\n").budget.objective == "crm_won_revenue"


def test_a_missing_policy_file_is_one_line(tmp_path):
    with pytest.raises(PolicyError, match="missing.yaml: file not found"):
        load_policy(tmp_path / "missing.yaml")


def test_a_bare_off_is_the_kill_switch_and_dates_parse():
    policy = parse_policy("autonomy: off\nblackout_dates: [2026-11-27, '2026-12-24']\n")
    assert policy.autonomy == "off"
    assert policy.blackout_dates == (date(2026, 11, 27), date(2026, 12, 24))


def test_as_dict_and_hash_are_stable_and_change_with_the_policy():
    policy = parse_policy("budget: {frozen: [google_ads]}\n")
    assert policy.as_dict()["budget"]["frozen"] == ["google_ads"]
    assert policy.as_dict()["execution"] == {"max_attempts": 3}
    assert policy.hash() == parse_policy("budget:\n  frozen: [google_ads]\n").hash()
    assert policy.hash() != Policy().hash() and len(policy.hash()) == 16


def _budget(new=105.0, current=100.0, **payload) -> ActionRow:
    return ActionRow(
        action_id="a1",
        action_type="set_daily_budget",
        platform=payload.pop("platform", "meta_ads"),
        target_id=payload.pop("target_id", "adset1"),
        payload={"daily_budget": new, "current_daily_budget": current, "currency": "USD", **payload},
        auto_apply_allowed=True,
    )


def _judge(action, policy_text="", **context):
    return verdict(action, parse_policy(policy_text), ExecutionContext(today=TODAY, **context))


def test_budget_verdicts_follow_the_two_thresholds():
    assert _judge(_budget(109.0)).status == "auto_approved"
    assert _judge(_budget(111.0)).status == "pending_approval"
    assert _judge(_budget(121.0)).status == "rejected"
    assert _judge(_budget(105.0), "autonomy: recommend").reason_code == "autonomy_recommend"


@pytest.mark.parametrize(("current", "new"), [(661.0, 727.1), (661.0, 594.9), (692.0, 761.2), (746.0, 671.4)])
def test_a_move_exactly_at_a_limit_is_within_it(current, new):
    # (727.1 - 661) / 661 computes as 10.000000000000004%: float error must not make it wait or fail
    assert abs(new - current) / current * 100 > 10  # the float error this guards against
    assert _judge(_budget(new, current)).status == "auto_approved"
    doubled = current + 2 * (new - current)
    assert (
        _judge(_budget(doubled, current), "budget: {auto_approve_max_change_pct: 20}").status
        == "auto_approved"
    )
    assert _judge(_budget(new + (0.01 if new > current else -0.01), current)).status == "pending_approval"


@pytest.mark.parametrize(
    ("action", "policy_text", "context", "code_text"),
    [
        (_budget(4.5, 5.0), "", {}, "below the minimum 5"),
        (_budget(105.0, target_id="adset9"), "budget: {frozen: [adset9]}", {}, "entity adset9 is frozen"),
        (_budget(105.0), "budget: {frozen: [meta_ads]}", {}, "platform meta_ads is frozen"),
        (_budget(105.0, explicitly_shared=True), "", {}, "explicitly shared budget"),
        (_budget(105.0), "", {"day_start_budget": 85.0}, "23.5% from 85"),
        (_budget(105.0), "budget: {max_total_daily_budget: 1000}", {"account_total": 996.0}, "would be 1001"),
        (_budget(105.0), "budget: {max_total_daily_budget: 1000}", {}, "daily total is unknown"),
        (_budget("lots"), "", {}, "no valid daily_budget"),
    ],
)
def test_each_hard_limit_rejects(action, policy_text, context, code_text):
    judged = _judge(action, policy_text, **context)
    assert judged.status == "rejected"
    assert any(code_text in reason for reason in judged.reasons), judged.reasons


def test_shared_budgets_pass_only_when_allowed():
    shared = _budget(105.0, explicitly_shared=True)
    assert _judge(shared, "budget: {allow_shared_budgets: true}").status == "auto_approved"


def test_kill_switch_and_blackout_stop_execution_without_rejecting():
    action = _budget(105.0)
    off = parse_policy("autonomy: off")
    assert _judge(action, "autonomy: off").status == "pending_approval"
    assert hard_limit_violations(action, off, ExecutionContext(TODAY)) == [
        "autonomy is off (kill switch): nothing executes"
    ]
    blackout = parse_policy(f"blackout_dates: ['{TODAY.isoformat()}']")
    assert _judge(action, f"blackout_dates: ['{TODAY.isoformat()}']").status == "auto_approved"
    assert "blackout date" in hard_limit_violations(action, blackout, ExecutionContext(TODAY))[0]
    assert hard_limit_violations(action, blackout, ExecutionContext(date(2026, 5, 3))) == []


def _kind(kind, **payload) -> ActionRow:
    return ActionRow("k1", kind, "klaviyo", "c1", payload, auto_apply_allowed=True)


@pytest.mark.parametrize("kind", sorted(HUMAN_ONLY_KINDS))
def test_human_only_kinds_always_wait_for_a_human(kind):
    everything_auto = "content: {auto_apply: true}\nrollback: {auto_execute: true}\n"
    judged = _judge(_kind(kind), everything_auto)
    assert (judged.status, judged.reason_code) == ("pending_approval", "human_only")


@pytest.mark.parametrize(
    ("kind", "switch"),
    [("set_content", "content: {auto_apply: true}"), ("flow_content", "content: {auto_apply: true}"),
     ("reverse_change", "rollback: {auto_execute: true}"), ("schedule_send_times", "send_time: {auto_apply: true}"),
     ("personalize_content", "content_choice: {auto_apply: true}")],
)  # fmt: skip
def test_switchable_kinds_follow_their_setting(kind, switch):
    assert _judge(_kind(kind), switch).status == "auto_approved"
    switched_off = switch.replace("true", "false")
    assert _judge(_kind(kind), switched_off).status == "pending_approval"


def test_an_unknown_kind_is_rejected_and_engine_caution_is_respected():
    assert _judge(_kind("delete_account")).reason_code == "unknown_action_type"
    cautious = ActionRow(
        "a1", "set_daily_budget", "meta_ads", "x", _budget().payload, auto_apply_allowed=False
    )
    assert _judge(cautious).reason_code == "engine_requires_approval"


def test_rollout_reads_todays_engine_evidence():
    """Today's experiments engine puts arm sizes and the chance in ``evidence``."""
    action = ActionRow(
        "r1", "rollout_winner", "klaviyo", "exp1", {"winner_variant": "B"}, auto_apply_allowed=True,
        evidence={"n_control": 4000, "n_variant": 3900, "chance_to_beat_control": 0.97},
    )  # fmt: skip
    assert _judge(action).status == "auto_approved"
    assert _judge(action, "experiments: {min_chance_to_beat_control: 0.99}").reason_code == (
        "low_chance_to_beat_control"
    )
    assert _judge(action, "experiments: {auto_ship: false}").reason_code == "auto_ship_off"


LIBRARY = (
    "experiments:\n  library:\n"
    "    - {id: quick_read, factor: subject_style, level: quick_read, subject_template: 'Quick read: {subject}'}\n"
)


def test_launching_a_library_test_follows_auto_launch_and_content_must_be_in_the_library():
    launch = _kind("launch_experiment", library_id="quick_read", test_id="lw-quick_read-20260502")
    assert _judge(launch, LIBRARY).status == "auto_approved"
    held = _judge(launch, LIBRARY + "  auto_launch: false\n")
    assert (held.status, held.reason_code) == ("pending_approval", "auto_launch_off")
    unknown = _judge(_kind("launch_experiment", library_id="shouting"), LIBRARY)
    assert (unknown.status, unknown.reason_code) == ("rejected", "not_in_library")


def test_a_test_subject_is_library_content_covered_by_the_launch():
    subject = _kind("apply_test_subject", library_id="quick_read", library_ids=["quick_read"], subject="s")
    # content.auto_apply (false by default) does not hold it: the library entry was approved
    assert _judge(subject, LIBRARY).status == "auto_approved"
    removed = _kind("apply_test_subject", library_id="quick_read", library_ids=["quick_read", "gone"])
    assert _judge(removed, LIBRARY).reason_code == "not_in_library"
    # the content left the library after approval: the write is stopped at write time too
    assert hard_limit_violations(subject, Policy(), ExecutionContext(TODAY)) == [
        "test content 'quick_read' is not in the policy's experiments.library"
    ]
