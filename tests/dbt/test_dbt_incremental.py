"""Incremental and full builds give identical tables after late and corrected data.

Two warehouses get the same raw data. One is built, then receives a second load (late opens,
clicks and orders for old sends, a corrected order, a new send) and is built incrementally; the
other is built once from both loads. Every intermediate and mart table must hold the same rows.
A third load carries an event older than the rebuild window: it reaches its send; the flow
journeys, which keep a window, wait for ``--full-refresh``. A profile whose email changes and a
renamed metric reach every event of theirs in the incremental events table, and their sends.
A contact who becomes a lead and wins a deal after an A/B test reaches that test's exposures,
which the build does not otherwise rewrite.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from dbt_build_result import dbt_failures, invoke_dbt
from dbt_raw_data import create_raw_tables, insert_raw_rows

from core.parity import BUILD_STAMP_COLUMN as BUILD_STAMP

NEW_SEND_LOAD = "1772409600.000001"
LATE_LOAD = "1772496000.000001"
MID_MONTH_LOAD = "1772517600.000001"
MONTH_LATER_LOAD = "1772539200.000001"
TOO_OLD_LOAD = "1772582400.000001"

INCREMENTAL_MODELS = [
    "intermediate.int_email_events_enriched",
    "intermediate.int_email_sends_aggregated",
    "intermediate.int_email_order_events",
    "intermediate.int_orders_attributed",
    "marts.fct_email_sends",
    "marts.fct_email_campaign_variant_daily",
    "marts.fct_flow_journeys",
    "marts.fct_experiment_exposures",
]

LATE_EVENTS = [
    # Bob opens campaign c2 (sent 03-03) two days late: an old send with a new event.
    {
        "event_id": "e22",
        "metric_id": "m_open",
        "profile_id": "kp3",
        "occurred_at": "2026-03-05 09:00:00+00",
        "message_id": "cm_c",
        "is_machine_open": False,
    },
    # Alice clicks flow step 1 (sent 03-01, before the window) five days later and orders the
    # next day: the send is rebuilt because it has an event in the window, not by its send date.
    {
        "event_id": "e23",
        "metric_id": "m_click",
        "profile_id": "kp1",
        "occurred_at": "2026-03-06 09:00:00+00",
        "message_id": "fm1",
        "flow_id": "f1",
        "url": "https://shop.example/y",
    },
    {
        "event_id": "e24",
        "metric_id": "m_order",
        "profile_id": "kp1",
        "occurred_at": "2026-03-07 09:00:00+00",
        "value": 25.0,
        "currency": "USD",
        "order_id": "o4",
        "item_count": 1,
    },
    # Corrected: Bob's order (03-09) was 45.00, not 40.00; his late open now credits it to c2.
    {
        "event_id": "e20",
        "metric_id": "m_order",
        "profile_id": "kp3",
        "occurred_at": "2026-03-09 12:00:00+00",
        "value": 45.0,
        "currency": "USD",
        "order_id": "o2",
        "item_count": 1,
    },
]

# Campaign c2 reaches Alice's second profile on 03-10: after this load the rebuild window starts
# 03-02 10:00 (newest send less 3 + 5 days), after the flow sends of 03-01.
NEW_SEND = [
    {
        "event_id": "e25",
        "metric_id": "m_recv",
        "profile_id": "kp2",
        "occurred_at": "2026-03-10 10:00:00+00",
        "message_id": "cm_c",
    },
]


def _carol_orders(event_id: str, occurred_at: str, order_id: str) -> list[dict]:
    return [
        {
            "event_id": event_id,
            "metric_id": "m_order",
            "profile_id": "kp4",
            "occurred_at": occurred_at,
            "value": 30.0,
            "currency": "USD",
            "order_id": order_id,
            "item_count": 1,
        }
    ]


# Carol (global holdout) orders on 03-20, then on 04-02: the data then ends after Dave's flow step
# 3 was due (03-03 + 28 days), and his last email event (03-03) is older than the rebuild window
# of the build before. His journey, still waiting until then, is now judged (filtered out).
# Alice's open of campaign a (sent 03-02) at 03-06 20:00, loaded two weeks late: her order of
# 03-07, credited to her flow click of 03-06 09:00 and not itself reloaded, moves to campaign a.
ALICE_LATE_OPEN = {
    "event_id": "e29",
    "metric_id": "m_open",
    "profile_id": "kp1",
    "occurred_at": "2026-03-06 20:00:00+00",
    "message_id": "cm_a",
    "is_machine_open": False,
}
MID_MONTH = [*_carol_orders("e27", "2026-03-20 12:00:00+00", "o5"), ALICE_LATE_OPEN]
MONTH_LATER = _carol_orders("e28", "2026-04-02 12:00:00+00", "o6")
LATER_LOADS = [
    (NEW_SEND, NEW_SEND_LOAD),
    (LATE_EVENTS, LATE_LOAD),
    (MID_MONTH, MID_MONTH_LOAD),
    (MONTH_LATER, MONTH_LATER_LOAD),
]

# Dave's flow step 1 send (03-01 08:00) gets a click stamped 03-01 09:00, loaded only now: older
# than the rebuild window (newest send 03-10 less 3 + 5 days) of the models that keep one.
TOO_OLD_EVENT = {
    "event_id": "e26",
    "metric_id": "m_click",
    "profile_id": "kp5",
    "occurred_at": "2026-03-01 09:00:00+00",
    "message_id": "fm1",
    "flow_id": "f1",
    "url": "https://shop.example/z",
}


def _query(database_path: Path, sql: str) -> list[tuple]:
    connection = duckdb.connect(str(database_path))
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _load_tables(database_path: Path, tables: dict[str, list[dict]], load_id: str) -> None:
    """One dlt load of rows into raw tables."""
    connection = duckdb.connect(str(database_path))
    try:
        for table, rows in tables.items():
            insert_raw_rows(connection, table, rows, load_id)
    finally:
        connection.close()


def _load(database_path: Path, rows: list[dict], load_id: str) -> None:
    _load_tables(database_path, {"raw_klaviyo.events": rows}, load_id)


def _load_later_loads(database_path: Path) -> None:
    for rows, load_id in LATER_LOADS:
        _load(database_path, rows, load_id)


def _copy_warehouse(source: Path, target: Path) -> None:
    """Copy a warehouse file, checkpointed first so the copy holds every committed change."""
    connection = duckdb.connect(str(source))
    try:
        connection.execute("checkpoint")
    finally:
        connection.close()
    shutil.copyfile(source, target)


def _build(database_path: Path, work_dir: Path, *flags: str) -> None:
    result = invoke_dbt(database_path, work_dir, ["build", *flags])
    assert result.success, dbt_failures(result)


def _built_tables(database_path: Path) -> list[str]:
    connection = duckdb.connect(str(database_path))
    try:
        rows = connection.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('intermediate', 'marts') and table_type = 'BASE TABLE' order by 1"
        ).fetchall()
    finally:
        connection.close()
    return [row[0] for row in rows]


def _rows(database_path: Path, table: str) -> Counter:
    """The table's rows as a multiset, floats rounded (sums may add in another order), without
    dbt_built_at (when the build that wrote the row started: builds differ by design)."""
    connection = duckdb.connect(str(database_path))
    try:
        columns = [row[0] for row in connection.execute(f"describe {table}").fetchall()]
        selected = ", ".join(f'"{column}"' for column in columns if column != BUILD_STAMP)
        rows = connection.execute(f"select {selected} from {table}").fetchall()
    finally:
        connection.close()

    def comparable(value: object) -> object:
        if isinstance(value, float) and not math.isnan(value):
            return round(value, 9)
        return value

    return Counter(tuple(comparable(value) for value in row) for row in rows)


def _difference(left: Path, right: Path, tables: list[str]) -> dict[str, tuple[Counter, Counter]]:
    """Per table with differing rows: (rows only in left, rows only in right)."""
    differences = {}
    for table in tables:
        left_rows, right_rows = _rows(left, table), _rows(right, table)
        if left_rows != right_rows:
            differences[table] = (left_rows - right_rows, right_rows - left_rows)
    return differences


def _send(database_path: Path, profile_id: str, message_id: str) -> dict:
    connection = duckdb.connect(str(database_path))
    try:
        cursor = connection.execute(
            "select * from marts.fct_email_sends where klaviyo_profile_id = ? and message_id = ?",
            [profile_id, message_id],
        )
        names = [column[0] for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))
    finally:
        connection.close()


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``incremental``: built after each of three loads; ``full``: the three loads, built once."""
    work_dir = tmp_path_factory.mktemp("dbt_incremental")
    incremental = work_dir / "incremental.duckdb"
    full = work_dir / "full.duckdb"
    create_raw_tables(str(incremental))
    _build(incremental, work_dir)
    for rows, load_id in LATER_LOADS:
        _load(incremental, rows, load_id)
        _build(incremental, work_dir)

    create_raw_tables(str(full))
    _load_later_loads(full)
    _build(full, work_dir)
    return {"incremental": incremental, "full": full, "work_dir": work_dir}


