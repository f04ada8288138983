"""The dbt project builds on hand-crafted raw tables and the marts hold the hand-computed numbers."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from dbt_build_result import DbtBuild


def contact_id(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"

ALICE = contact_id("alice@example.com")
BOB = contact_id("bob@example.com")
CAROL = contact_id("carol@example.com")
DAVE = contact_id("dave@example.com")
ERIN = contact_id("erin@example.com")

MARTS = [
    "dim_contacts",
    "fct_email_sends",
    "fct_email_campaign_variant_daily",
    "fct_flow_step_funnel",
    "fct_flow_journeys",
    "dim_email_messages",
    "dim_message_content",
    "fct_ad_performance_daily",
    "fct_ad_conversion_snapshots",
    "dim_budget_entities",
    "fct_crm_funnel",
    "fct_deals",
    "fct_orders",
    "fct_experiment_exposures",
    "fct_experiment_sufficient_stats",
    "fct_experiment_contamination",
    "fct_monitoring_email_daily",
    "fct_monitoring_email_click_daily",
    "fct_monitoring_ads_daily",
    "fct_monitoring_crm_daily",
]


def test_build_succeeds_with_every_test_passing(dbt_build: DbtBuild) -> None:
    assert dbt_build.success, dbt_build.failures
    assert dbt_build.failures == []


def test_schemas_are_exactly_staging_intermediate_marts(dbt_build: DbtBuild) -> None:
    schemas = {
        row[0]
        for row in dbt_build.query(
            "select distinct table_schema from information_schema.tables where table_schema not like 'raw_%'"
        )
    }
    assert {"staging", "intermediate", "marts"} <= schemas
    assert not {schema for schema in schemas if schema.startswith("main_")}
    table_types = dict(
        dbt_build.query(
            "select table_name, table_type from information_schema.tables where table_schema = 'marts'"
        )
    )
    assert set(table_types) == set(MARTS)
    assert set(table_types.values()) == {"BASE TABLE"}


def _contract_columns() -> dict[str, list[str]]:
    """Mart -> columns, from the table in docs/contracts.md section 3."""
    text = CONTRACTS.read_text()
    section = text[text.index("## 3. Marts") :].split("\n## ")[0]  # up to section 4
    contract = {}
    for line in section.splitlines():
        match = re.match(r"\| (\w+) \| .*? \| (.*) \|$", line)
        if match and match.group(1) != "model":
            contract[match.group(1)] = [column.strip().split(" ")[0] for column in match.group(2).split(", ")]
    return contract


def test_marts_have_exactly_the_contract_columns(dbt_build: DbtBuild) -> None:
    contract = _contract_columns()
    assert set(contract) == set(MARTS)
    for model, columns in contract.items():
        actual = dbt_build.query(
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = ? order by ordinal_position",
            [model],
        )
        assert [row[0] for row in actual] == columns, model


def test_raw_email_never_reaches_marts(dbt_build: DbtBuild) -> None:
    text_columns = dbt_build.query(
        "select table_name, column_name from information_schema.columns "
        "where table_schema = 'marts' and data_type = 'VARCHAR'"
    )
    for table, column in text_columns:
        (hits,) = dbt_build.query(f"select count(*) from marts.{table} where \"{column}\" like '%@%'")[0]
        assert hits == 0, f"{table}.{column} holds an email"


def test_dim_contacts_resolves_identities_across_esp_and_crm(dbt_build: DbtBuild) -> None:
    rows = {row["contact_id"]: row for row in dbt_build.query_dicts("select * from marts.dim_contacts")}
    assert set(rows) == {ALICE, BOB, CAROL, DAVE, ERIN}  # "not-an-email" is not a person
    alice = rows[ALICE]
    assert alice["email_sha256"] == ALICE
    assert alice["klaviyo_profile_id"] == "kp2"  # most recently updated of her two profiles
    assert alice["hubspot_contact_id"] == "101"
    assert alice["lifecycle_stage"] == "customer"
    assert alice["timezone"] == "America/New_York"
    assert rows[BOB]["hubspot_contact_id"] == "102"  # the newer of two HubSpot duplicates
    assert rows[BOB]["is_subscribed"] is False
    assert rows[CAROL]["is_in_global_holdout"] is True
    assert rows[CAROL]["hubspot_contact_id"] is None
    assert rows[ERIN]["klaviyo_profile_id"] is None
    assert sum(row["is_in_global_holdout"] for row in rows.values()) == 1


def test_email_sends_flags_and_attribution(dbt_build: DbtBuild) -> None:
    sends = {
        (row["klaviyo_profile_id"], row["message_id"]): row
        for row in dbt_build.query_dicts("select * from marts.fct_email_sends")
    }
    assert len(sends) == 11
    # Alice, Variant A: human open, order 2 days later is credited
    alice_a = sends[("kp1", "cm_a")]
    assert alice_a["contact_id"] == ALICE
    assert alice_a["is_human_opened"] and not alice_a["is_machine_open_only"]
    assert alice_a["is_converted"] and alice_a["attributed_order_count"] == 1
    assert alice_a["attributed_revenue"] == pytest.approx(100.0)
    # Alice, Variant B: machine open only, never a touch
    alice_b = sends[("kp2", "cm_b")]
    assert alice_b["is_opened"] and alice_b["is_machine_open_only"] and not alice_b["is_human_opened"]
    assert not alice_b["is_converted"]
    # Bob clicked, but ordered 7 days later: outside the 5-day window
    bob_a = sends[("kp3", "cm_a")]
    assert bob_a["is_clicked"] and not bob_a["is_converted"]
    # Dave: received then bounced
    dave_b = sends[("kp5", "cm_b")]
    assert dave_b["is_bounced"] and not dave_b["is_delivered"]
    bob_c = sends[("kp3", "cm_c")]
    assert bob_c["is_unsubscribed"] and bob_c["is_spam_complaint"] and bob_c["ab_test_phase"] is None
    assert sends[("kp6", "cm_c")]["contact_id"] is None
    flow_send = sends[("kp3", "fm2a")]
    assert (flow_send["send_type"], flow_send["flow_id"], flow_send["flow_action_id"]) == (
        "flow",
        "f1",
        "fa2",
    )
    assert sum(row["attributed_revenue"] for row in sends.values()) == pytest.approx(100.0)
    assert sum(row["send_type"] == "campaign" for row in sends.values()) == 6


def test_campaign_variant_daily(dbt_build: DbtBuild) -> None:
    rows = {
        row["message_id"]: row
        for row in dbt_build.query_dicts("select * from marts.fct_email_campaign_variant_daily")
    }
    assert set(rows) == {"cm_a", "cm_b", "cm_c"}
    variant_a = rows["cm_a"]
    assert (variant_a["recipients"], variant_a["delivered"], variant_a["human_opens"], variant_a["clicks"]) == (
        2, 2, 1, 1,
    )  # fmt: skip
    assert variant_a["conversions"] == 1 and variant_a["revenue"] == pytest.approx(100.0)
    assert variant_a["open_rate"] == pytest.approx(0.5)
    variant_b = rows["cm_b"]
    assert (variant_b["delivered"], variant_b["opens"], variant_b["human_opens"], variant_b["bounces"]) == (
        1,
        1,
        0,
        1,
    )
    assert variant_b["bounce_rate"] == pytest.approx(0.5)
    assert variant_b["human_open_rate"] == pytest.approx(0.0)
    newsletter = rows["cm_c"]
    assert str(newsletter["send_date"]) == "2026-03-03"
    assert newsletter["unsubscribe_rate"] == pytest.approx(0.5)
    assert newsletter["spam_complaints"] == 1


def test_flow_step_funnel(dbt_build: DbtBuild) -> None:
    rows = {
        row["message_id"]: row for row in dbt_build.query_dicts("select * from marts.fct_flow_step_funnel")
    }
    assert set(rows) == {"fm1", "fm2a", "fm2b"}
    assert rows["fm1"]["recipients"] == 3 and rows["fm1"]["step_retention_rate"] == pytest.approx(1.0)
    assert rows["fm2a"]["human_opens"] == 1 and rows["fm2a"]["flow_name"] == "Welcome"
    assert rows["fm2b"]["step_retention_rate"] == pytest.approx(2 / 3)


def test_ad_performance_unifies_platforms(dbt_build: DbtBuild) -> None:
    rows = {
        (row["platform"], row["ad_id"], str(row["date_day"])): row
        for row in dbt_build.query_dicts("select * from marts.fct_ad_performance_daily")
    }
    assert len(rows) == 4
    assert not any(
        row["is_quarantined"] for key, row in rows.items() if key != ("google_ads", "ga1", "2026-03-02")
    )
    meta = rows[("meta_ads", "ma1", "2026-03-01")]
    assert meta["spend"] == pytest.approx(10.0)  # the latest load wins over the older 8.0
    assert (meta["ctr"], meta["cpc"], meta["roas"], meta["cpa"]) == pytest.approx((0.02, 0.5, 5.0, 5.0))
    zero_day = rows[("meta_ads", "ma1", "2026-03-02")]
    assert (zero_day["ctr"], zero_day["cpc"], zero_day["roas"], zero_day["cpa"]) == (None, None, None, None)
    google = rows[("google_ads", "ga1", "2026-03-01")]
    assert google["spend"] == pytest.approx(12.5)  # 12,500,000 micros
    assert google["account_id"] == "1112223333" and google["ad_group_id"] == "ag1"
    assert (google["roas"], google["cpa"]) == pytest.approx((2.4, 12.5))
    quarantined = rows[("google_ads", "ga1", "2026-03-02")]  # unknown, not zero
    assert quarantined["is_quarantined"] and quarantined["account_id"] == "1112223333"
    assert (quarantined["campaign_id"], quarantined["ad_group_id"], quarantined["currency"]) == (
        "gc1",
        "ag1",
        "USD",
    )
    metrics = (
        "spend",
        "impressions",
        "clicks",
        "conversions",
        "conversions_value",
        "ctr",
        "cpc",
        "roas",
        "cpa",
    )
    assert all(quarantined[column] is None for column in metrics)


def test_ad_conversion_snapshots_keep_each_read(dbt_build: DbtBuild) -> None:
    rows = dbt_build.query(
        "select platform, ad_id, cast(date_day as varchar), cast(observed_on as varchar), age_days, "
        "conversions, conversions_value from marts.fct_ad_conversion_snapshots order by 1, 2, 4"
    )
    assert rows == [
        ("google_ads", "ga1", "2026-03-01", "2026-03-03", 2, 1.0, 12.0),  # the newer of two reads that day
        ("meta_ads", "ma1", "2026-03-01", "2026-03-02", 1, 1.0, 0.0),  # no value reported: zero
        ("meta_ads", "ma1", "2026-03-01", "2026-03-08", 7, 2.0, 50.0),
    ]


def test_crm_funnel_order_and_velocity(dbt_build: DbtBuild) -> None:
    rows = dbt_build.query_dicts(
        "select * from marts.fct_crm_funnel where contact_id = ? order by stage_order", [ALICE]
    )
    assert [(row["from_stage"], row["to_stage"]) for row in rows] == [
        (None, "subscriber"),
        ("subscriber", "marketingqualifiedlead"),
        ("marketingqualifiedlead", "customer"),
    ]
    assert [row["days_in_previous_stage"] for row in rows] == [None, pytest.approx(63.5), pytest.approx(5.0)]
    bob = dbt_build.query_dicts(
        "select * from marts.fct_crm_funnel where contact_id = ? order by stage_order", [BOB]
    )
    # Bob's older HubSpot duplicate (104, subscriber in 2025) does not add a second subscriber row
    assert [(row["hubspot_contact_id"], row["to_stage"]) for row in bob] == [
        ("102", "subscriber"),
        ("102", "lead"),
    ]
    assert bob[1]["days_in_previous_stage"] == pytest.approx(3.0)
    (total,) = dbt_build.query("select count(*) from marts.fct_crm_funnel")[0]
    assert total == 6


def test_deal_outcomes(dbt_build: DbtBuild) -> None:
    rows = {row["deal_id"]: row for row in dbt_build.query_dicts("select * from marts.fct_deals")}
    assert rows["d1"]["outcome"] == "won" and rows["d1"]["won_revenue"] == pytest.approx(500.0)
    assert rows["d1"]["contact_id"] == ALICE  # lowest of its two HubSpot contacts (101, 103)
    assert rows["d1"]["days_to_close"] == pytest.approx(5.0)
    assert rows["d2"]["outcome"] == "lost" and rows["d2"]["won_revenue"] == 0
    assert rows["d2"]["days_to_close"] == pytest.approx(10.0)
    assert (
        rows["d3"]["outcome"] == "open"
        and rows["d3"]["closed_at"] is None
        and rows["d3"]["days_to_close"] is None
    )


def test_experiment_exposures(dbt_build: DbtBuild) -> None:
    rows = {
        (row["experiment_id"], row["unit_id"], row["variant"]): row
        for row in dbt_build.query_dicts("select * from marts.fct_experiment_exposures")
    }
    assert len(rows) == 10
    campaign = {key: row for key, row in rows.items() if key[0] == "campaign_ab:c1"}
    assert len(campaign) == 4
    # Alice's two profiles got both variants: contaminated
    assert campaign[("campaign_ab:c1", ALICE, "Variant A")]["arm_count"] == 2
    assert campaign[("campaign_ab:c1", ALICE, "Variant B")]["arm_count"] == 2
    assert campaign[("campaign_ab:c1", BOB, "Variant A")]["arm_count"] == 1
    alice_a = campaign[("campaign_ab:c1", ALICE, "Variant A")]
    assert alice_a["is_control"] and alice_a["is_converted"] and alice_a["revenue"] == pytest.approx(100.0)
    assert (
        alice_a["became_mql"] and alice_a["deal_created"] and alice_a["won_revenue"] == pytest.approx(500.0)
    )
    assert not campaign[("campaign_ab:c1", ALICE, "Variant B")]["is_human_opened"]
    assert campaign[("campaign_ab:c1", DAVE, "Variant B")]["is_bounced"]
    assert not campaign[("campaign_ab:c1", BOB, "Variant A")]["deal_created"]  # deal before exposure
    flow = {key[2]: row for key, row in rows.items() if key[0] == "flow_split:fa2"}
    assert {variant: row["unit_id"] for variant, row in flow.items()} == {"Variant A": BOB, "Variant B": DAVE}
    holdout = {key[1:]: row for key, row in rows.items() if key[0] == "global_holdout"}
    assert set(holdout) == {(CAROL, "holdout"), (ALICE, "treatment"), (BOB, "treatment"), (DAVE, "treatment")}
    carol = holdout[(CAROL, "holdout")]
    assert carol["is_control"] and not carol["is_delivered"] and carol["arm_count"] == 1
    assert carol["is_converted"] and carol["revenue"] == pytest.approx(60.0)  # unattributed order
    assert holdout[(BOB, "treatment")]["revenue"] == pytest.approx(40.0)
    assert str(carol["exposed_at"]) == "2026-03-01 08:00:00"  # first delivered email, after she joined


T1, T2, T3, T4 = (
    "lw-t1-20260303",
    "lw-t2-20260302",
    "lw-t3-20260302",
    "lw-t4-20260302",
)  # lw-<library id>-<launch day>


def _template(key: str, subject: str) -> str:
    """A subject as Loopwise's launcher templates it for the test with property lw_arm_<key>."""
    return f"{{% if person|lookup:'lw_arm_{key}' == 'variant' %}}Quick read: {subject}{{% else %}}{subject}{{% endif %}}"


