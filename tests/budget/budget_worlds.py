"""Simulated ad worlds with KNOWN spend-response curves, for evaluating the budget engine.

Independent of the engine on purpose: its own curve families (Hill with slope <= 1, log,
power), its own optimiser (bisection on the marginal return), daily noise, day-of-week
effects and a 7-day conversion lag applied to what the export shows on its last day.

Run ``python -m tests.budget.budget_worlds`` from the repository root to print the
capture-ratio table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DAY_OF_WEEK = np.array([1.05, 1.10, 1.05, 1.00, 0.95, 0.85, 0.90])
DELAY = np.array(
    [0.45, 0.20, 0.12, 0.08, 0.06, 0.04, 0.03, 0.02]
)  # share of conversions arriving 0..7 days late
SHAPES = ("hill", "log", "power")
FORECAST_AHEAD_DAYS = 4  # the day the engine forecasts: the middle of the week after the history


@dataclass
class SimulatedWorld:
    history: pd.DataFrame
    kind: np.ndarray  # curve family per ad
    scale: np.ndarray
    half: np.ndarray  # hill/log half-saturation spend; power: unused
    exponent: np.ndarray  # hill slope or power exponent
    current: np.ndarray  # planned current daily spend per ad (platform, ad_id order of `ads`)
    ads: pd.DataFrame

    def revenue(self, spend: np.ndarray) -> np.ndarray:
        """True expected daily revenue (day-of-week averaged) at ``spend`` (one per ad)."""
        s = np.maximum(np.asarray(spend, dtype=float), 0.0)
        kind, scale, half, k = self._params(s.ndim)
        hill = scale * s**k / (s**k + half**k)
        log = scale * np.log1p(s / half)
        power = scale * s**k
        return np.select([kind == "hill", kind == "log"], [hill, log], power)

    def _params(self, ndim: int) -> tuple[np.ndarray, ...]:
        extra = (slice(None),) + (None,) * (ndim - 1)
        return self.kind[extra], self.scale[extra], self.half[extra], self.exponent[extra]

    def marginal(self, spend: np.ndarray) -> np.ndarray:
        s = np.maximum(np.asarray(spend, dtype=float), 1e-9)
        k, h = self.exponent, self.half
        hill = self.scale * k * s ** (k - 1) * h**k / (s**k + h**k) ** 2
        log = self.scale / (h + s)
        power = self.scale * k * s ** (k - 1)
        return np.select([self.kind == "hill", self.kind == "log"], [hill, log], power)


def true_optimum(world: SimulatedWorld, lower: np.ndarray, upper: np.ndarray, total: float) -> np.ndarray:
    """Exact optimum of the true curves within bounds (nested bisection on the marginal return)."""

    def spend_at(price: float) -> np.ndarray:
        lo, hi = lower.copy(), upper.copy()
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            above = world.marginal(mid) > price
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        return 0.5 * (lo + hi)

    low_price, high_price = 1e-9, float(world.marginal(np.maximum(lower, 1e-6)).max()) * 10
    for _ in range(100):
        price = np.sqrt(low_price * high_price)
        if spend_at(price).sum() > total:
            low_price = price
        else:
            high_price = price
    spend = spend_at(np.sqrt(low_price * high_price))
    return spend + (total - spend.sum()) * (upper - lower) / max((upper - lower).sum(), 1e-12)


def make_world(
    seed: int,
    *,
    shape: str = "mixed",
    current: str = "random",
    n_campaigns: int = 4,
    ads_per_campaign: int = 6,
    days: int = 120,
    spend_noise: float = 0.2,
    fatigue: float | np.ndarray = 0.0,
) -> SimulatedWorld:
    """A world of ``n_campaigns * ads_per_campaign`` ads on two platforms with ``days`` of history.

    ``fatigue`` (per ad, or one for all) is the daily log decline of each ad's return; the true
    curves (``revenue``) are then those of the middle of the week after the history (4 days after
    its last day), which the history's days exceed by their fatigue since."""
    rng = np.random.default_rng(seed)
    n = n_campaigns * ads_per_campaign
    kind = rng.choice(SHAPES, n) if shape == "mixed" else np.full(n, shape)
    natural = np.exp(rng.normal(np.log(100.0), 0.5, n))  # typical spend
    campaign_roas = np.exp(rng.normal(np.log(2.5), 0.3, n_campaigns))
    roas = np.repeat(campaign_roas, ads_per_campaign) * np.exp(
        rng.normal(0.0, 0.45, n)
    )  # average ROAS at natural spend
    rho = np.exp(rng.normal(np.log(1.5), 0.6, n))
    exponent = np.where(kind == "hill", rng.uniform(0.7, 1.0, n), rng.uniform(0.4, 0.85, n))
    half = rho * natural
    value_at_natural = roas * natural
    unit = np.select(
        [kind == "hill", kind == "log"],
        [natural**exponent / (natural**exponent + half**exponent), np.log1p(natural / half)],
        natural**exponent,
    )
    scale = value_at_natural / unit
    platforms = np.where(np.arange(n_campaigns) % 2 == 0, "meta", "google")
    ads = pd.DataFrame(
        {
            "platform": np.repeat(platforms, ads_per_campaign),
            "campaign_id": np.repeat([f"c{i}" for i in range(n_campaigns)], ads_per_campaign),
            "ad_id": [f"ad{i:03d}" for i in range(n)],
        }
    )
    world = SimulatedWorld(pd.DataFrame(), kind, scale, half, exponent, np.zeros(n), ads)
    plan = natural * np.exp(rng.normal(0.0, 0.4, n))
    if current == "optimal":
        plan = true_optimum(world, 0.05 * plan, 20 * plan, plan.sum())
    world.current = plan

    dates = pd.date_range("2026-01-01", periods=days, freq="D")
    # budget history: two past level shifts, the plan for the last 14 days
    level = np.ones((n, days))
    for _ in range(2):
        start = rng.integers(0, max(days - 21, 1), n)
        stop = np.minimum(start + rng.integers(10, 40, n), days - 14)
        shift = np.exp(rng.normal(0.0, 0.35, n))
        in_shift = (np.arange(days)[None, :] >= start[:, None]) & (np.arange(days)[None, :] < stop[:, None])
        level = np.where(in_shift, level * shift[:, None], level)
    noise = np.exp(rng.normal(0.0, spend_noise, (n, days)) - spend_noise**2 / 2)
    if current == "optimal":
        noise[:, -7:] = 1.0
    spend = plan[:, None] * level * noise
    dow = DAY_OF_WEEK[dates.day_of_week.to_numpy()] / DAY_OF_WEEK.mean()
    ahead = days - 1 + FORECAST_AHEAD_DAYS - np.arange(days)  # days before the true curves' day
    decline = np.exp(np.broadcast_to(np.asarray(fatigue, float), (n,))[:, None] * ahead[None, :])
    mean_revenue = world.revenue(spend) * dow[None, :] * decline
    order_value = np.exp(rng.normal(np.log(80.0), 0.3, n))[:, None]
    rate = mean_revenue / order_value * rng.gamma(20.0, 1.0 / 20.0, (n, days))
    conversions = rng.poisson(rate)
    age = days - 1 - np.arange(days)
    complete = np.cumsum(DELAY)[np.minimum(age, len(DELAY) - 1)]
    observed = rng.binomial(conversions, complete[None, :])
    revenue = observed * order_value * np.exp(rng.normal(0.0, 0.15, (n, days)))
    clicks = rng.poisson(spend / 1.2)
    history = pd.DataFrame(
        {
            "date": np.tile(dates.strftime("%Y-%m-%d"), n),
            "platform": np.repeat(ads["platform"].to_numpy(), days),
            "campaign_id": np.repeat(ads["campaign_id"].to_numpy(), days),
            "ad_id": np.repeat(ads["ad_id"].to_numpy(), days),
            "spend": spend.ravel().round(2),
            "impressions": (clicks * 40).ravel(),
            "clicks": clicks.ravel(),
            "conversions": observed.ravel(),
            "revenue": revenue.ravel().round(2),
        }
    )
    world.history = history
    return world


