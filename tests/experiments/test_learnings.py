"""Learnings: the DerSimonian-Laird pool against statsmodels, the subject-style mapping, and one
run over a small warehouse whose campaign tests carry a known style effect."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from core.results_schema import column_names
from decision_engine.experiments import ExperimentRunConfig, run_experiment_analysis
from decision_engine.experiments.factors import (
    PLAIN,
    SUBJECT_STYLE,
    FactorLevel,
    LibraryEntry,
    classify_subject_change,
    library_entries,
    library_id_of_test,
    subject_styles,
)
from decision_engine.experiments.learnings import concluded_experiments, run_learnings
from decision_engine.experiments.meta_analysis import pool_random_effects, subgroup_difference
from decision_engine.experiments.simulation import synthetic_exposures
from decision_engine.policy import Policy as DefaultPolicy

NOW = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)

# ---------------------------------------------------------------- the pool against statsmodels


@pytest.mark.parametrize(
    ("effects", "variances"),
    [
        ([0.10, 0.30, -0.05, 0.20], [0.010, 0.020, 0.015, 0.030]),  # heterogeneous: tau^2 > 0
        ([0.05, 0.06, 0.04], [0.04, 0.05, 0.03]),  # homogeneous: tau^2 = 0
        ([0.8, -0.4], [0.01, 0.02]),  # two tests far apart
        (
            list(np.random.default_rng(3).normal(0.1, 0.2, 12)),
            list(np.random.default_rng(4).uniform(0.005, 0.05, 12)),
        ),
    ],
)
def test_pool_matches_statsmodels_combine_effects(effects: list[float], variances: list[float]) -> None:
    ours = pool_random_effects(np.array(effects), np.array(variances))
    reference = combine_effects(np.array(effects), np.array(variances), method_re="dl")
    fixed_interval, random_interval = reference.conf_int(use_t=False)[:2]
    if reference.tau2 < 0:
        # statsmodels' one-step "dl" leaves tau^2 negative when Q < k - 1 (statsmodels PR #6632:
        # tau2 = (q - df) / c); DerSimonian-Laird truncate it at 0, where the random-effects pool
        # is the fixed-effect one, which statsmodels reports beside it
        assert ours.tau2 == 0.0
        estimate, standard_error, (low, high) = (
            reference.mean_effect_fe,
            reference.sd_eff_w_fe,
            fixed_interval,
        )
    else:
        assert ours.tau2 == pytest.approx(reference.tau2, rel=1e-10)
        estimate, standard_error, (low, high) = (
            reference.mean_effect_re,
            reference.sd_eff_w_re,
            random_interval,
        )
    assert ours.estimate == pytest.approx(estimate, rel=1e-10, abs=1e-12)
    assert ours.standard_error == pytest.approx(standard_error, rel=1e-10)
    assert ours.q == pytest.approx(reference.q, rel=1e-10)
    assert ours.i2 == pytest.approx(max(0.0, reference.i2), abs=1e-10)
    assert (ours.ci_lower, ours.ci_upper) == (pytest.approx(low, rel=1e-10), pytest.approx(high, rel=1e-10))
    assert ours.tests == len(effects)


def test_pool_of_one_test_is_that_test_and_prediction_interval_needs_three() -> None:
    one = pool_random_effects(np.array([0.2]), np.array([0.01]))
    assert (one.estimate, one.tau2, one.i2) == (pytest.approx(0.2), 0.0, 0.0)
    assert one.ci_upper - one.ci_lower == pytest.approx(2 * 1.959964 * 0.1, rel=1e-5)
    assert one.prediction_lower is None
    three = pool_random_effects(np.array([0.1, 0.3, -0.05]), np.array([0.01, 0.02, 0.015]))
    # Higgins et al.: mu +/- t(k-2) sqrt(tau^2 + se^2); with k = 3, t has 1 df
    half = 12.7062047 * np.sqrt(three.tau2 + three.standard_error**2)
    assert three.prediction_upper == pytest.approx(three.estimate + half, rel=1e-6)


def test_pool_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        pool_random_effects(np.array([0.1, 0.2]), np.array([0.01, 0.0]))
    with pytest.raises(ValueError):
        pool_random_effects(np.array([]), np.array([]))


def test_subgroup_difference_is_cochran_q() -> None:
    assert subgroup_difference(np.array([0.1]), np.array([0.1])) is None
    assert subgroup_difference(np.array([0.1, 0.1]), np.array([0.05, 0.05])) == pytest.approx(1.0)
    assert subgroup_difference(np.array([0.5, -0.5]), np.array([0.1, 0.1])) < 1e-6


# ---------------------------------------------------------------- what a comparison varies

STYLES = subject_styles()


@pytest.mark.parametrize(
    ("control", "variant", "expected"),
    [
        (
            "Build your first dashboard",
            "Quick read: Build your first dashboard",
            FactorLevel(SUBJECT_STYLE, "quick_read", PLAIN, 1),
        ),
        (
            "Pricing plans compared?",
            "Pricing plans compared",
            FactorLevel(SUBJECT_STYLE, "question", PLAIN, -1),
        ),
        ("Build or buy?", "Build or buy??", FactorLevel(SUBJECT_STYLE, "question", PLAIN, 1)),
        (
            "You asked: Build or buy?",
            "Build or buy? (inside)",
            FactorLevel(SUBJECT_STYLE, "inside", "you_asked", 1),
        ),
        (
            "Build or buy? (inside)",
            "You asked: Build or buy?",
            FactorLevel(SUBJECT_STYLE, "inside", "you_asked", -1),
        ),
        ("quick READ:   build or buy?", "Build or buy?", FactorLevel(SUBJECT_STYLE, "quick_read", PLAIN, -1)),
        ("Last chance: spring offer", "Last chance: spring offer", None),  # A/A
        ("Last chance: spring offer", "Quick read: 20% off annual plans", None),  # different copy
        ("Welcome: step 3", "Welcome: step 3 - new angle", None),  # no known style
        (None, "Quick read: x", None),
    ],
)
def test_classify_subject_change(control, variant, expected) -> None:  # noqa: ANN001
    assert classify_subject_change(control, variant, STYLES) == expected


def test_library_templates_teach_the_mapping_new_house_styles() -> None:
    library = library_entries(
        [
            {
                "id": "last_call",
                "factor": SUBJECT_STYLE,
                "level": "last_call",
                "subject_template": "Last call: {subject}",
            }
        ]
    )
    assert classify_subject_change("Spring offer", "Last call: Spring offer", STYLES) is None
    found = classify_subject_change("Spring offer", "Last call: Spring offer", subject_styles(library))
    assert found == FactorLevel(SUBJECT_STYLE, "last_call", PLAIN, 1)


def test_library_entries_adapter_reads_a_policy_or_entries() -> None:
    class Experiments:
        library = ({"id": "quick_read", "factor": SUBJECT_STYLE, "level": "quick_read"},)

    class Policy:
        experiments = Experiments()

    assert library_entries(Policy()) == (LibraryEntry("quick_read", SUBJECT_STYLE, "quick_read"),)
    assert library_entries(DefaultPolicy()) == ()  # a policy without library entries
    with pytest.raises(ValueError):
        library_entries([{"factor": SUBJECT_STYLE}])


def test_library_id_of_test() -> None:
    assert library_id_of_test("loopwise:lw-quick_read-20260301") == "quick_read"
    assert library_id_of_test("lw-you_asked-20260301") == "you_asked"
    assert library_id_of_test("campaign_ab:123") is None
    assert library_id_of_test("lw-quick_read-2026") is None


# ---------------------------------------------------------------- one run on a small warehouse

QUICK_READ_CLICK_LIFT = 1.6  # true effect of "Quick read:" on clicks in these tests
SEGMENTS = np.array(["lead", None, "customer", "subscriber"], dtype=object)


def _campaign(experiment_id: str, start: str, seed: int, lift: float = QUICK_READ_CLICK_LIFT) -> pd.DataFrame:
    return synthetic_exposures(
        {"Variant A": 6000, "Variant B": 6000},
        experiment_id=experiment_id,
        control="Variant A",
        lifts={"Variant B": {"is_clicked": lift}},
        days=2,
        start=start,
        seed=seed,
    )


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    # four settled quick_read tests (control plain twice, control styled twice), an A/A test, one
    # test of different copy, and a quick_read test still sending (not concluded)
    tests = [
        ("campaign_ab:c1", "2026-01-05", 1, ("Build or buy?", "Quick read: Build or buy?")),
        (
            "campaign_ab:c2",
            "2026-01-12",
            2,
            ("Automate weekly reports", "Quick read: Automate weekly reports"),
        ),
        ("campaign_ab:c3", "2026-01-19", 3, ("Quick read: Pricing plans compared", "Pricing plans compared")),
        ("campaign_ab:c4", "2026-01-26", 4, ("Quick read: 20% off annual plans", "20% off annual plans")),
        ("campaign_ab:c5", "2026-02-02", 5, ("Last chance: spring offer", "Last chance: spring offer")),
        ("campaign_ab:c6", "2026-02-09", 6, ("Spreadsheets vs. Loopwise", "Build or buy?")),
        (
            "campaign_ab:c7",
            "2026-02-27",
            7,
            ("Free onboarding this week", "Quick read: Free onboarding this week"),
        ),
    ]
    frames, messages = [], []
    for experiment_id, start, seed, (control_subject, variant_subject) in tests:
        # a styled control carries the style: the plain variant then shows the inverse effect
        lift = (
            QUICK_READ_CLICK_LIFT
            if control_subject.startswith("Quick read") is False
            else 1 / QUICK_READ_CLICK_LIFT
        )
        if control_subject == variant_subject or "Quick read" not in control_subject + variant_subject:
            lift = 1.0
        frames.append(_campaign(experiment_id, start, seed, lift))
        campaign_id = experiment_id.split(":")[1]
        # c2's arms carried a running Loopwise test's style for its variant arm (its blocks are not
        # the marketer's subjects, which the learnings read)
        running = "{% if person|lookup:'lw_arm_you_asked_20260110' == 'variant' %}You asked: {% endif %}"
        for label, subject in (("Variant A", control_subject), ("Variant B", variant_subject)):
            subject = running + subject if campaign_id == "c2" else subject
            messages.append(
                {"message_id": f"{campaign_id}-{label[-1]}", "send_type": "campaign", "campaign_id": campaign_id,
                 "variant_label": label, "subject": subject}
            )  # fmt: skip
    exposures = pd.concat(frames, ignore_index=True)
    units = exposures["unit_id"].unique()
    contacts = pd.DataFrame(
        {"contact_id": units, "lifecycle_stage": SEGMENTS[np.arange(len(units)) % len(SEGMENTS)],
         "is_subscribed": True, "is_in_global_holdout": False}
    )  # fmt: skip
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    for name, frame in (
        ("fct_experiment_exposures", exposures),
        ("dim_contacts", contacts),
        ("dim_email_messages", pd.DataFrame(messages)),
    ):
        con.register("frame", frame)
        con.execute(f"create table marts.{name} as select * from frame")
        con.unregister("frame")
    return con


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    con = _warehouse(tmp_path_factory.mktemp("learnings") / "warehouse.duckdb")
    run_experiment_analysis(con, ExperimentRunConfig(), NOW)
    # c7 is still sending: whatever its first look says, it is undecided until it settles
    con.execute(
        "update results.experiment_decisions set decision = 'continue' where experiment_id = 'campaign_ab:c7'"
    )
    run = run_learnings(con, NOW)
    yield con, run
    con.close()


def test_only_concluded_tests_enter(learned) -> None:  # noqa: ANN001
    con, run = learned
    concluded, data_date = concluded_experiments(con)
    assert str(data_date) == "2026-02-28"
    assert "campaign_ab:c7" not in concluded  # still sending, no final decision
    assert {"campaign_ab:c1", "campaign_ab:c4", "campaign_ab:c5"} <= set(concluded)
    pooled = set(run.comparisons["experiment_id"])
    assert pooled == {"campaign_ab:c1", "campaign_ab:c2", "campaign_ab:c3", "campaign_ab:c4"}
    assert any("left out" in note for note in run.notes)  # the A/A test and the different copy


def test_pooled_click_effect_recovers_the_true_style_effect(learned) -> None:  # noqa: ANN001
    _, run = learned
    written = run.learnings
    assert list(written.columns) == column_names("learnings")
    row = written[(written["level"] == "quick_read") & (written["metric"] == "click_rate")].iloc[0]
    assert (row["factor"], row["reference_level"], row["tests"]) == (SUBJECT_STYLE, PLAIN, 4)
    assert row["ci_lower"] < QUICK_READ_CLICK_LIFT - 1 < row["ci_upper"]
    assert row["ci_lower"] > 0  # four tests of a +60% click effect: clearly positive
    assert sorted(json.loads(row["experiment_ids"])) == [f"campaign_ab:c{i}" for i in range(1, 5)]
    # the same pool statsmodels computes from the per-test effects the run used
    used = run.comparisons[
        (run.comparisons["level"] == "quick_read") & (run.comparisons["metric"] == "click_rate")
    ]
    reference = combine_effects(used["effect"].to_numpy(), used["variance"].to_numpy(), method_re="dl")
    pooled = reference.mean_effect_re if reference.tau2 >= 0 else reference.mean_effect_fe
    assert row["pooled_relative_effect"] == pytest.approx(np.expm1(pooled), rel=1e-9)
    assert row["tau2"] == pytest.approx(max(0.0, reference.tau2), abs=1e-12)
    # flipped comparisons (styled control) point the same way as the others
    assert (used["effect"] > 0).all()


def test_the_effect_holds_by_segment(learned) -> None:  # noqa: ANN001
    _, run = learned
    row = run.learnings[
        (run.learnings["level"] == "quick_read") & (run.learnings["metric"] == "click_rate")
    ].iloc[0]
    segments = json.loads(row["segment_effects"])
    assert set(segments) == {"no_crm_stage", "subscriber_or_lead", "qualified_or_later"}
    assert row["segments"] == 3 and row["segments_agreeing"] == 3 and bool(row["holds_by_segment"])
    assert all(segment["tests"] == 4 for segment in segments.values())
    assert row["segment_difference_p_value"] > 0.001  # one effect everywhere


def test_rerun_replaces_the_same_data_date(learned) -> None:  # noqa: ANN001
    con, run = learned
    run_learnings(con, NOW)
    (count,) = con.execute("select count(*) from results.learnings").fetchone()
    assert count == len(run.learnings)
