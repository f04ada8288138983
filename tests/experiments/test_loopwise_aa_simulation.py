"""A/A and power of Loopwise's own tests through the real plan -> assignment -> decide path
(tests/experiments/loopwise_simulation.py describes the simulated audience)."""

from __future__ import annotations

import pytest
from scipy import stats

from tests.experiments.loopwise_simulation import simulate_tests

AA_TESTS = 400
NOMINAL_SHIP_RATE = 0.05


@pytest.fixture(scope="module")
def aa_runs():
    return simulate_tests(AA_TESTS, relative_effect=0.0, seed=12)


def test_aa_tests_ship_at_most_five_percent_of_the_time(aa_runs) -> None:
    ships = aa_runs.count("ship")
    # one-sided binomial test of "the true ship rate is at most 5%": fail when 400 A/A tests ship
    # so often that a 5% rate would produce it less than 1% of the time
    assert stats.binom.sf(ships - 1, AA_TESTS, NOMINAL_SHIP_RATE) > 0.01, (
        f"{ships} of {AA_TESTS} A/A tests shipped"
    )
    assert len(aa_runs.decisions) == AA_TESTS


def test_aa_tests_end_in_keep_control_only_at_the_planned_sample(aa_runs) -> None:
    assert aa_runs.primary_metric == "click_rate"  # orders are far too thin at this volume
    kept = [test for test, decision in aa_runs.decisions.items() if decision == "keep_control"]
    assert len(kept) > AA_TESTS * 0.8  # most A/A tests run to the plan and keep control
    assert all(aa_runs.decided_at_fraction[test] >= 1.0 for test in kept)


def test_a_real_quarter_more_clicks_ships_in_most_runs() -> None:
    runs = simulate_tests(100, relative_effect=0.25, seed=34)
    assert runs.share("ship") >= 0.8, {d: runs.count(d) for d in set(runs.decisions.values())}
    assert runs.count("stop_for_harm") == 0


def test_a_real_quarter_fewer_clicks_never_ships() -> None:
    runs = simulate_tests(60, relative_effect=-0.25, seed=56)
    assert runs.count("ship") == 0
    assert runs.share("stop_for_harm") >= 0.8
