"""A marts-shaped warehouse of content-personalized campaigns: ``marts.fct_email_sends``,
``results.content_assignments`` and ``results.send_time_assignments`` as the pipeline and the
actions would leave them.

The sends and the contacts' heterogeneous propensities are ``send_time_world``'s, with the arm
read as the content arm (``personalized`` / ``control``; ``World.lift`` its true effect). Odd
campaigns were also scheduled by send time: their sends appear under hourly clones of the
marketer's campaign, and ``results.send_time_assignments`` maps each contact's clone back to it
with a send-time arm drawn independently of the content arm. Even campaigns send under their
own id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from decision_engine.store import ensure_results_table
from tests.personalization.send_time_world import World, simulate, write_world

CONTENT_SHARES = {"personalized": 0.8, "control": 0.2}
ANGLES = ("case_study", "how_to", "comparison", "promotion")


def content_world(contacts: int = 3000, campaigns: int = 6, **options: Any) -> World:
    return World(contacts=contacts, campaigns=campaigns, shares=CONTENT_SHARES, **options)


def simulate_content(world: World, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(sends, content assignments, send-time assignments) in the marts' and results' column names."""
    sends, by_clone = simulate(world, seed)
    g = np.random.default_rng(seed + 10_000)

    def is_cloned(parent: pd.Series) -> pd.Series:
        return parent.str[len("camp") :].astype(int) % 2 == 1

    cloned = is_cloned(by_clone["parent_campaign_id"])
    parent = sends["campaign_id"].str.replace(
        r"-h\d+$", "", regex=True
    )  # simulate's clone ids: camp<k>-h<hour>
    sends = sends.assign(campaign_id=sends["campaign_id"].where(is_cloned(parent), parent))
    send_time = by_clone[cloned].assign(
        arm=g.choice(["personalized", "control", "explore"], int(cloned.sum()), p=[0.8, 0.1, 0.1])
    )
    angle = g.choice(ANGLES, len(by_clone))
    content = pd.DataFrame(
        {
            "contact_id": by_clone["contact_id"],
            "klaviyo_profile_id": by_clone["klaviyo_profile_id"],
            "campaign_id": by_clone["parent_campaign_id"],
            "message_id": "msg-" + by_clone["parent_campaign_id"],
            "arm": by_clone["arm"],
            "angle": angle,
            "preferred_angle": np.where(by_clone["arm"] == "personalized", angle, None),
            "property_name": "lw_angle_" + by_clone["parent_campaign_id"],
            "assigned_at": by_clone["assigned_at"],
            "action_id": "content-" + by_clone["parent_campaign_id"],
        }
    )
    return sends, content, send_time


def write_content_world(
    con: Any,
    sends: pd.DataFrame,
    content: pd.DataFrame,
    send_time: pd.DataFrame,
    newest: datetime | None = None,
) -> None:
    """The tables as the pipeline creates them (replacing earlier ones); ``newest`` as in
    ``send_time_world.write_world``."""
    write_world(con, sends, send_time, newest=newest)
    ensure_results_table(con, "content_assignments")
    con.execute("delete from results.content_assignments")
    con.register("_content", content)
    con.execute("insert into results.content_assignments by name select * from _content")
    con.unregister("_content")
