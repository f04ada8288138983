"""A marts-shaped warehouse of randomized send-time campaigns: ``marts.fct_email_sends`` and
``results.send_time_assignments`` as the pipeline and the scheduling action would leave them.

Contacts have heterogeneous base rates (Beta-distributed open and click propensities: some open
nearly everything, most rarely), so a contact's sends are strongly correlated; each campaign
has its own multiplier. The arm multiplies the rate by ``1 + lift`` for its sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from decision_engine.store import ensure_results_table

FIRST_SEND = datetime(2026, 5, 1, 9, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    contacts: int = 3000
    campaigns: int = 6
    shares: dict[str, float] = field(
        default_factory=lambda: {"personalized": 0.8, "control": 0.1, "explore": 0.1}
    )
    open_rate: float = 0.25  # mean human open propensity
    click_given_open: float = 0.15
    strength: float = 2.0  # Beta prior strength of the contacts' propensities (small: very heterogeneous)
    lift: dict[str, float] = field(default_factory=dict)  # arm -> true relative lift of both rates
    sticky: bool = False  # a contact keeps one arm for every campaign (else re-randomised per campaign)
    delivered: float = 0.97
    days_apart: int = 3


def simulate(world: World, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sends, assignments) frames in the marts' and the results' column names."""
    g = np.random.default_rng(seed)
    n, k = world.contacts, world.campaigns
    mean = world.open_rate
    # capped so that a lift of up to 20% in the busiest campaign never clips a probability at 1: the
    # pooled rates then differ by exactly the planted lift
    propensity = np.minimum(g.beta(world.strength * mean, world.strength * (1 - mean), n), 0.65)
    clickiness = g.beta(2.0, 2.0 / world.click_given_open - 2.0, n)
    campaign_factor = g.uniform(0.8, 1.2, k)
    arms = np.array(list(world.shares))
    shares = np.array(list(world.shares.values()))
    if world.sticky:
        arm = np.tile(g.choice(len(arms), n, p=shares), (k, 1)).T
    else:
        arm = g.choice(len(arms), (n, k), p=shares)
    factor = np.array([1 + world.lift.get(a, 0.0) for a in arms])[arm]
    p_open = np.clip(propensity[:, None] * campaign_factor[None, :] * factor, 0, 1)
    opened = g.random((n, k)) < p_open
    p_click = np.clip(clickiness[:, None] * factor, 0, 1)
    clicked = opened & (g.random((n, k)) < p_click)
    delivered = g.random((n, k)) < world.delivered
    contact = np.repeat(np.arange(n), k)
    campaign = np.tile(np.arange(k), n)
    hours = {"personalized": 0, "control": 1, "explore": 2}
    arm_name = arms[arm.ravel()]
    hour = np.array([hours[a] for a in arms])[arm.ravel()] + 7
    sent_at = (
        pd.Timestamp(FIRST_SEND)
        + pd.to_timedelta(campaign * world.days_apart, unit="D")
        + pd.to_timedelta(hour - 9, unit="h")
    )
    contact_id = np.char.add("c", np.char.zfill(np.arange(n).astype(str), 6))[contact]
    clone_id = np.char.add(np.char.add("camp", campaign.astype(str)), np.char.add("-h", hour.astype(str)))
    sends = pd.DataFrame(
        {
            "email_send_id": np.char.add("s", np.arange(n * k).astype(str)),
            "send_type": "campaign",
            "campaign_id": clone_id,
            "contact_id": contact_id,
            "sent_at": sent_at,
            "is_delivered": delivered.ravel(),
            "is_human_opened": (opened & delivered).ravel(),
            "is_clicked": (clicked & delivered).ravel(),
            "is_machine_open_only": False,
        }
    )
    assignments = pd.DataFrame(
        {
            "contact_id": contact_id,
            "klaviyo_profile_id": np.char.add("p", contact_id),
            "campaign_id": clone_id,
            "parent_campaign_id": np.char.add("camp", campaign.astype(str)),
            "arm": arm_name,
            "scheduled_local_hour": hour,
            "time_zone": "UTC",
            "scheduled_at": sent_at,
            "assigned_at": sent_at - pd.Timedelta(days=1),
            "action_id": np.char.add("action-camp", campaign.astype(str)),
        }
    )
    return sends, assignments


def write_world(
    con: Any, sends: pd.DataFrame, assignments: pd.DataFrame, newest: datetime | None = None
) -> None:
    """The tables as the pipeline creates them (replacing earlier ones). ``newest``: a later
    delivered send that sets the data date (so every simulated send has matured)."""
    con.execute("create schema if not exists marts")
    if newest is not None:
        extra = sends.iloc[:1].assign(email_send_id="newest", campaign_id="other", sent_at=pd.Timestamp(newest),
                                      is_delivered=True)  # fmt: skip
        sends = pd.concat([sends, extra], ignore_index=True)
    con.register("_sends", sends)
    con.execute(
        "create or replace table marts.fct_email_sends as select email_send_id, send_type, campaign_id, "
        "contact_id, sent_at::timestamptz as sent_at, is_delivered, is_human_opened, is_clicked, "
        "is_machine_open_only from _sends"
    )
    con.unregister("_sends")
    ensure_results_table(con, "send_time_assignments")
    con.execute("delete from results.send_time_assignments")
    con.register("_assignments", assignments)
    con.execute("insert into results.send_time_assignments by name select * from _assignments")
    con.unregister("_assignments")
