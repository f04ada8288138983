"""The digest's content paragraph from results.content_lift and results.content_assignments, on
real DuckDB files written by the lift run itself, with vendor-shaped (ULID) campaign ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
import pytest

from decision_engine.digest import SectionCode, bare_ids, build_digest
from decision_engine.digest.build import content_section
from decision_engine.digest.names import NameBook
from decision_engine.digest.render import to_markdown
from decision_engine.personalization.content_lift import run_content_lift
from tests.personalization.content_world import content_world, simulate_content, write_content_world
from tests.personalization.send_time_world import FIRST_SEND

NOW = datetime(2026, 7, 1, 8, tzinfo=UTC)
NEWEST = datetime(2026, 6, 20, 12, tzinfo=UTC)
IDS = {f"camp{k}": f"01HZY8Q4W5N6C7D8E9F0G1H2J{k}" for k in range(4)}
NAMES = {"camp0": "Spring launch", "camp2": "Summer sale"}


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


def _world(con, contacts: int, newest: datetime, lift: float = 0.3, **options) -> None:
    """Four campaigns under Klaviyo-shaped ids (the odd ones sent by send-time clones); two have a
    name in staging."""
    world = content_world(contacts, 4, lift={"personalized": lift}, **options)
    sends, content, send_time = simulate_content(world, seed=11)
    write_content_world(
        con,
        sends.assign(campaign_id=sends.campaign_id.replace(IDS)),
        content.assign(campaign_id=content.campaign_id.map(IDS)),
        send_time.assign(parent_campaign_id=send_time.parent_campaign_id.map(IDS)),
        newest=newest,
    )
    con.execute("create schema if not exists staging")
    con.register("_names", pd.DataFrame({"campaign_id": [IDS[k] for k in NAMES], "campaign_name": list(NAMES.values())}))  # fmt: skip
    con.execute("create or replace table staging.stg_klaviyo__campaigns as select * from _names")
    con.unregister("_names")


def test_the_lift_and_each_campaign_by_name(con):
    _world(con, contacts=12000, newest=NEWEST)
    run_content_lift(con, NOW)
    section = content_section(con, NameBook.from_warehouse(con))
    lift_line, *campaign_lines = section.lines
    row = con.execute(
        "select relative_lift, ci_lower, ci_upper from results.content_lift "
        "where metric = 'click_rate' and arm = 'personalized'"
    ).fetchone()
    sends = con.execute("select sum(sends) from results.content_lift where metric = 'click_rate'").fetchone()[
        0
    ]
    assert lift_line == (
        f"Content: each recipient's preferred content angle got {row[0]:.0%} more clicks than the randomized "
        f"control shown angles drawn at random (95% interval {row[1]:.0%} to {row[2]:.0%}, {sends:,} sends "
        "over 4 campaigns)."
    )
    counts = con.execute(
        "select campaign_id, count(*) filter (where arm = 'personalized'), count(*) filter (where arm = 'control') "
        "from results.content_assignments group by all"
    ).fetchall()
    by_id = {campaign: (personalized, control) for campaign, personalized, control in counts}

    def line(name: str, campaign: str) -> str:
        personalized, control = by_id[IDS[campaign]]
        return (
            f"{name}: {personalized:,} recipients got their preferred angle, {control:,} were in the control."
        )

    unnamed = "An email campaign with no name in the export"
    assert sorted(campaign_lines) == sorted(
        [line("Email campaign “Spring launch”", "camp0"), line("Email campaign “Summer sale”", "camp2"),
         line(unnamed, "camp1"), line(unnamed, "camp3")]
    )  # fmt: skip
    digest = build_digest(con, NOW)
    assert digest.section(SectionCode.CONTENT).lines == section.lines
    markdown = to_markdown(digest)
    assert markdown.index("## Send time") < markdown.index("## Content") < markdown.index("## Budget moves")
    assert not bare_ids(markdown), bare_ids(markdown)


def test_before_the_sends_mature_it_says_not_enough_matured_sends_yet(con):
    # every campaign went out on the data date: no send has matured
    _world(con, contacts=300, newest=FIRST_SEND + timedelta(hours=3), days_apart=0)
    assert run_content_lift(con, NOW).rows == 0
    first, *campaign_lines = content_section(con, NameBook.from_warehouse(con)).lines
    assert first == (
        "Content: not enough matured sends yet to compare each recipient's preferred content angle with the "
        "randomized control shown angles drawn at random."
    )
    assert len(campaign_lines) == 4 and any("Spring launch" in line for line in campaign_lines)


def test_no_content_choice_yet(con):
    section = content_section(con, NameBook.from_warehouse(con))
    assert section.lines == () and "no campaign has had its content angle chosen" in section.empty
    assert build_digest(con, NOW).section(SectionCode.CONTENT).lines == ()


def test_a_wide_interval_says_not_enough_matured_sends_yet(con):
    _world(con, contacts=300, newest=NEWEST, lift=0.0)
    run_content_lift(con, NOW)
    first = content_section(con, NameBook.from_warehouse(con)).lines[0]
    assert (
        first.startswith("Content: not enough matured sends yet to tell whether") and "95% interval" in first
    )
    assert pd.notna(con.execute("select max(ci_upper) from results.content_lift").fetchone()[0])