def test_the_email_models_are_incremental(warehouses: dict[str, Path]) -> None:
    manifest = (warehouses["work_dir"] / "target" / "manifest.json").read_text()
    nodes = json.loads(manifest)["nodes"]
    materialized = {
        f"{node['config']['schema']}.{node['name']}": node["config"]["materialized"]
        for node in nodes.values()
        if node["resource_type"] == "model"
    }
    assert {model: materialized[model] for model in INCREMENTAL_MODELS} == dict.fromkeys(
        INCREMENTAL_MODELS, "incremental"
    )


def test_late_and_corrected_data_reach_the_incremental_build(warehouses: dict[str, Path]) -> None:
    # Not a vacuous comparison: the second load changed old sends in the incremental warehouse.
    bob_c2 = _send(warehouses["incremental"], "kp3", "cm_c")
    assert (bob_c2["is_human_opened"], bob_c2["is_converted"], bob_c2["attributed_revenue"]) == (
        True,
        True,
        45.0,
    )
    alice_flow = _send(warehouses["incremental"], "kp1", "fm1")
    assert (alice_flow["is_clicked"], alice_flow["attributed_revenue"]) == (True, 0.0)
    # her order's credit moved to a later-loaded open of campaign a
    credited = _query(
        warehouses["incremental"],
        "select attributed_email_send_id = md5('kp1|cm_a') from intermediate.int_orders_attributed "
        "where order_event_id = 'e24'",
    )
    assert credited == [(True,)]
    assert _send(warehouses["incremental"], "kp2", "cm_c")["is_delivered"]


