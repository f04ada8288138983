"""The oracle: what a world is truly worth, and what someone who knew the truth would do.

For the proof harness (``loopwise simulate``) and tests only; it reads the world's hidden
curves and campaign lifts, so no product package may import it (like ``sandbox.truth``).

Revenue is *expected* ad revenue (the delivery model of ``AdsWorld.generate_day`` without
its Poisson, gamma and multiplicative noise) plus the email orders the world really
generates: two worlds that differ only in their writes are then compared without the
day-to-day noise that would otherwise swamp a budget move.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from sandbox import ids
from sandbox.truth import campaign_variants, expected_rates
from sandbox.util import DAY
from sandbox.world import events as ev
from sandbox.world.ads import DOW_FACTOR, PLATFORMS, BudgetEntity, hill
from sandbox.world.core import World
from sandbox.world.email_plan import Campaign
from sandbox.world.incidents import window_factor

EntityKey = tuple[str, str]  # (platform, entity_id)
GREEDY_STEPS = 2000  # budget increments of the greedy allocation (the curves are concave)


def _day_factors(world: World, platform: str, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per ad on ``day``: (launched, runaway spend factor, conversion factor: fatigue x weekday x incidents)."""
    ads = world.ads.by_platform[platform]
    day_ts = np.full(1, world.start_ts + day * DAY)
    entities = [ids.ad_entity(platform, a.ad_id) for a in ads]
    runaway = np.array([window_factor(world.incidents, "runaway_spend", day_ts, 5.0, e)[0] for e in entities])
    broken = np.array(
        [window_factor(world.incidents, "broken_landing_page", day_ts, 0.2, e)[0] for e in entities]
    )
    launched = np.array([day >= a.launch_day for a in ads])
    fatigue = np.exp(-np.array([a.fatigue * max(0, day - a.launch_day) for a in ads]))
    weekday = int(((world.start_ts // DAY + day) + 3) % 7)  # as AdsWorld.generate_day
    return launched, runaway, fatigue * DOW_FACTOR[weekday] * broken


def _ad_revenue(world: World, platform: str, spend: np.ndarray, conversion_factor: np.ndarray) -> np.ndarray:
    ads = world.ads.by_platform[platform]
    return np.array(
        [
            float(hill(s, a.hill_a, a.hill_k, a.hill_s)) * f * a.value_per_conversion
            for s, f, a in zip(spend, conversion_factor, ads, strict=True)
        ]
    )


def expected_ad_revenue(world: World, day_lo: int, day_hi: int) -> float:
    """Noise-free expected conversion value of every ad over world days [day_lo, day_hi), given the
    budgets the world's writes set on each day."""
    total = 0.0
    for platform in PLATFORMS:
        for day in range(day_lo, day_hi):
            budgets = world.ad_budgets(platform, day)
            launched, runaway, factor = _day_factors(world, platform, day)
            spend = np.where(launched & (budgets > 0), budgets * runaway, 0.0)
            total += float(_ad_revenue(world, platform, spend, factor).sum())
    return total


def email_order_revenue(world: World, day_lo: int, day_hi: int) -> float:
    """Revenue of the email-caused orders the world generates on days [day_lo, day_hi).

    The world's own event generation, noise included: it depends on the writes only through
    the campaign winners, so it differs between worlds only when a winner was set.
    """
    total = 0.0
    for day in range(day_lo, day_hi):
        batch, _ = world.events_on_day(day)
        orders = (batch.metric == ev.ORDER) & (batch.source == ev.SOURCE_EMAIL)
        total += float(batch.aux[orders].sum())
    return total


def _entity_weights(world: World, entity: BudgetEntity, day: int, period_days: int) -> np.ndarray:
    """Per ad of the entity: the summed conversion factor over the coming period (0 before launch)."""
    weights = np.zeros(len(entity.positions))
    for d in range(day, day + period_days):
        launched, _, factor = _day_factors(world, entity.platform, d)
        weights += np.where(launched, factor, 0.0)[entity.positions]
    return weights


class _EntityCurve:
    """An entity's expected revenue over the period as a function of its daily budget (concave)."""

    def __init__(self, world: World, entity: BudgetEntity, day: int, period_days: int) -> None:
        ads = world.ads.by_platform[entity.platform]
        self.ads = [ads[p] for p in entity.positions]
        self.shares = np.array([a.budget for a in self.ads]) / entity.initial_budget
        self.weights = _entity_weights(world, entity, day, period_days)

    def revenue(self, budget: float) -> float:
        return float(
            sum(
                w * a.value_per_conversion * float(hill(share * budget, a.hill_a, a.hill_k, a.hill_s))
                for a, share, w in zip(self.ads, self.shares, self.weights, strict=True)
            )
        )


def _is_frozen(entity: BudgetEntity, frozen: Collection[str]) -> bool:
    return entity.platform in frozen or entity.entity_id in frozen


def _bounds(current: float, max_change: float, min_budget: float, fixed: bool) -> tuple[float, float]:
    """Cent-rounded [low, high] inside +-max_change of ``current`` and above the floor."""
    if fixed:
        return current, current
    low = np.ceil(max(min_budget, current * (1 - max_change)) * 100) / 100
    high = np.floor(current * (1 + max_change) * 100) / 100
    return float(low), float(max(low, high))


def oracle_budgets(
    world: World,
    day: int,
    *,
    max_change: float,
    min_budget: float,
    total: float | None = None,
    frozen: Collection[str] = (),
    period_days: int = 7,
) -> dict[EntityKey, float]:
    """The daily budget per entity that maximises true expected revenue over ``period_days`` from ``day``.

    Each entity moves at most ``max_change`` (a fraction) from its budget on ``day``, never below
    ``min_budget``; entities (or platforms) in ``frozen`` keep theirs. The budgets sum to the
    current total (or ``total``) as far as the caps allow. Greedy on marginal revenue, which is
    optimal because every curve is concave.
    """
    entities = [e for p in PLATFORMS for e in world.budget_entities(p)]
    current = {p: world.entity_budgets(p, day) for p in PLATFORMS}
    keys = [(e.platform, e.entity_id) for e in entities]
    bounds = [
        _bounds(current[e.platform][e.entity_id], max_change, min_budget, _is_frozen(e, frozen))
        for e in entities
    ]
    alloc = np.array([low for low, _ in bounds])
    high = np.array([h for _, h in bounds])
    target = sum(current[p][e] for p, e in keys) if total is None else total
    remaining = target - alloc.sum()
    if remaining > 0:
        curves = [_EntityCurve(world, e, day, period_days) for e in entities]
        _greedy(alloc, high, curves, remaining)
    return {key: round(float(b), 2) for key, b in zip(keys, alloc, strict=True)}


def _greedy(alloc: np.ndarray, high: np.ndarray, curves: list[_EntityCurve], remaining: float) -> None:
    """Spend ``remaining`` step by step on the entity with the highest marginal revenue, within caps."""
    step = remaining / GREEDY_STEPS
    value = np.array([c.revenue(b) for c, b in zip(curves, alloc, strict=True)])
    gain = (
        np.array([c.revenue(min(b + step, h)) for c, b, h in zip(curves, alloc, high, strict=True)]) - value
    )
    while remaining > 1e-9:
        room = high - alloc
        gain[room <= 1e-9] = -np.inf
        best = int(np.argmax(gain))
        if not np.isfinite(gain[best]):
            return  # every entity is at its cap
        add = min(step, room[best], remaining)
        alloc[best] += add
        remaining -= add
        value[best] = curves[best].revenue(alloc[best])
        gain[best] = curves[best].revenue(min(alloc[best] + step, high[best])) - value[best]
    np.minimum(alloc, high, out=alloc)


def _campaign(world: World, campaign: Campaign | str) -> Campaign:
    return world.campaign_by_id[campaign] if isinstance(campaign, str) else campaign


def variant_conversion_rates(world: World, campaign: Campaign | str) -> dict[str, float]:
    """True expected conversion rate of each variant (message id) of ``campaign`` on its audience."""
    _, variants = campaign_variants(world, _campaign(world, campaign))
    return {v["message_id"]: v["expected"]["conversion_rate"] for v in variants}


def oracle_winner(world: World, campaign: Campaign | str) -> str:
    """The message id of the campaign's truly best variant (highest expected conversion rate)."""
    rates = variant_conversion_rates(world, campaign)
    return max(rates, key=rates.__getitem__)


def running_tests(world: World) -> list[Campaign]:
    """A/B campaigns (not A/A) whose test has been sent and not yet rolled out at the world's clock."""
    now = world.clock_ts
    return [c for c in world.plan.campaigns if c.is_ab and not c.is_aa and c.send_ts <= now < c.rollout_ts]


def oracle_subject(world: World, message_id: str, templates: Sequence[str]) -> str | None:
    """The concrete subject, among ``templates`` applied to the message's own subject (``{subject}``
    in each), with the highest true expected conversion rate on the campaign's audience; None when
    none beats the message's own subject."""
    found = world.campaign_message(message_id)
    assert found is not None, f"campaign message {message_id} not found"
    camp, msg = found
    who, _ = ev.campaign_audience(world.email_ctx, camp)
    best, best_rate = None, expected_rates(world, camp, msg, who)["conversion_rate"]
    for template in templates:
        subject = template.replace("{subject}", msg.subject)
        rate = expected_rates(world, camp, msg, who, subject)["conversion_rate"]
        if rate > best_rate:
            best, best_rate = subject, rate
    return best


def apply_oracle_subjects(world: World, templates: Sequence[str]) -> list[str]:
    """Write the truly best library subject to every campaign message not yet sent at the clock
    (visible, never written before); returns the message ids written."""
    written = []
    for camp in world.plan.campaigns:
        if not camp.created_ts <= world.clock_ts < camp.send_ts:
            continue
        for m in camp.messages:
            msg = world.plan.messages[m]
            if world.message_subject(msg) != msg.subject:
                continue
            subject = oracle_subject(world, msg.message_id, templates)
            if subject is not None:
                world.set_message_subject(msg.message_id, subject)
                written.append(msg.message_id)
    return written
