"""Evaluate the budget engine against sandbox worlds whose ad curves are known.

The engine sees what production sees: the sandbox's vendor APIs over HTTP, the real dlt
ingestion (``ingestion.run_source``) into a DuckDB file, and the unification of
``marts.fct_ad_performance_daily`` (late conversions, duplicates, malformed rows and all).
Budgets go back through the vendors' write APIs. The score uses the sandbox's true Hill
curves (``sandbox.truth.build_truth(world)["ad_curves"]``), with an optimiser of its own (bisection on the
marginal return), so it shares no code with the engine.

Used by ``tests/budget/test_budget_sandbox_loop.py`` and ``benchmarks/budget_sandbox_eval.py``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import requests

MART_PLATFORM = {"meta": "meta_ads", "google_ads": "google_ads"}  # sandbox platform -> mart platform
HTTP_TIMEOUT_SECONDS = 30.0

MART_COLUMNS = (
    "platform",
    "campaign_id",
    "ad_group_id",
    "ad_id",
    "date_day",
    "currency",
    "spend",
    "impressions",
    "clicks",
    "conversions",
    "conversions_value",
)


# ---- true curves and the oracle ----------------------------------------------------------------


@dataclass
class TrueCurves:
    """The world's true Hill curves, one per ad, in a fixed order (``keys``: (mart platform, ad_id))."""

    keys: list[tuple[str, str]]
    a: np.ndarray
    k: np.ndarray
    s: np.ndarray
    value: np.ndarray
    fatigue: np.ndarray
    launch_day: np.ndarray
    entity: np.ndarray  # index of the ad's budget entity (ads spend a fixed share of its budget)
    share: np.ndarray  # the ad's share of its entity's budget
    entity_keys: list[tuple[str, str]]  # (mart platform, entity id) per entity index

    @classmethod
    def of(cls, world: Any) -> TrueCurves:
        from sandbox.truth import build_truth

        curves = build_truth(world, include_records=False)["ad_curves"]
        column = lambda name: np.array([float(c[name]) for c in curves])  # noqa: E731
        keys = [(MART_PLATFORM[c["platform"]], str(c["ad_id"])) for c in curves]
        owner: dict[tuple[str, str], tuple[int, float]] = {}
        entities = [e for platform in world.ads.by_platform for e in world.budget_entities(platform)]
        for index, entity in enumerate(entities):
            ads = world.ads.by_platform[entity.platform]
            for p in entity.positions:
                owner[(MART_PLATFORM[entity.platform], ads[p].ad_id)] = (
                    index,
                    ads[p].budget / entity.initial_budget,
                )
        return cls(
            keys=keys,
            a=column("a"),
            k=column("k"),
            s=column("s"),
            value=column("value_per_conversion"),
            fatigue=column("fatigue_per_day"),
            launch_day=column("launch_day"),
            entity=np.array([owner[key][0] for key in keys]),
            share=np.array([owner[key][1] for key in keys]),
            entity_keys=[(MART_PLATFORM[e.platform], e.entity_id) for e in entities],
        )

    def _level(self, day: int) -> np.ndarray:
        """Max revenue per day of each ad on ``day`` (fatigue included; the weekday factor is common to all ads)."""
        return self.a * self.value * np.exp(-self.fatigue * np.maximum(0.0, day - self.launch_day))

    def revenue(self, spend: np.ndarray, day: int) -> np.ndarray:
        x = np.maximum(np.asarray(spend, dtype=float), 0.0)
        return self._level(day) * x**self.s / (self.k**self.s + x**self.s)

    def marginal(self, spend: np.ndarray, day: int) -> np.ndarray:
        x = np.maximum(np.asarray(spend, dtype=float), 1e-9)
        ks = self.k**self.s
        return self._level(day) * self.s * ks * x ** (self.s - 1.0) / (ks + x**self.s) ** 2

    def optimum(self, lower: np.ndarray, upper: np.ndarray, total: float, day: int) -> np.ndarray:
        """Exact maximiser of total true revenue with ``lower <= x <= upper``, ``sum(x) == total`` (curves are concave)."""
        return _concave_optimum(lambda x: self.marginal(x, day), lower, upper, total)

    def entity_budgets(self, ad_budgets: np.ndarray) -> np.ndarray:
        """Each entity's budget: the sum of its ads' budgets."""
        return np.bincount(self.entity, np.asarray(ad_budgets, float), int(self.entity.max()) + 1)

    def entity_optimum(self, lower: np.ndarray, upper: np.ndarray, total: float, day: int) -> np.ndarray:
        """The best budgets a world can set: per entity (``lower``/``upper`` per entity, summing to
        ``total``), each ad spending its fixed share; returned per ad. Where an entity holds several
        ads, their per-ad optimum (``optimum``) is out of the world's reach."""

        def marginal(budget: np.ndarray) -> np.ndarray:
            per_ad = self.share * self.marginal(self.share * budget[self.entity], day)
            return np.bincount(self.entity, per_ad, len(budget))

        return self.share * _concave_optimum(marginal, lower, upper, total)[self.entity]