def test_a_waiting_journey_is_judged_once_its_next_step_is_due(warehouses: dict[str, Path]) -> None:
    # not vacuous: Dave's flow journey was still waiting at the earlier incremental builds
    journeys = _query(
        warehouses["incremental"],
        "select exit_reason, next_step_is_due, data_as_of from marts.fct_flow_journeys "
        "where klaviyo_profile_id = 'kp5'",
    )
    assert [row[:2] for row in journeys] == [("filtered_out", True)]
    assert str(journeys[0][2]).startswith("2026-04-02 12:00")


def test_incremental_and_full_builds_hold_identical_tables(warehouses: dict[str, Path]) -> None:
    tables = _built_tables(warehouses["full"])
    assert set(INCREMENTAL_MODELS) <= set(tables)
    assert _built_tables(warehouses["incremental"]) == tables
    assert _difference(warehouses["incremental"], warehouses["full"], tables) == {}


def test_an_event_older_than_the_window_reaches_the_sends(
    warehouses: dict[str, Path], tmp_path: Path
) -> None:
    """The send models rebuild the sends whose events were loaded since they were built, however
    old: a click loaded a month late reaches its send. The flow journeys keep their rebuild
    window (macros/incremental_window.sql): that journey changes on --full-refresh."""
    incremental = tmp_path / "incremental.duckdb"
    _copy_warehouse(warehouses["incremental"], incremental)
    _load(incremental, [TOO_OLD_EVENT], TOO_OLD_LOAD)
    assert not _send(incremental, "kp5", "fm1")["is_clicked"]

    _build(incremental, tmp_path)
    assert _send(incremental, "kp5", "fm1")["is_clicked"]

    full = _full_build_with(tmp_path, {"raw_klaviyo.events": [TOO_OLD_EVENT]}, TOO_OLD_LOAD)
    tables = _built_tables(full)
    assert set(_difference(incremental, full, tables)) == {"marts.fct_flow_journeys"}
    _build(incremental, tmp_path, "--full-refresh")
    assert _difference(incremental, full, tables) == {}


