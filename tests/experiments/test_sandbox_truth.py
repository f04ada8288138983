"""The engine against the sandbox's planted truth: exposures from a seeded world's simulated
events (see ``sandbox_exposures``), true lifts from ``sandbox.truth``."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from decision_engine.experiments import (
    analyze_experiments,
    compute_sufficient_statistics,
    decide_experiments,
    default_plans,
)
from sandbox import World, WorldSpec

from .sandbox_exposures import world_and_truth

DECISIONS = {"ship", "keep_control", "continue", "stop_for_harm", "report"}


def _analyse(spec: WorldSpec) -> tuple[pd.DataFrame, pd.DataFrame, list, pd.DataFrame]:
    exposures, effects = world_and_truth(World(spec))
    con = duckdb.connect()
    con.register("exposures", exposures)
    types = dict(exposures[["experiment_id", "experiment_type"]].drop_duplicates().itertuples(index=False))
    plans = default_plans(types)
    stats = compute_sufficient_statistics(con, "exposures")
    results = analyze_experiments(stats.stats, plans=plans, contamination=stats.contamination)
    decisions, actions = decide_experiments(results, plans)
    latest = results[
        results["analysis_date"] == results.groupby("experiment_id")["analysis_date"].transform("max")
    ]
    truth = pd.DataFrame([e.__dict__ for e in effects]).merge(
        latest, on=["experiment_id", "variant", "metric"], how="inner"
    )
    return results, decisions, actions, truth


@pytest.fixture(scope="module")
def tiny() -> tuple[pd.DataFrame, pd.DataFrame, list, pd.DataFrame]:
    return _analyse(WorldSpec.preset("tiny", seed=7))


@pytest.fixture(scope="module")
def large_cells() -> tuple[pd.DataFrame, pd.DataFrame, list, pd.DataFrame]:
    # ~4,000-7,000 recipients per arm: big enough for the larger planted click lifts
    return _analyse(WorldSpec.preset("demo", seed=3, n_contacts=40_000, days=42, test_share=0.5))


def test_tiny_world_explains_too_few_clicks_without_nan(tiny) -> None:
    results, decisions, actions, _ = tiny
    assert set(decisions["decision"]) <= DECISIONS
    assert not actions
    for text in decisions["explanation"]:
        assert not re.search(r"nan|inf\b|Variant Variant", text, re.IGNORECASE), text
    too_few = decisions[decisions["explanation"].str.startswith("Too few clicks yet to estimate a lift: ")]
    assert len(too_few) >= 3
    assert (too_few["decision"] == "continue").all()
    assert too_few["explanation"].str.contains(r"\d+ of \d+").all()
    # a relative lift cannot fall below -100%; zero-event arms get no interval at all
    for prefix in ("relative_ci_", "sequential_relative_ci_"):
        lower = results[prefix + "lower"].dropna()
        assert (lower >= -1.0).all()
    zero_arm = (results["metric_kind"] != "mean") & (
        (results["numerator_control"] == 0) | (results["numerator_variant"] == 0)
    )
    assert zero_arm.any()
    assert results.loc[zero_arm, ["relative_ci_lower", "sequential_relative_ci_upper"]].isna().all().all()


def test_confidence_intervals_cover_planted_lifts(large_cells) -> None:
    _, _, _, truth = large_cells
    finite = truth[np.isfinite(truth["relative_ci_lower"])]
    assert len(finite) >= 30
    inside = (finite["relative_ci_lower"] <= finite["true_relative_lift"]) & (
        finite["true_relative_lift"] <= finite["relative_ci_upper"]
    )
    assert inside.mean() >= 0.85, finite.loc[
        ~inside, ["experiment_id", "variant", "metric", "true_relative_lift"]
    ]
    # the sequential interval is wider, so it covers at least as often
    seq_inside = (finite["sequential_relative_ci_lower"] <= finite["true_relative_lift"]) & (
        finite["true_relative_lift"] <= finite["sequential_relative_ci_upper"]
    )
    assert seq_inside.mean() >= inside.mean()
    # estimates track the planted lifts (opens: high base rate, tight estimates)
    opens = finite[finite["metric"] == "human_open_rate"]
    assert np.corrcoef(opens["true_relative_lift"], opens["relative_lift"])[0, 1] > 0.8


def test_ships_only_planted_winners_and_never_an_aa_test(large_cells) -> None:
    _, decisions, actions, truth = large_cells
    clicks = truth[truth["metric"] == "click_rate"].set_index(["experiment_id", "variant"])
    shipped = decisions[decisions["decision"] == "ship"]
    assert len(shipped) >= 1
    assert len(actions) == len(shipped)
    for row in shipped.itertuples():
        planted = clicks.loc[(row.experiment_id, row.target_variant)]
        assert not planted["is_aa"]
        assert planted["true_relative_lift"] > 0
    aa_experiments = set(truth.loc[truth["is_aa"], "experiment_id"])
    assert aa_experiments
    assert not set(decisions.loc[decisions["decision"].isin(["ship", "stop_for_harm"]), "experiment_id"]) & (
        aa_experiments
    )
    for row in decisions[decisions["decision"] == "stop_for_harm"].itertuples():
        assert clicks.loc[(row.experiment_id, row.target_variant), "true_relative_lift"] < 0