def _concave_optimum(marginal: Any, lower: np.ndarray, upper: np.ndarray, total: float) -> np.ndarray:
    """Maximiser of a separable concave objective whose gradient is ``marginal`` with ``lower <= x <=
    upper`` and ``sum(x) == total``: bisection on the common marginal return (the price)."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)

    def spend_at(price: float) -> np.ndarray:
        lo, hi = lower.copy(), upper.copy()
        for _ in range(60):  # marginal(x) falls with x: find marginal(x) == price inside the bounds
            mid = 0.5 * (lo + hi)
            above = marginal(mid) > price
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        return 0.5 * (lo + hi)

    low_price, high_price = 0.0, float(marginal(np.maximum(lower, 1e-9)).max()) * 2 + 1.0
    for _ in range(80):
        price = 0.5 * (low_price + high_price)
        if spend_at(price).sum() > total:
            low_price = price
        else:
            high_price = price
    x = spend_at(0.5 * (low_price + high_price))
    room = np.where(total > x.sum(), upper - x, x - lower)  # remove the last bisection residual
    if room.sum() > 0:
        x = x + (total - x.sum()) * room / room.sum()
    return np.clip(x, lower, upper)


def world_budgets(world: Any, keys: list[tuple[str, str]], day: int | None = None) -> np.ndarray:
    """Daily budgets in force on ``day`` (default: the next day the world simulates), in ``keys`` order."""
    day = world.clock_day if day is None else day
    found: dict[tuple[str, str], float] = {}
    for platform, ads in world.ads.by_platform.items():
        for ad, budget in zip(ads, world.ad_budgets(platform, day), strict=True):
            found[(MART_PLATFORM[platform], ad.ad_id)] = float(budget)
    return np.array([found[key] for key in keys])


def entity_targets(world: Any, budgets: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """Per-ad budget targets as budget-entity targets (platforms budget ad sets, CBO campaigns, campaign budgets).

    An entity's target is the sum of its ads' targets (ads without one keep their current budget);
    ads then spend by their fixed shares, so per-ad targets inside one entity are only met on average.
    Keys: (sandbox platform, entity id).
    """
    out = {}
    for platform, ads in world.ads.by_platform.items():
        current = world.ad_budgets(platform, world.clock_day)
        for entity in world.budget_entities(platform):
            keys = [(MART_PLATFORM[platform], ads[p].ad_id) for p in entity.positions]
            if any(key in budgets for key in keys):
                out[(platform, entity.entity_id)] = float(
                    sum(budgets.get(key, current[p]) for key, p in zip(keys, entity.positions, strict=True))
                )
    return out


def set_ad_targets(world: Any, budgets: dict[tuple[str, str], float]) -> None:
    """Write per-ad targets straight into the world, as entity budgets (see ``entity_targets``)."""
    for (platform, entity_id), budget in entity_targets(world, budgets).items():
        world.set_entity_budget(platform, entity_id, budget)


@dataclass
class Score:
    """True expected revenue per day of doing nothing, the applied recommendation and the oracle (same total and band)."""

    nothing: float
    recommended: float
    optimum: float
    total_drift: float  # applied total / current total - 1, before rescaling to the current total

    @property
    def gap(self) -> float:
        return self.optimum - self.nothing

    @property
    def gain(self) -> float:
        return self.recommended - self.nothing

    @property
    def capture(self) -> float:
        return self.gain / self.gap if self.gap > 1e-9 * max(1.0, self.nothing) else float("nan")


def score_budgets(
    curves: TrueCurves,
    current: np.ndarray,
    applied: np.ndarray,
    day: int,
    max_change: float = 0.3,
    per_entity: bool = False,
) -> Score:
    """Score ``applied`` budgets against ``current`` ones on ``day``, both at the current total.

    ``per_entity``: as the world spends them, each entity's budget the sum of its ads' and each ad
    its fixed share of it, against the best entity budgets within ``max_change`` of the current
    ones; else per ad, against the best per-ad budgets (which a world with several ads to an entity
    cannot set)."""
    total = float(current.sum())
    drift = float(applied.sum()) / total - 1.0
    scaled = applied * total / float(applied.sum())
    if per_entity:
        current_e = curves.entity_budgets(current)
        current = curves.share * current_e[curves.entity]
        scaled = curves.share * curves.entity_budgets(scaled)[curves.entity]
        best = curves.entity_optimum(current_e * (1 - max_change), current_e * (1 + max_change), total, day)
    else:
        best = curves.optimum(current * (1 - max_change), current * (1 + max_change), total, day)
    value = lambda x: float(curves.revenue(x, day).sum())  # noqa: E731
    return Score(nothing=value(current), recommended=value(scaled), optimum=value(best), total_drift=drift)


def applied_budgets(
    current: np.ndarray, keys: list[tuple[str, str]], actions: list[Any], curves: TrueCurves | None = None
) -> np.ndarray:
    """Per-ad budgets after the proposed ``set_daily_budget`` actions are executed (other ads keep
    theirs). With ``curves``, an action on a budget entity sets each of its ads to its share of the
    entity's new budget (as the world spends it)."""
    position = {key: i for i, key in enumerate(keys)}
    entity = {} if curves is None else {key: i for i, key in enumerate(curves.entity_keys)}
    out = current.copy()
    for action in actions:
        if action.action_type != "set_daily_budget":
            continue
        key, budget = (action.platform, str(action.target_id)), float(action.payload["daily_budget"])
        if key in entity:
            members = curves.entity == entity[key]
            out[members] = curves.share[members] * budget
        else:
            out[position[key]] = budget
    return out