# Dave's profile now carries Carol's email (he was merged into her in Klaviyo), loaded with no
# new event of his: his old events must move to Carol's contact. The open metric is renamed.
DAVE_BECOMES_CAROL = {
    "profile_id": "kp5",
    "email": "carol@example.com",
    "timezone": "UTC",
    "consent": "NEVER_SUBSCRIBED",
    "created_at": "2026-01-20 00:00:00+00",
    "updated_at": "2026-03-11 00:00:00+00",
}
IDENTITY_LOAD = "1772668800.000001"


RENAMED_OPENS = {
    "metric_id": "m_open",
    "metric_name": "Opened Email (renamed)",
    "integration_name": "Klaviyo",
}

RENAMED_ORDERS = {
    "metric_id": "m_order",
    "metric_name": "Placed Order (renamed)",
    "integration_name": "Klaviyo",
}


def _events_table(database_path: Path) -> dict[str, tuple]:
    """event_id -> (profile, contact, attribution key, metric name, event type)."""
    connection = duckdb.connect(str(database_path))
    try:
        rows = connection.execute(
            "select event_id, klaviyo_profile_id, contact_id, attribution_key, metric_name, event_type "
            "from intermediate.int_email_events_enriched"
        ).fetchall()
    finally:
        connection.close()
    return {row[0]: row[1:] for row in rows}


def _full_build_with(tmp_path: Path, tables: dict[str, list[dict]], load_id: str) -> Path:
    """A warehouse built once from the fixture's loads and one more load of `tables`."""
    full = tmp_path / "full.duckdb"
    create_raw_tables(str(full))
    _load_later_loads(full)
    _load_tables(full, tables, load_id)
    _build(full, tmp_path)
    return full


def _after_a_dimension_change(
    warehouses: dict[str, Path], tmp_path: Path, profiles: list[dict], metrics: list[dict]
) -> tuple[dict[str, tuple], dict[str, tuple], Path, Path]:
    """The events table before and after an incremental build on the change; both warehouses."""
    change = {"raw_klaviyo.profiles": profiles, "raw_klaviyo.metrics": metrics}
    incremental = tmp_path / "incremental.duckdb"
    _copy_warehouse(warehouses["incremental"], incremental)
    before = _events_table(incremental)
    _load_tables(incremental, change, IDENTITY_LOAD)
    _build(incremental, tmp_path)
    return before, _events_table(incremental), incremental, _full_build_with(tmp_path, change, IDENTITY_LOAD)


def test_a_profile_that_changes_person_moves_all_its_events_and_sends(
    warehouses: dict[str, Path], tmp_path: Path
) -> None:
    before, after, incremental, full = _after_a_dimension_change(
        warehouses, tmp_path, [DAVE_BECOMES_CAROL], []
    )
    carol = {row[1] for row in after.values() if row[0] == "kp4"}
    dave_events = [event_id for event_id, row in before.items() if row[0] == "kp5"]
    assert dave_events and len(carol) == 1
    # not vacuous: Dave's events, old ones included, now belong to another person
    assert {after[event_id][1] for event_id in dave_events} == carol
    assert not carol & {before[event_id][1] for event_id in dave_events}
    # his sends, old ones included, follow: every table equals a full build's
    tables = _built_tables(full)
    assert _difference(incremental, full, tables) == {}


def test_a_renamed_metric_reaches_every_event_of_it(warehouses: dict[str, Path], tmp_path: Path) -> None:
    before, after, incremental, full = _after_a_dimension_change(warehouses, tmp_path, [], [RENAMED_OPENS])
    opens = [event_id for event_id, row in before.items() if row[3] == "Opened Email"]
    assert opens
    assert {after[event_id][3:] for event_id in opens} == {("Opened Email (renamed)", "other")}
    # the tables built from every event, and the sends (rebuilt from their rewritten events),
    # agree with a full build
    tables = [
        "intermediate.int_email_events_enriched",
        "intermediate.int_orders_attributed",
        "intermediate.int_email_sends_aggregated",
        "marts.fct_email_sends",
    ]
    assert _difference(incremental, full, tables) == {}


def test_orders_of_a_renamed_metric_leave_the_order_tables(
    warehouses: dict[str, Path], tmp_path: Path
) -> None:
    """The narrow order events (int_email_order_events) and attribution drop events that are no
    longer orders: a build only replaces rows, so their removal is done apart (a pre-hook)."""
    before, after, incremental, full = _after_a_dimension_change(warehouses, tmp_path, [], [RENAMED_ORDERS])
    orders = [event_id for event_id, row in before.items() if row[4] == "placed_order"]
    assert orders
    assert {after[event_id][4] for event_id in orders} == {"other"}
    tables = _built_tables(full)
    assert _difference(incremental, full, tables) == {}
    assert sum(_rows(incremental, "intermediate.int_email_order_events").values()) == 0


