"""The digest's send-time paragraph from results.send_time_lift and results.send_time_profiles,
on real DuckDB files written by the lift run itself."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pandas as pd
import pytest

from decision_engine.digest import SectionCode, build_digest
from decision_engine.digest.build import send_time_section
from decision_engine.personalization.send_time_lift import run_send_time_lift
from decision_engine.store import write_results
from tests.personalization.send_time_world import World, simulate, write_world

NOW = datetime(2026, 7, 1, 8, tzinfo=UTC)
NEWEST = datetime(2026, 6, 20, 12, tzinfo=UTC)


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


def _profiles(con, sources: dict[str, int]) -> None:
    rows = [source for source, n in sources.items() for _ in range(n)]
    frame = pd.DataFrame(
        {
            "analysis_timestamp": pd.Timestamp(NOW),
            "analysis_date": pd.Timestamp(date(2026, 6, 20)),
            "contact_id": [f"c{i}" for i in range(len(rows))],
            "source": rows,
            "chosen_local_hour": 9,
        }
    )
    write_results(con, "send_time_profiles", frame, replace_where=("analysis_date",))


def test_a_clear_lift_is_reported_in_plain_english(con):
    world = World(contacts=6000, campaigns=6, lift={"personalized": 0.2})
    write_world(con, *simulate(world, seed=11), newest=NEWEST)
    run_send_time_lift(con, NOW)
    _profiles(con, {"contact": 30, "segment": 20, "account": 10})
    section = send_time_section(con)
    lift_line, profiles_line = section.lines
    row = con.execute(
        "select relative_lift, ci_lower, ci_upper from results.send_time_lift "
        "where metric = 'human_open_rate' and arm = 'personalized'"
    ).fetchone()
    sends = con.execute(
        "select sum(sends) from results.send_time_lift where metric = 'human_open_rate' and arm <> 'explore'"
    ).fetchone()[0]
    assert lift_line == (
        f"Send time: sending at each contact's own best hour got {row[0]:.0%} more human opens than the "
        f"randomized control sent at the account's best hour (95% interval {row[1]:.0%} to {row[2]:.0%}, "
        f"{sends:,} sends over 6 campaigns). 10% of sends explore other hours to keep learning."
    )
    assert profiles_line.startswith("60 contacts have a send hour: 30 from their own opens and clicks, 20 ")
    digest = build_digest(con, NOW)
    assert digest.section(SectionCode.SEND_TIME).lines == section.lines


def test_a_wide_interval_says_not_enough_sends_yet(con):
    write_world(
        con, *simulate(World(contacts=200, campaigns=2, lift={"personalized": 0.2}), seed=3), newest=NEWEST
    )
    run_send_time_lift(con, NOW)
    (line,) = send_time_section(con).lines
    assert line.startswith("Send time: not enough sends yet to tell whether")
    assert "95% interval" in line


def test_nothing_measured_yet_says_so(con):
    section = send_time_section(con)
    assert section.lines == () and "not enough sends yet" in section.empty
    _profiles(con, {"account": 5})
    first, second = send_time_section(con).lines
    assert first.startswith("Send time: not enough sends yet")
    assert second.startswith("5 contacts have a send hour")


def test_a_schedule_is_worded_by_campaign_name(con):
    from decision_engine.digest.names import NameBook
    from decision_engine.digest.wording import describe_change

    row = {
        "action_type": "schedule_send_times",
        "target_id": "01HXYZCAMPAIGNULID000000AB",
        "platform": "klaviyo",
    }
    names = NameBook.from_warehouse(con)
    text = describe_change(row, {"campaign_name": "Spring launch"}, names)
    assert text.startswith("Sent campaign “Spring launch” at each contact's best local hour")
    assert "randomized control at the account's best hour" in text
    assert describe_change(row, {"campaign_name": "Spring launch"}, names, proposed=True).startswith("Send ")
    assert "01HXYZ" not in describe_change(row, {}, names)
