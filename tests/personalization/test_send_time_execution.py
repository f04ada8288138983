"""A schedule_send_times action end to end: proposed from a marts-shaped warehouse built from the
sandbox world, governed by the policy, executed through the real write-back port against a
SandboxServer, its assignments recorded, verified by a later read; and what the world then sends."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime

import duckdb
import numpy as np
import pytest

from activation.writeback.settings import WritebackSettings
from decision_engine.actions import write_actions
from decision_engine.execution import execute_approved, verify_executed
from decision_engine.personalization.send_time_schedule import propose_send_time_actions
from decision_engine.policy import Policy
from decision_engine.queue import govern, list_actions
from decision_engine.store import ensure_results_table
from orchestration.defs.loop.vendor_port import WritebackPort
from sandbox import SandboxServer, World, WorldSpec, ids
from sandbox.util import DAY
from sandbox.world.contacts import TIMEZONES


@pytest.fixture
def world() -> World:
    w = World(WorldSpec.preset("tiny", clean=True))
    for _ in range(30):  # to a day when the marketer has a one-message campaign scheduled 2+ days out
        if any(
            not c.is_ab and c.created_ts <= w.clock_ts and c.send_ts >= w.clock_ts + 2 * DAY
            for c in w.plan.campaigns
        ):
            return w
        w.advance(1)
    raise AssertionError("no campaign scheduled ahead")


@pytest.fixture
def server(world: World) -> Iterator[SandboxServer]:
    with SandboxServer(world) as srv:
        yield srv


def _warehouse(world: World, path) -> duckdb.DuckDBPyConnection:
    """The tables the action reads, as the pipeline would have built them from this world."""
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema staging")
    c = world.contacts
    visible = [i for i in range(c.n) if c.created_ts[i] < world.clock_ts and c.eligible[i]]
    contact_ids = {i: hashlib.sha256(c.email(i).encode()).hexdigest() for i in visible}
    con.execute(
        "create table marts.dim_contacts (contact_id varchar, klaviyo_profile_id varchar, timezone varchar, "
        "is_subscribed boolean, is_in_global_holdout boolean)"
    )
    con.executemany(
        "insert into marts.dim_contacts values (?, ?, ?, true, false)",
        [(contact_ids[i], ids.profile_id(world.spec.seed, i), TIMEZONES[c.tz[i]][0]) for i in visible],
    )
    ensure_results_table(con, "send_time_profiles")
    g = np.random.default_rng(1)
    for i in visible:
        chosen = int(round(c.pref_hour[i])) % 24
        scores = np.full(24, 0.1)
        scores[chosen] = 0.2
        con.execute(
            "insert into results.send_time_profiles (analysis_date, contact_id, time_zone, chosen_local_hour, source, "
            "hourly_scores, hourly_scores_sd, account_best_local_hour) values (?, ?, ?, ?, 'contact', ?, ?, 10)",
            [
                world.clock.date(),
                contact_ids[i],
                TIMEZONES[c.tz[i]][0],
                chosen,
                scores.tolist(),
                (g.random(24) * 0.02).tolist(),
            ],
        )
    con.execute(
        "create table staging.stg_klaviyo__campaigns (campaign_id varchar, campaign_name varchar, "
        "send_time timestamp, campaign_status varchar)"
    )
    con.execute(
        "create table staging.stg_klaviyo__campaign_messages (campaign_id varchar, message_id varchar, subject varchar)"
    )
    for camp in world.plan.campaigns:
        if camp.created_ts > world.clock_ts:
            continue
        sent = datetime.fromtimestamp(camp.send_ts, UTC).replace(tzinfo=None)
        status = "Sent" if camp.send_ts <= world.clock_ts else "Scheduled"
        con.execute(
            "insert into staging.stg_klaviyo__campaigns values (?, ?, ?, ?)",
            [camp.campaign_id, camp.name, sent, status],
        )
        for m in camp.messages:
            msg = world.plan.messages[m]
            con.execute(
                "insert into staging.stg_klaviyo__campaign_messages values (?, ?, ?)",
                [camp.campaign_id, msg.message_id, msg.subject],
            )
    return con


def test_an_upcoming_campaign_is_split_executed_recorded_and_verified(world, server, tmp_path):
    con = _warehouse(world, tmp_path / "w.duckdb")
    now = datetime.fromtimestamp(world.clock_ts, UTC)
    policy = Policy()
    proposals = propose_send_time_actions(con, policy, now)
    assert proposals.actions
    write_actions(con, proposals.actions, now, now.date())
    assert govern(con, policy, now).auto_approved == len(proposals.actions)  # send_time.auto_apply
    port = WritebackPort(
        WritebackSettings(
            klaviyo_base_url=server.vendor_base_urls["klaviyo"],
            klaviyo_api_key=world.spec.api_keys["klaviyo"],
        )
    )
    summary = execute_approved(con, policy, now, port)
    assert summary.executed == len(proposals.actions) and summary.failed == 0
    rows = con.execute(
        "select parent_campaign_id, campaign_id, arm, scheduled_local_hour, klaviyo_profile_id from results.send_time_assignments"
    ).fetchall()
    moved = {(parent, profile) for parent, _, _, _, profile in rows}
    assert len(moved) == len(rows)  # one row per recipient and campaign
    assert {parent for parent, *_ in rows} == {a.target_id for a in proposals.actions}
    # the clone each row names is the vendor's campaign for that hour, and it is scheduled
    clone_ids = {clone for _, clone, *_ in rows}
    clones = {cid: world.send_times.clones[cid] for cid in clone_ids}
    assert all(clone.schedule is not None for clone in clones.values())
    # a later run reads the campaigns back as split: verified, nothing written again
    writes_before = len(world.writes)
    assert verify_executed(con, policy, now.replace(hour=23), port) == len(proposals.actions)
    assert len(world.writes) == writes_before
    assert {a["status"] for a in list_actions(con)} == {"verified"}


def test_recommend_mode_waits_for_a_human(world, server, tmp_path):
    con = _warehouse(world, tmp_path / "w.duckdb")
    now = datetime.fromtimestamp(world.clock_ts, UTC)
    policy = Policy.model_validate({"autonomy": "recommend"})
    write_actions(con, propose_send_time_actions(con, policy, now).actions, now, now.date())
    govern(con, policy, now)
    port = WritebackPort(
        WritebackSettings(
            klaviyo_base_url=server.vendor_base_urls["klaviyo"],
            klaviyo_api_key=world.spec.api_keys["klaviyo"],
        )
    )
    assert execute_approved(con, policy, now, port).executed == 0
    assert {a["status"] for a in list_actions(con)} == {"pending_approval"}
    assert not [w for w in world.writes if w["vendor"] == "klaviyo"]