# Alice orders again on 03-11, a day after her second profile's campaign send; in the same load
# Bob's click on campaign c2 on 03-09 08:00 moves the credit of his order of that day to it.
BOB_CLICK = {
    "event_id": "e31",
    "metric_id": "m_click",
    "profile_id": "kp3",
    "occurred_at": "2026-03-09 08:00:00+00",
    "message_id": "cm_c",
    "url": "https://shop.example/c",
}
LATER_ORDER = {
    "event_id": "e30",
    "metric_id": "m_order",
    "profile_id": "kp1",
    "occurred_at": "2026-03-11 09:00:00+00",
    "value": 35.0,
    "currency": "USD",
    "order_id": "o7",
    "item_count": 1,
}
LATER_ORDER_LOAD = "1772755200.000001"


def test_an_order_is_credited_when_attribution_was_built_before_the_order_table(
    warehouses: dict[str, Path], tmp_path: Path
) -> None:
    """A build that selects the events and attribution but not int_email_order_events leaves the
    new order out of attribution (it reads the orders from that table), while Bob's click makes it
    write a row; the next full build must still credit the order, although the events table wrote
    it before attribution was last built."""
    incremental = tmp_path / "incremental.duckdb"
    _copy_warehouse(warehouses["incremental"], incremental)
    _load(incremental, [LATER_ORDER, BOB_CLICK], LATER_ORDER_LOAD)
    _build(incremental, tmp_path, "--select", "int_email_events_enriched", "int_orders_attributed")
    _build(incremental, tmp_path)
    full = _full_build_with(tmp_path, {"raw_klaviyo.events": [LATER_ORDER, BOB_CLICK]}, LATER_ORDER_LOAD)
    orders = _rows(incremental, "intermediate.int_orders_attributed")
    assert any(row[0] == "e30" for row in orders)
    assert _difference(incremental, full, _built_tables(full)) == {}


def test_an_events_table_built_before_it_was_incremental_asks_for_a_full_refresh(
    warehouses: dict[str, Path], tmp_path: Path
) -> None:
    """A warehouse from before: the events table has no dlt_load_id. The build says what to do."""
    old = tmp_path / "old.duckdb"
    _copy_warehouse(warehouses["incremental"], old)
    connection = duckdb.connect(str(old))
    try:
        connection.execute("alter table intermediate.int_email_events_enriched drop column dlt_load_id")
    finally:
        connection.close()
    result = invoke_dbt(old, tmp_path, ["build", "--select", "int_email_events_enriched"])
    assert not result.success
    assert "--full-refresh" in " ".join(dbt_failures(result))

    _build(old, tmp_path, "--full-refresh")
    assert _difference(old, warehouses["full"], _built_tables(warehouses["full"])) == {}


def _tested_increments(database_path: Path) -> dict[str, str]:
    return dict(
        _query(
            database_path,
            "select test_key, max(checked_through) from quality.dbt_tested_increments group by test_key",
        )
    )


def test_unique_tests_on_increments_record_how_far_they_passed(warehouses: dict[str, Path]) -> None:
    # each test's increment column as it stands after the last build: what its test checked through
    tested = {
        "staging.stg_klaviyo__events:event_id:dlt_load_id": "select max(_dlt_load_id) from raw_klaviyo.events",
        **{
            f"{table}:{key}:{BUILD_STAMP}": f"select cast(max({BUILD_STAMP}) as varchar) from {table}"
            for table, key in [
                ("intermediate.int_email_events_enriched", "event_id"),
                ("intermediate.int_email_sends_aggregated", "email_send_id"),
                ("intermediate.int_email_order_events", "event_id"),
                ("marts.fct_email_sends", "email_send_id"),
            ]
        },
    }
    connection = duckdb.connect(str(warehouses["incremental"]))
    try:
        newest = {key: connection.execute(sql).fetchone()[0] for key, sql in tested.items()}
    finally:
        connection.close()
    assert _tested_increments(warehouses["incremental"]) == newest


