"""What choosing each recipient's content angle earns: the randomized arms of
``results.content_assignments`` compared on the sends they produced.

Each recipient of a campaign whose content Loopwise personalizes (``personalize_content``) is
randomised into an arm: ``personalized`` (its preferred angle in ``results.content_affinity``) or
``control`` (an angle drawn uniformly from the approved library: a concurrent randomized control,
``content_choice.holdout_share``). Click rate is the primary metric (what the action predicts and
the decision log judges it by); human open rate is kept beside it.

A content assignment is on the marketer's campaign, but its sends may appear in
``marts.fct_email_sends`` under a send-time clone of it (``results.send_time_assignments`` maps each
contact's clone to its ``parent_campaign_id``; a clone copies the content template). The sends of
an assignment are therefore the contact's delivered sends under the campaign itself or under its
own clone of it. Everything else is the send-time lift's: matured sends only
(``send_time_lift.MATURITY_DAYS`` before the end of the data date), a ratio of totals per arm, and
the delta method on the log ratio with a variance clustered by contact
(:func:`~decision_engine.personalization.send_time_lift.clustered_ratio_lift`), campaigns pooled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from decision_engine.experiments.design import naive_utc
from decision_engine.personalization.send_time_lift import (
    MATURITY_DAYS,
    LiftRun,
    run_lift,
)
from decision_engine.store import ensure_results_table, table_exists

TABLE = "content_lift"
ASSIGNMENTS = "content_assignments"
ARMS = ("personalized", "control")
PRIMARY_METRIC = "click_rate"


def load_content_sends(con: Any, before: datetime, campaign_id: str | None = None) -> pd.DataFrame:
    """Per contact, arm and marketer campaign (``campaign_id``): matured delivered sends, human opens
    and clicks of the content assignments (of one campaign when ``campaign_id`` is given).

    One assignment per campaign and contact (the latest ``assigned_at``). A send counts under the
    campaign itself or under the contact's send-time clone of it (module docstring); clones are
    read only when ``results.send_time_assignments`` exists (``content_choice.assigned_send_angles_sql``,
    which the affinity model reads too). ``before`` as in
    :func:`~decision_engine.personalization.send_time_lift.load_arm_sends`. Empty when the
    assignments or the sends mart are missing.
    """
    from decision_engine.personalization.content_choice import assigned_send_angles_sql

    columns = ["contact_id", "arm", "campaign_id", "sends", "human_opens", "clicks"]
    chosen = assigned_send_angles_sql(con)
    if chosen is None or not table_exists(con, "marts", "fct_email_sends"):
        return pd.DataFrame(columns=columns)
    return con.execute(
        f"""
        select
            c.contact_id, c.arm, c.campaign_id,
            count(*) as sends,
            count(*) filter (where coalesce(s.is_human_opened, false)) as human_opens,
            count(*) filter (where coalesce(s.is_clicked, false)) as clicks
        from ({chosen}) as c
        join marts.fct_email_sends as s on s.campaign_id = c.send_campaign_id and s.contact_id = c.contact_id
        where c.arm in (select unnest(?)) and (? is null or c.campaign_id = ?)
            and s.is_delivered and s.sent_at::timestamp < ?
        group by all
        order by all
        """,
        [list(ARMS), campaign_id, campaign_id, naive_utc(before)],
    ).df()


@dataclass
class ContentLiftRun(LiftRun):
    @property
    def headline(self) -> str:
        if self.analysis_date is None:
            return "Content lift: no delivered email sends yet."
        if not self.rows:
            return (
                "Content lift: no matured sends with a content assignment yet "
                f"(results.{ASSIGNMENTS}; sends count {MATURITY_DAYS} days after they go out)."
            )
        lift = self.lifts.get((PRIMARY_METRIC, "personalized"))
        counts = ", ".join(f"{self.sends.get(arm, 0):,} {arm}" for arm in ARMS)
        text = f"Content lift over {self.campaigns} campaign(s) ({counts} sends): "
        if lift is None:
            return text + "not enough sends in both the personalized and the control arm to compare yet."
        return (
            text + f"personalized vs control click rate {lift.point:+.1%} "
            f"({lift.level:.0%} interval {lift.low:+.1%} to {lift.high:+.1%}, p = {lift.p_value:.3g})."
        )


def run_content_lift(con: Any, now: datetime) -> ContentLiftRun:
    """Compute and write ``results.content_lift`` for the newest data date
    (:func:`~decision_engine.personalization.send_time_lift.run_lift`: a re-run for the same date
    replaces its rows; nothing is written without matured assigned sends).
    ``results.content_assignments`` is created empty when missing."""
    ensure_results_table(con, ASSIGNMENTS)
    return run_lift(con, now, TABLE, load_content_sends, ContentLiftRun, campaign_column="campaign_id")
