"""Synthetic exposures in the shape of ``marts.fct_experiment_exposures``, for tests and
benchmarks (ground truth is known; product code never calls this)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

BASE_RATES = {
    "is_delivered": 0.97,
    "is_opened": 0.35,  # of delivered
    "is_human_opened": 0.22,
    "is_clicked": 0.04,
    "is_converted": 0.01,
    "is_unsubscribed": 0.003,
    "is_spam_complaint": 0.0005,
    "is_bounced": 0.03,
    "became_mql": 0.005,
    "deal_created": 0.002,
}


def synthetic_exposures(
    units_per_arm: Mapping[str, int],
    *,
    experiment_id: str = "exp_1",
    control: str = "A",
    lifts: Mapping[str, Mapping[str, float]] | None = None,
    days: int = 14,
    contaminated_units: int = 0,
    start: str = "2026-01-01",
    seed: int = 0,
) -> pd.DataFrame:
    """Unit-level exposures; ``lifts[variant][column]`` multiplies that arm's base rate."""
    rng = np.random.default_rng(seed)
    lifts = lifts or {}
    frames = []
    offset = 0
    for variant, n in units_per_arm.items():
        lift = lifts.get(variant, {})
        rate = {c: min(base * lift.get(c, 1.0), 1.0) for c, base in BASE_RATES.items()}
        delivered = rng.random(n) < rate["is_delivered"]
        human = delivered & (rng.random(n) < rate["is_human_opened"] / rate["is_opened"] * rate["is_opened"])
        opened = human | (delivered & (rng.random(n) < rate["is_opened"] - rate["is_human_opened"]))
        clicked = delivered & (rng.random(n) < rate["is_clicked"])
        converted = rng.random(n) < rate["is_converted"]
        revenue = np.where(converted, rng.lognormal(4.0, 1.0, n) * lift.get("revenue", 1.0), 0.0)
        frame = pd.DataFrame(
            {
                "experiment_id": experiment_id,
                "experiment_type": "campaign_ab",
                "variant": variant,
                "is_control": variant == control,
                "unit_id": [f"u{offset + i}" for i in range(n)],
                "exposed_at": pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days, n), unit="D"),
                "arm_count": 1,
                "is_delivered": delivered,
                "is_opened": opened,
                "is_human_opened": human,
                "is_clicked": clicked,
                "is_converted": converted,
                "revenue": revenue,
                "is_unsubscribed": rng.random(n) < rate["is_unsubscribed"],
                "is_spam_complaint": rng.random(n) < rate["is_spam_complaint"],
                "is_bounced": ~delivered,
                "became_mql": rng.random(n) < rate["became_mql"],
                "deal_created": rng.random(n) < rate["deal_created"],
                "won_revenue": np.where(
                    rng.random(n) < 0.3 * rate["deal_created"], rng.lognormal(8, 0.5, n), 0.0
                ),
                "pre_period_clicks": rng.poisson(2.0, n),
            }
        )
        offset += n
        frames.append(frame)
    exposures = pd.concat(frames, ignore_index=True)
    if contaminated_units:
        variants: Sequence[Any] = list(units_per_arm)
        doubles = exposures[exposures["variant"] == variants[0]].head(contaminated_units).copy()
        doubles["variant"] = variants[1]
        doubles["is_control"] = variants[1] == control
        exposures = pd.concat([exposures, doubles], ignore_index=True)
        counts = exposures.groupby(["experiment_id", "unit_id"])["variant"].transform("nunique")
        exposures["arm_count"] = counts
    return exposures


def create_synthetic_exposures_table(
    con: Any, table: str, rows: int, experiments: int, variants: int = 3, days: int = 28, seed: float = 0.42
) -> None:
    """A large exposures table generated inside DuckDB (benchmarks): ``rows`` units spread
    over ``experiments`` experiments, ``variants`` arms each, A/A-like rates."""
    con.execute(f"select setseed({seed})")
    con.execute(
        f"""
        create or replace table {table} as
        with units as (
            select range as i, random() as r1, random() as r2, random() as r3, random() as r4, random() as r5
            from range({int(rows)})
        )
        select
            'exp_' || (i % {int(experiments)}) as experiment_id,
            'campaign_ab' as experiment_type,
            chr(65 + cast((i // {int(experiments)}) % {int(variants)} as integer)) as variant,
            (i // {int(experiments)}) % {int(variants)} = 0 as is_control,
            'u' || i as unit_id,
            timestamp '2026-01-01' + to_days(cast(floor(r1 * {int(days)}) as integer)) as exposed_at,
            1 as arm_count,
            r2 < 0.97 as is_delivered,
            r2 < 0.97 and r3 < 0.35 as is_opened,
            r2 < 0.97 and r3 < 0.22 as is_human_opened,
            r2 < 0.97 and r3 < 0.04 as is_clicked,
            r4 < 0.01 as is_converted,
            case when r4 < 0.01 then 50 + 200 * r5 else 0 end as revenue,
            r5 < 0.003 as is_unsubscribed,
            r5 > 0.9995 as is_spam_complaint,
            r2 >= 0.97 as is_bounced,
            r4 > 0.995 as became_mql,
            r4 > 0.998 as deal_created,
            case when r4 > 0.9995 then 5000 * r1 else 0 end as won_revenue,
        from units
        """
    )