def test_a_duplicate_in_a_new_load_fails_every_build_until_it_is_gone(
    warehouses: dict[str, Path], tmp_path: Path
) -> None:
    """The unique test on an increment checks only the rows loaded since it last passed, yet a new
    row repeating an old key fails it, and keeps failing it on the next builds: a failed test
    records nothing."""
    warehouse = tmp_path / "duplicated.duckdb"
    _copy_warehouse(warehouses["incremental"], warehouse)
    record_before = _tested_increments(warehouse)
    connection = duckdb.connect(str(warehouse))
    try:
        # e01 (loaded in the first load, checked since) again in a newer load, as a broken merge would leave it
        connection.execute(
            "insert into raw_klaviyo.events select * replace ('1772755200.000001' as _dlt_load_id) "
            "from raw_klaviyo.events where event_id = 'e01'"
        )
    finally:
        connection.close()
    for _ in range(2):
        result = invoke_dbt(warehouse, tmp_path, ["build"])
        assert not result.success
        failures = " ".join(dbt_failures(result))
        assert "unique_stg_klaviyo__events_event_id" in failures, failures
        assert _tested_increments(warehouse) == record_before

    connection = duckdb.connect(str(warehouse))
    try:
        connection.execute("delete from raw_klaviyo.events where _dlt_load_id = '1772755200.000001'")
    finally:
        connection.close()
    _build(warehouse, tmp_path)
    assert _difference(warehouse, warehouses["full"], _built_tables(warehouses["full"])) == {}


# Bob (HubSpot 102, in campaign c1's A/B test on 03-02) becomes a marketing qualified lead on
# 03-12 and wins a deal created that day: no email event, so c1's exposures are not rebuilt.
CRM_LOAD = "1772755200.000001"
BOB_BECOMES_A_LEAD = {
    "contact_id": "102",
    "email": "bob@example.com",
    "lifecycle_stage": "marketingqualifiedlead",
    "analytics_source": "ORGANIC_SEARCH",
    "created_at": "2026-02-01 00:00:00+00",
    "updated_at": "2026-03-12 00:00:00+00",
    "subscriber_at": "2026-02-01 00:00:00+00",
    "lead_at": "2026-02-04 00:00:00+00",
    "marketing_qualified_lead_at": "2026-03-12 00:00:00+00",
}
BOB_WINS_A_DEAL = {
    "deal_id": "d4",
    "deal_name": "Bob expansion",
    "pipeline_id": "default",
    "deal_stage_id": "closedwon",
    "amount": 700.0,
    "created_at": "2026-03-12 00:00:00+00",
    "closed_at": "2026-03-13 00:00:00+00",
    "updated_at": "2026-03-13 00:00:00+00",
}


CRM_CHANGE = {
    "raw_hubspot.contacts": [BOB_BECOMES_A_LEAD],
    "raw_hubspot.deals": [BOB_WINS_A_DEAL],
    "raw_hubspot.deal_contacts": [{"deal_id": "d4", "contact_id": "102"}],
}


def test_a_lead_won_after_an_ab_test_reaches_its_exposures(
    warehouses: dict[str, Path], tmp_path: Path
) -> None:
    incremental = tmp_path / "incremental.duckdb"
    _copy_warehouse(warehouses["incremental"], incremental)
    bob_in_c1 = (
        "select became_mql, deal_created, won_revenue from marts.fct_experiment_exposures "
        "where experiment_type = 'campaign_ab' and unit_id = sha256('bob@example.com')"
    )
    assert _query(incremental, bob_in_c1) == [(False, False, 0.0)]
    rebuilt_before = _query(incremental, "select max(dbt_built_at) from marts.fct_experiment_exposures")
    _load_tables(incremental, CRM_CHANGE, CRM_LOAD)
    _build(incremental, tmp_path)
    # not vacuous: c1's rows were kept by the build (no send of c1 changed), and only Bob's moved
    assert _query(incremental, bob_in_c1) == [(True, True, 700.0)]
    written = _query(
        incremental,
        "select unit_id = sha256('bob@example.com') from marts.fct_experiment_exposures "
        "where experiment_type = 'campaign_ab' and dbt_built_at > "
        f"cast('{rebuilt_before[0][0]}' as timestamp)",
    )
    assert written == [(True,)]

    full = _full_build_with(tmp_path, CRM_CHANGE, CRM_LOAD)
    assert _difference(incremental, full, _built_tables(full)) == {}
