"""Thompson-sampling allocation weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decision_engine.experiments import (
    BanditConfig,
    allocation_weights,
    allocations_from_statistics,
    daily_allocations,
)


@settings(max_examples=40, deadline=None)
@given(
    trials=st.lists(st.integers(0, 5000), min_size=2, max_size=6),
    rate=st.floats(0.0, 1.0),
    floor=st.floats(0.0, 0.15),
    top_two=st.booleans(),
)
def test_weights_sum_to_one_and_respect_floor(
    trials: list[int], rate: float, floor: float, top_two: bool
) -> None:
    successes = [int(t * rate) for t in trials]
    weights = allocation_weights(successes, trials, BanditConfig(floor=floor, top_two=top_two, draws=2000))
    assert weights.sum() == pytest.approx(1.0)
    assert (weights >= floor - 1e-12).all()


def test_best_arm_gets_most_traffic_and_top_two_keeps_runner_up() -> None:
    successes, trials = [400, 480, 300], [10000, 10000, 10000]
    plain = allocation_weights(successes, trials, BanditConfig(floor=0.05))
    top_two = allocation_weights(successes, trials, BanditConfig(floor=0.05, top_two=True))
    assert np.argmax(plain) == 1
    assert plain[1] > 0.85
    assert top_two[1] == pytest.approx(0.05 + 0.85 * 0.5, abs=0.02)  # leader gets ~beta of the free share
    assert top_two[0] > plain[0]


def test_impossible_floor_and_bad_counts() -> None:
    with pytest.raises(ValueError):
        allocation_weights([1, 2, 3], [10, 10, 10], BanditConfig(floor=0.4))
    with pytest.raises(ValueError):
        allocation_weights([11], [10])


def test_daily_reweighting_from_statistics() -> None:
    dates = pd.date_range("2026-02-01", periods=3)
    rows = []
    for day, date in enumerate(dates, start=1):
        for variant, rate in (("A", 0.03), ("B", 0.05), ("C", 0.03)):
            rows.append({"experiment_id": "subject_test", "variant": variant, "metric": "click_rate", "analysis_date": date,
                         "n": 1000 * day, "sum_y": rate * 1000 * day, "sum_x": 1000.0 * day})  # fmt: skip
    history = allocations_from_statistics(pd.DataFrame(rows), "click_rate", BanditConfig(floor=0.1))
    assert len(history) == 9
    sums = history.groupby("analysis_date")["weight"].sum()
    np.testing.assert_allclose(sums, 1.0)
    b = history[history["variant"] == "B"].sort_values("analysis_date")["weight"].to_numpy()
    assert b[-1] >= b[0]
    assert daily_allocations(pd.DataFrame(columns=["experiment_id", "analysis_date"])).empty