@pytest.mark.parametrize("session_time_zone", [None, "Australia/Sydney"])
def test_loopwise_test_exposures_follow_the_arm_in_force(
    dbt_build: DbtBuild, tmp_path: Path, session_time_zone: str | None
) -> None:
    """results.experiment_assignments (absent in the session build: the model falls back to an
    empty relation) drives the loopwise_test and loopwise_holdback rows, counting only sends of
    campaigns whose subject carried the test (read its property); on a copy of the built warehouse
    with assignments and templated subjects, only the exposures model is rebuilt. The same rows in a
    session whose time zone is not UTC: the assignments are instants, the sends' times naive UTC
    (in Sydney, 09:00 naive read as local time would fall before a launch at 00:00 UTC)."""
    import duckdb
    from dbt_build_result import invoke_dbt, profiles_with_settings

    copy = tmp_path / "with_assignments.duckdb"
    connection = duckdb.connect(str(dbt_build.database_path))
    try:
        connection.execute(f"attach '{copy}' as with_assignments")
        connection.execute(f"copy from database {dbt_build.database_path.stem} to with_assignments")
        connection.execute("create schema with_assignments.results")
        connection.execute(
            "create table with_assignments.results.experiment_assignments (experiment_id varchar, "
            "contact_id varchar, klaviyo_profile_id varchar, arm varchar, assigned_at timestamptz, action_id varchar)"
        )
        connection.executemany(
            "insert into with_assignments.results.experiment_assignments values (?, ?, ?, ?, ?, 'a1')",
            [
                # lw-t1 from 3 March 00:00: Bob on the variant gets campaign c2 (09:00)
                (T1, BOB, "kp3", "variant", "2026-03-03 00:00:00+00"),
                (T1, ALICE, "kp1", "control", "2026-03-03 00:00:00+00"),  # no campaign after: no row
                # lw-t2 from 2 March: Bob on control gets c1 (he clicks); rolled out on 3 March, he is
                # in the holdback for c2
                (T2, BOB, "kp3", "control", "2026-03-02 00:00:00+00"),
                (T2, BOB, "kp3", "holdback", "2026-03-03 00:00:00+00"),
                # lw-t3 from 2 March: no campaign's subject reads its property, so nothing Bob got
                # carried it: no row
                (T3, BOB, "kp3", "variant", "2026-03-02 00:00:00+00"),
                # lw-t4 from 2 March: Bob on the variant, Alice on control, both get c1; rolled out on
                # 3 March, Alice to the holdback; Bob stays on the variant, so the rollout wrote no row
                # for him: his c2 is in the holdback phase, not the test's
                (T4, BOB, "kp3", "variant", "2026-03-02 00:00:00+00"),
                (T4, ALICE, "kp1", "control", "2026-03-02 00:00:00+00"),
                (T4, ALICE, "kp1", "holdback", "2026-03-03 00:00:00+00"),
            ],
        )
        # Loopwise wrote test subjects to c1 (t2 and t4) and c2 (t1, t2 and t4, nested); nothing for t3
        templated = {"cm_a": _template("t4_20260302", _template("t2_20260302", "Hi")),
                     "cm_b": _template("t4_20260302", _template("t2_20260302", "Hey")),
                     "cm_c": _template("t4_20260302", _template("t1_20260303", _template("t2_20260302", "News")))}  # fmt: skip
        for message_id, subject in templated.items():
            connection.execute(
                "update with_assignments.raw_klaviyo.campaign_messages set subject = ? where message_id = ?",
                [subject, message_id],
            )
        connection.execute("detach with_assignments")
    finally:
        connection.close()
    profiles = (
        profiles_with_settings(tmp_path / "profiles", TimeZone=session_time_zone)
        if session_time_zone
        else None
    )
    result = invoke_dbt(
        copy, tmp_path, ["run", "--select", "fct_experiment_exposures"], profiles_dir=profiles
    )
    assert result.success, dbt_failures_text(result)
    with duckdb.connect(str(copy)) as built:
        cursor = built.execute(
            "select * from marts.fct_experiment_exposures where experiment_type like 'loopwise%' "
            "order by experiment_id, variant"
        )
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert [(r["experiment_id"], r["experiment_type"], r["variant"], r["unit_id"]) for r in rows] == [
        (f"loopwise:{T1}", "loopwise_test", "variant", BOB),
        (f"loopwise:{T2}", "loopwise_test", "control", BOB),
        (f"loopwise:{T2}:holdback", "loopwise_holdback", "holdback", BOB),
        (f"loopwise:{T4}", "loopwise_test", "control", ALICE),
        (f"loopwise:{T4}", "loopwise_test", "variant", BOB),
        (f"loopwise:{T4}:holdback", "loopwise_holdback", "variant", BOB),
    ]
    t1, t2, holdback, t4_alice, t4_bob, t4_bob_after = rows
    # the test phase ended at the rollout for both arms: c1 only (Alice got it on both her profiles);
    # Bob's c2 is the holdback phase's
    assert (t4_alice["delivered_sends"], t4_bob["delivered_sends"], t4_bob["clicked_sends"]) == (2, 1, 1)
    assert (t4_bob_after["delivered_sends"], t4_bob_after["is_unsubscribed"]) == (1, True)
    assert not t4_bob_after["is_control"]
    assert (t1["delivered_sends"], t1["clicked_sends"], t1["is_unsubscribed"], t1["is_spam_complaint"]) == (
        1, 0, True, True,
    )  # fmt: skip
    assert t1["pre_click_rate"] == pytest.approx(1.0)  # he clicked his one campaign before the launch
    assert str(t1["exposed_at"]) == "2026-03-03 09:00:00"
    assert (t2["delivered_sends"], t2["clicked_sends"], t2["pre_click_rate"]) == (1, 1, None)
    assert t2["is_control"] and holdback["is_control"] and not t1["is_control"]
    assert all(r["arm_count"] == 1 for r in rows)


def dbt_failures_text(result) -> str:
    from dbt_build_result import dbt_failures

    return "; ".join(dbt_failures(result))
