"""Thompson sampling allocation for multi-variant tests (e.g. subject lines).

Each arm's rate (clicks / delivered, say) gets a Beta(1 + successes, 1 + failures)
posterior. The next send is split in proportion to each arm's posterior probability of
being best (Thompson sampling in expectation), or with top-two Thompson sampling (Russo
2016), which keeps sampling the runner-up so the best arm is *identified* faster. A floor
keeps every arm alive so late changes (fatigue, drift) can still be seen. Re-run daily on
the cumulative counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.results_schema import column_names

ALLOCATION_COLUMNS = column_names("experiment_allocations")


@dataclass(frozen=True)
class BanditConfig:
    floor: float = 0.05  # minimum share per arm
    top_two: bool = False
    top_two_beta: float = 0.5  # share of draws that play the leader in top-two TS
    draws: int = 20000
    seed: int = 0


def probability_best(
    successes: Sequence[float], trials: Sequence[float], draws: int = 20000, seed: int = 0
) -> np.ndarray:
    """Monte Carlo P(arm has the highest rate) under Beta(1,1) priors."""
    s = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    if s.shape != n.shape or s.ndim != 1 or s.size == 0:
        raise ValueError("successes and trials must be 1-d arrays of the same, non-zero length")
    if np.any(n < 0) or np.any(s < 0) or np.any(s > n):
        raise ValueError("need 0 <= successes <= trials")
    rng = np.random.default_rng(seed)
    samples = rng.beta(1 + s, 1 + n - s, size=(draws, s.size))
    winners = np.argmax(samples, axis=1)
    return np.bincount(winners, minlength=s.size) / draws


def allocation_weights(
    successes: Sequence[float], trials: Sequence[float], config: BanditConfig | None = None
) -> np.ndarray:
    """Next-send shares per arm: sum to 1, each at least ``config.floor``."""
    config = config or BanditConfig()
    p_best = probability_best(successes, trials, config.draws, config.seed)
    k = p_best.size
    if config.floor * k > 1:
        raise ValueError(f"a floor of {config.floor} per arm is impossible with {k} arms")
    weights = p_best
    if config.top_two and k > 1:
        beta = config.top_two_beta
        # P(play j) = beta p_j + (1 - beta) sum_{i != j} p_i p_j / (1 - p_i)
        with np.errstate(divide="ignore", invalid="ignore"):
            challenger = np.where(p_best < 1, p_best / (1 - p_best), 0.0)
        second = p_best * (challenger.sum() - challenger)
        weights = beta * p_best + (1 - beta) * second
        weights = weights / weights.sum() if weights.sum() > 0 else np.full(k, 1 / k)
    return config.floor + (1 - config.floor * k) * weights


def daily_allocations(
    cumulative: pd.DataFrame,
    config: BanditConfig | None = None,
    successes_col: str = "successes",
    trials_col: str = "trials",
) -> pd.DataFrame:
    """Allocation history: for each experiment x analysis_date (cumulative counts per arm),
    the weights for the next day's send: ``results.experiment_allocations`` rows
    (ALLOCATION_COLUMNS: experiment_id, analysis_date, variant, successes, trials,
    probability_best, weight)."""
    config = config or BanditConfig()
    frames = []
    for (experiment_id, analysis_date), frame in cumulative.groupby(
        ["experiment_id", "analysis_date"], sort=True
    ):
        s = frame[successes_col].to_numpy(float)
        n = frame[trials_col].to_numpy(float)
        frames.append(
            pd.DataFrame(
                {
                    "experiment_id": experiment_id,
                    "analysis_date": analysis_date,
                    "variant": frame["variant"].to_numpy(),
                    "successes": s,
                    "trials": n,
                    "probability_best": probability_best(s, n, config.draws, config.seed),
                    "weight": allocation_weights(s, n, config),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=ALLOCATION_COLUMNS)
    return pd.concat(frames, ignore_index=True)[ALLOCATION_COLUMNS]


def allocations_from_statistics(
    stats: pd.DataFrame, metric: str = "click_rate", config: BanditConfig | None = None
) -> pd.DataFrame:
    """Daily allocations from ``compute_sufficient_statistics`` output for a ratio/proportion
    metric (successes = sum_y, trials = sum_x for ratios, n otherwise)."""
    frame = stats[stats["metric"] == metric].copy()
    frame["successes"] = frame["sum_y"]
    frame["trials"] = frame["sum_x"].where(frame["sum_x"].notna(), frame["n"])
    return daily_allocations(frame, config)