# ---- the production path: HTTP APIs -> dlt -> mart, and budget writes back --------------------


class SandboxAdsPipeline:
    """A world served over HTTP, ingested with the real dlt sources into a DuckDB file, as production does.

    The mart is the real dbt model: each refresh runs ``dbt run --select +fct_ad_performance_daily +dim_budget_entities``.
    """

    def __init__(self, world: Any, workdir: str | Path | None = None) -> None:
        from sandbox import SandboxServer

        self.world = world
        self._tmp = (
            None if workdir is not None else tempfile.TemporaryDirectory(prefix="loopwise-budget-eval-")
        )
        self.workdir = Path(workdir if workdir is not None else self._tmp.name)
        self.warehouse = self.workdir / "warehouse.duckdb"
        self.server = SandboxServer(world)
        self.session = requests.Session()

    def __enter__(self) -> SandboxAdsPipeline:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()
        self.server.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def refresh(self) -> pd.DataFrame:
        """Ingest both ad platforms incrementally and return the unified daily mart."""
        from ingestion import run_source
        from ingestion.config import sandbox_source_settings

        settings = sandbox_source_settings(self.server, self.world)
        for source in ("meta_ads", "google_ads"):
            run_source(source, self.warehouse, settings, pipelines_dir=self.workdir / "dlt")
        return self._dbt_mart()

    def _dbt_mart(self) -> pd.DataFrame:
        from orchestration.defs.transform.project import DBT_EXECUTABLE, DBT_PROJECT_DIR

        command = [
            DBT_EXECUTABLE,
            "run",
            "--quiet",
            "--select",
            "+fct_ad_performance_daily",
            "+dim_budget_entities",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(self.workdir / "dbt_target"),
            "--log-path",
            str(self.workdir / "dbt_logs"),
        ]
        env = {**os.environ, "LOOPWISE_WAREHOUSE_PATH": str(self.warehouse)}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"dbt failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        with duckdb.connect(str(self.warehouse)) as con:
            return con.execute(f"select {', '.join(MART_COLUMNS)} from marts.fct_ad_performance_daily").df()

    def production_inputs(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """What the budget asset reads after ``refresh``: the whole mart (with each ad's budget
        entity) and ``marts.dim_budget_entities`` (the vendors' entity budgets)."""
        from decision_engine.budget.run import ENTITIES_SQL, HISTORY_SQL

        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(HISTORY_SQL).df(), con.execute(ENTITIES_SQL).df()

    def write_budgets(
        self, budgets: dict[tuple[str, str], float], ad_groups: dict[tuple[str, str], str]
    ) -> None:
        """Set per-ad targets as entity budgets through the vendors' write APIs (Meta ad set / campaign
        POST, Google campaignBudgets:mutate); see ``entity_targets``. ``ad_groups`` is kept for callers."""
        spec, urls = self.world.spec, self.server.vendor_base_urls
        google_ops = []
        for (platform, entity_id), budget in sorted(entity_targets(self.world, budgets).items()):
            if platform == "meta":
                response = self.session.post(
                    f"{urls['meta']}/v27.0/{entity_id}",
                    data={"daily_budget": str(round(budget * 100))},
                    headers={"Authorization": f"Bearer {spec.api_keys['meta']}"},
                    timeout=HTTP_TIMEOUT_SECONDS,
                )
                response.raise_for_status()
            else:
                name = f"customers/{spec.google_customer_id}/campaignBudgets/{entity_id}"
                micros = round(budget * 100) * 10_000  # a whole number of cents (the billable unit)
                google_ops.append(
                    {
                        "update": {"resourceName": name, "amountMicros": str(micros)},
                        "updateMask": "amount_micros",
                    }
                )
        if google_ops:
            token = self.session.post(
                f"{urls['google_oauth']}/token",
                data={
                    "grant_type": "refresh_token",
                    "client_id": spec.api_keys["google_client_id"],
                    "client_secret": spec.api_keys["google_client_secret"],
                    "refresh_token": spec.api_keys["google_refresh_token"],
                },
                timeout=HTTP_TIMEOUT_SECONDS,
            )
            token.raise_for_status()
            response = self.session.post(
                f"{urls['google_ads']}/v26/customers/{spec.google_customer_id}/campaignBudgets:mutate",
                json={"operations": google_ops},
                headers={
                    "Authorization": f"Bearer {token.json()['access_token']}",
                    "developer-token": spec.api_keys["google_ads"],
                },
                timeout=HTTP_TIMEOUT_SECONDS,
            )
            response.raise_for_status()


def ad_groups_of(world: Any) -> dict[tuple[str, str], str]:
    return {(MART_PLATFORM[a.platform], a.ad_id): a.group_id for a in world.ads.ads}
