"""Simulations: daily looks for 4 weeks keep the false-positive rate at alpha under the
sequential method, the naive daily-peeking fixed test does not; power at the planned MDE."""

from __future__ import annotations

import numpy as np
import pytest

from decision_engine.experiments import (
    AnalysisConfig,
    ExperimentPlan,
    MetricSpec,
    analyze_experiments,
    inference,
    planning,
)
from decision_engine.experiments.sequential import SequentialDesign, power_retention, sequential_p_value

from .simulate import fixed_p_values, sequential_rejections, simulate_daily_counts, to_statistics_frame

LOOKS = 28
EXPERIMENTS = 4000
BASELINE = 0.04
RELATIVE_MDE = 0.2


@pytest.fixture(scope="module")
def aa_looks():
    return simulate_daily_counts(EXPERIMENTS, LOOKS, 400, BASELINE, BASELINE, seed=2024)


def test_aa_daily_peeking(aa_looks, record_property) -> None:
    p_values, _, _ = fixed_p_values(aa_looks)
    naive = float((p_values < 0.05).any(axis=1).mean())
    final_only = float((p_values[:, -1] < 0.05).mean())
    calibrated = float(sequential_rejections(aa_looks, SequentialDesign(mode="calibrated")).mean())
    always_valid = float(sequential_rejections(aa_looks, SequentialDesign(mode="always_valid")).mean())
    record_property(
        "fpr",
        {"naive": naive, "final_only": final_only, "calibrated": calibrated, "always_valid": always_valid},
    )
    print(f"A/A FPR over {EXPERIMENTS} experiments, {LOOKS} daily looks: naive {naive:.3f}, "
          f"single final look {final_only:.3f}, sequential calibrated {calibrated:.3f}, always-valid {always_valid:.3f}")  # fmt: skip
    se = np.sqrt(0.05 * 0.95 / EXPERIMENTS)
    assert abs(final_only - 0.05) < 4 * se
    assert 0.035 <= calibrated <= 0.065
    assert always_valid <= 0.05 + 2 * se
    assert 0.18 <= naive <= 0.30


def test_power_at_planned_mde(record_property) -> None:
    n_per_arm = planning.required_sample_size_for_proportion(BASELINE, RELATIVE_MDE)
    per_day = int(np.ceil(n_per_arm / LOOKS))
    data = simulate_daily_counts(3000, LOOKS, per_day, BASELINE, BASELINE * (1 + RELATIVE_MDE), seed=99)
    p_values, _, _ = fixed_p_values(data)
    fixed_power = float((p_values[:, -1] < 0.05).mean())
    calibrated = float(sequential_rejections(data, SequentialDesign(mode="calibrated")).mean())
    always_valid = float(sequential_rejections(data, SequentialDesign(mode="always_valid")).mean())
    record_property("power", {"fixed": fixed_power, "calibrated": calibrated, "always_valid": always_valid})
    print(f"power at planned MDE ({RELATIVE_MDE:.0%} on {BASELINE:.0%}, n={n_per_arm}/arm): fixed {fixed_power:.3f}, "
          f"sequential calibrated {calibrated:.3f}, always-valid {always_valid:.3f}")  # fmt: skip
    se = np.sqrt(0.8 * 0.2 / 3000)
    assert fixed_power >= 0.80 - 2 * se
    assert calibrated >= 0.6
    assert always_valid >= 0.4
    retention = power_retention(0.8, SequentialDesign(mode="calibrated"))
    assert retention.retained_share == pytest.approx(calibrated / fixed_power, abs=0.06)


def test_engine_path_matches_vectorised_simulation() -> None:
    data = simulate_daily_counts(60, LOOKS, 400, BASELINE, BASELINE, seed=7)
    stats = to_statistics_frame(data)
    metrics = [MetricSpec("conversion_rate", "proportion", "is_converted")]
    plans = {f"sim_{i}": ExperimentPlan(f"sim_{i}", primary_metric="conversion_rate") for i in range(60)}
    results = analyze_experiments(stats, metrics, plans, AnalysisConfig())
    last = results[results["analysis_date"] == results["analysis_date"].max()].sort_values(
        "experiment_id", key=lambda s: s.str[4:].astype(int)
    )
    p_values, lift, se = fixed_p_values(data)
    np.testing.assert_allclose(last["p_value"].to_numpy(float), p_values[:, -1], atol=1e-12)
    design = SequentialDesign()
    from decision_engine.experiments.sequential import sequential_inference

    fraction = np.broadcast_to(np.arange(1, LOOKS + 1) / LOOKS, lift.shape)
    # the engine floors the test's SE at the pooled H0 SE (robust to arms without events)
    null_se = np.sqrt(
        inference.pooled_proportion_null_variance(
            data.n_control, data.sum_control, data.n_variant, data.sum_variant
        )
    )
    running = np.maximum.accumulate(
        sequential_inference(lift, np.fmax(se, null_se), fraction, design).log_likelihood_ratio, axis=1
    )
    np.testing.assert_allclose(
        last["sequential_p_value"].to_numpy(float), sequential_p_value(running[:, -1], design), atol=1e-12
    )
    # the sequential interval only narrows over time (running intersection)
    one = results[results["experiment_id"] == "sim_0"].sort_values("analysis_date")
    assert (np.diff(one["sequential_ci_lower"].to_numpy()) >= -1e-15).all()
    assert (np.diff(one["sequential_ci_upper"].to_numpy()) <= 1e-15).all()


def test_srm_flags_small_imbalance_at_scale() -> None:
    data = simulate_daily_counts(1, 1, 1, BASELINE, BASELINE, seed=1)
    stats = to_statistics_frame(data)
    stats.loc[stats["variant"] == "A", ["n_units", "n"]] = 101_600
    stats.loc[stats["variant"] == "B", ["n_units", "n"]] = 98_400
    stats["sum_y"] = stats["sum_yy"] = 4000.0
    metrics = [MetricSpec("conversion_rate", "proportion", "is_converted")]
    plan = {
        "sim_0": ExperimentPlan("sim_0", primary_metric="conversion_rate", planned_split={"A": 0.5, "B": 0.5})
    }
    results = analyze_experiments(stats, metrics, plan)
    assert bool(results["srm_flag"].iloc[0])
    assert results["srm_p_value"].iloc[0] < 1e-6
    assert "sample ratio mismatch" in results["note"].iloc[0]
    stats.loc[stats["variant"] == "A", ["n_units", "n"]] = 100_100
    stats.loc[stats["variant"] == "B", ["n_units", "n"]] = 99_900
    assert not bool(analyze_experiments(stats, metrics, plan)["srm_flag"].iloc[0])