@dataclass
class Evaluation:
    name: str
    value_current: float
    value_recommended: float
    value_optimum: float
    kept_current: bool

    @property
    def gap(self) -> float:
        return self.value_optimum - self.value_current

    @property
    def capture(self) -> float:
        return (self.value_recommended - self.value_current) / self.gap if self.gap > 1e-9 else float("nan")

    @property
    def relative_change(self) -> float:
        return self.value_recommended / self.value_current - 1.0


def evaluate(world: SimulatedWorld, name: str, settings=None) -> Evaluation:
    """Run the engine on the world's export and score its recommendation with the true curves."""
    from decision_engine.budget import BudgetSettings, recommend_budgets

    settings = settings or BudgetSettings()
    result = recommend_budgets(world.history, settings)
    frame = result.recommendations.set_index(["platform", "ad_id"])
    keys = pd.MultiIndex.from_frame(world.ads[["platform", "ad_id"]])
    current = frame.loc[keys, "current_daily_spend"].to_numpy()
    recommended = frame.loc[keys, "recommended_daily_budget"].to_numpy()
    lower, upper = current * (1 - settings.max_change), current * (1 + settings.max_change)
    optimum = true_optimum(world, lower, upper, float(current.sum()))
    return Evaluation(
        name=name,
        value_current=float(world.revenue(current).sum()),
        value_recommended=float(world.revenue(recommended).sum()),
        value_optimum=float(world.revenue(optimum).sum()),
        kept_current=result.kept_current,
    )


SCENARIOS = [
    (shape, current) for shape in ("mixed", "hill", "log", "power") for current in ("random", "optimal")
]


def run_evaluation(seeds: range = range(3), settings=None) -> list[Evaluation]:
    return [
        evaluate(make_world(seed, shape=shape, current=current), f"{shape}/{current}/seed{seed}", settings)
        for shape, current in SCENARIOS
        for seed in seeds
    ]


def main() -> None:
    results = run_evaluation(range(5))
    print(
        f"{'world':<24} {'current':>10} {'recommended':>12} {'optimum':>10} {'gap %':>7} {'capture':>8} {'kept':>5}"
    )
    for r in results:
        capture = (
            f"{r.capture:.2f}" if r.gap > 5e-4 * r.value_current else "-"
        )  # no meaningful gap to capture
        print(
            f"{r.name:<24} {r.value_current:>10,.1f} {r.value_recommended:>12,.1f} {r.value_optimum:>10,.1f} "
            f"{100 * r.gap / r.value_current:>6.2f}% {capture:>8} {str(r.kept_current):>5}"
        )
    random_worlds = [r for r in results if "/random/" in r.name]
    captures = np.array([r.capture for r in random_worlds])
    worse = [r for r in results if r.value_recommended < r.value_current * (1 - 1e-3)]
    print(f"\nmean capture ratio (current allocation not optimal): {np.nanmean(captures):.3f}")
    print(f"median capture ratio: {np.nanmedian(captures):.3f}; min: {np.nanmin(captures):.3f}")
    print(f"worse than doing nothing (by >0.1% of revenue): {len(worse)} of {len(results)} worlds")
    print(f"worst relative change vs doing nothing: {min(r.relative_change for r in results):+.4%}")


if __name__ == "__main__":
    main()
