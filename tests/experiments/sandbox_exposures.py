"""Experiment exposures straight from a sandbox world's simulated events, with the planted truth.

The pipeline gets the same events through the vendor API, dlt and dbt
(``marts.fct_experiment_exposures``); this shortcut skips the plumbing so tests and the
benchmark can check the statistics against ground truth on many worlds in seconds. Only
email A/B tests (campaign test phases and flow splits) are covered; the global holdout
needs orders and is evaluated on the real marts (``benchmarks/experiments_sandbox_eval.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sandbox import World
from sandbox.truth import build_truth
from sandbox.world import events as ev


@dataclass
class PlantedEffect:
    """True relative lift of one variant against the control (first variant) on a metric."""

    experiment_id: str
    variant: str
    control: str
    metric: str
    true_relative_lift: float
    is_aa: bool


def world_exposures(world: World) -> pd.DataFrame:
    """One row per experiment x unit x arm, shaped like ``marts.fct_experiment_exposures``
    (the columns the default metrics need; no orders, deals or CRM outcomes)."""
    plan = world.plan
    experiment_of: dict[int, tuple[str, str, str]] = {}  # message idx -> (id, type, variant)
    for camp in plan.campaigns:
        if camp.is_ab:
            for m in camp.messages:
                experiment_of[m] = (f"campaign_ab:{camp.campaign_id}", "campaign_ab", plan.messages[m].label)
    for flow in plan.flows:
        for step in flow.steps:
            if step.is_split:
                for m in step.messages:
                    experiment_of[m] = (f"flow_split:{step.action_id}", "flow_split", plan.messages[m].label)
    parts = []
    for day in range(world.clock_day):
        batch = world.origin_day(day)
        keep = np.isin(batch.message, list(experiment_of)) & (batch.ts < world.clock_ts)
        is_campaign = np.array([plan.messages[m].kind == "campaign" for m in batch.message[keep]], dtype=bool)
        keep_idx = np.nonzero(keep)[0]
        # campaign sends count only in the test phase (the winner phase is not randomised)
        keep_idx = keep_idx[~is_campaign | (batch.phase[keep_idx] == ev.PHASE_TEST)]
        b = batch.take(keep_idx)
        parts.append(
            pd.DataFrame(
                {
                    "message": b.message,
                    "unit": b.contact,
                    "ts": b.ts,
                    "sent": np.isin(b.metric, [ev.RECEIVED, ev.BOUNCED]),
                    "delivered": b.metric == ev.RECEIVED,
                    "opened": b.metric == ev.OPENED,
                    "human_opened": (b.metric == ev.OPENED) & (b.aux == 0.0),
                    "clicked": b.metric == ev.CLICKED,
                    "bounced": b.metric == ev.BOUNCED,
                    "unsubscribed": b.metric == ev.UNSUBSCRIBED,
                    "spam": b.metric == ev.SPAM,
                }
            )
        )
    events = pd.concat(parts, ignore_index=True)
    events = events[events["message"].isin(list(experiment_of))]
    events["sent_ts"] = events["ts"].where(events["sent"])
    per_unit = (
        events.groupby(["message", "unit"])
        .agg(
            exposed_ts=("sent_ts", "min"),
            is_delivered=("delivered", "max"),
            is_opened=("opened", "max"),
            is_human_opened=("human_opened", "max"),
            is_clicked=("clicked", "max"),
            is_bounced=("bounced", "max"),
            is_unsubscribed=("unsubscribed", "max"),
            is_spam_complaint=("spam", "max"),
        )
        .reset_index()
    )
    per_unit = per_unit[per_unit["exposed_ts"].notna()]
    meta = pd.DataFrame(
        [(m, *experiment_of[m]) for m in per_unit["message"].unique()],
        columns=["message", "experiment_id", "experiment_type", "variant"],
    )
    out = per_unit.merge(meta, on="message")
    # several messages of one arm (repeat flow sends) collapse to one row per unit
    out = (
        out.groupby(["experiment_id", "experiment_type", "variant", "unit"])
        .agg(
            exposed_ts=("exposed_ts", "min"),
            **{
                c: (c, "max")
                for c in (
                    "is_delivered", "is_opened", "is_human_opened", "is_clicked", "is_bounced",
                    "is_unsubscribed", "is_spam_complaint",
                )
            },
        )
        .reset_index()
    )  # fmt: skip
    out["unit_id"] = out["unit"].astype(str)
    out["exposed_at"] = pd.to_datetime(out["exposed_ts"], unit="s", utc=True)
    out["is_control"] = out["variant"] == out.groupby("experiment_id")["variant"].transform("min")
    out["arm_count"] = out.groupby(["experiment_id", "unit_id"])["variant"].transform("count")
    out["is_converted"] = False
    out["revenue"] = 0.0
    out["became_mql"] = False
    out["deal_created"] = False
    out["won_revenue"] = 0.0
    return out.drop(columns=["unit", "exposed_ts"])


def planted_effects(truth: dict[str, Any]) -> list[PlantedEffect]:
    """True relative lifts on click_rate and human_open_rate per variant vs the first variant.

    Campaigns: ratios of the truth's expected rates over the campaign audience (the test arms
    are random subsets of it). Flow splits: the planted multipliers (open x click for clicks),
    exact while no probability hits its clip.
    """
    effects = []
    for camp in truth["campaigns"]:
        if not camp["is_ab"] or len(camp["variants"]) < 2:
            continue
        control = camp["variants"][0]
        for variant in camp["variants"][1:]:
            for metric in ("click_rate", "human_open_rate"):
                base = control["expected"][metric]
                lift = variant["expected"][metric] / base - 1 if base > 0 else float("nan")
                effects.append(
                    PlantedEffect(
                        f"campaign_ab:{camp['campaign_id']}", variant["label"], control["label"], metric,
                        0.0 if camp["is_aa"] else lift, bool(camp["is_aa"]),
                    )
                )  # fmt: skip
    for flow in truth["flows"]:
        for step in flow["steps"]:
            if not step["is_split"]:
                continue
            control = step["variants"][0]
            for variant in step["variants"][1:]:
                lift = variant["lift"]
                ratio = {
                    "click_rate": lift["open"]
                    * lift["click"]
                    / (control["lift"]["open"] * control["lift"]["click"]),
                    "human_open_rate": lift["open"] / control["lift"]["open"],
                }
                for metric, value in ratio.items():
                    effects.append(
                        PlantedEffect(
                            f"flow_split:{step['flow_action_id']}", variant["label"], control["label"], metric,
                            value - 1, bool(step["is_aa"]),
                        )
                    )  # fmt: skip
    return effects


def world_and_truth(world: World) -> tuple[pd.DataFrame, list[PlantedEffect]]:
    return world_exposures(world), planted_effects(build_truth(world, include_records=False))
