"""The asset graph's layout in the UI: groups are the eight layers, domains and vendors are tags,
technologies are kinds; the jobs select the same assets whatever the groups are."""

from __future__ import annotations

from collections import Counter

import dagster as dg
import pytest

from orchestration.constants import LAYERS

EXPECTED_LAYERS = ("ingestion", "staging", "intermediate", "marts", "decisions", "actions", "bi", "reports")


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from orchestration.definitions import build_defs

    return build_defs()


def _group(defs: dg.Definitions, *path: str) -> str | None:
    return defs.resolve_asset_graph().get(dg.AssetKey(list(path))).group_name


def test_every_asset_is_in_one_of_the_eight_layer_groups(defs) -> None:
    assert LAYERS == EXPECTED_LAYERS
    graph = defs.resolve_asset_graph()
    groups = Counter(node.group_name for node in graph.asset_nodes)
    assert set(groups) == set(LAYERS), groups  # every layer has assets, nothing else is a group
    for node in graph.asset_nodes:
        assert node.tags["layer"] == node.group_name, node.key


def test_assets_land_where_a_data_engineer_looks(defs) -> None:
    assert _group(defs, "raw_klaviyo", "events") == "ingestion"
    assert _group(defs, "staging", "stg_hubspot__contacts") == "staging"
    assert _group(defs, "intermediate", "int_orders_attributed") == "intermediate"
    assert _group(defs, "marts", "fct_email_sends") == "marts"
    assert _group(defs, "marts", "fct_monitoring_ads_daily") == "marts"
    for table in (
        "customer_value",
        "lead_scores",
        "experiment_decisions",
        "budget_recommendations",
        "flow_dropoff_findings",
        "send_time_profiles",
        "send_time_lift",
        "content_affinity",
        "content_lift",
        "micro_segments",
        "micro_segment_profiles",
    ):
        assert _group(defs, "results", table) == "decisions", table
    assert _group(defs, "results", "anomaly_alerts") == "decisions"
    for table in ("actions", "action_log", "decision_log"):
        assert _group(defs, "results", table) == "actions", table
    assert _group(defs, "bi", "bi_snapshot") == "bi"
    assert _group(defs, "reports", "weekly_digest") == "reports"


def test_domain_and_vendor_are_tags_and_technology_is_a_kind(defs) -> None:
    graph = defs.resolve_asset_graph()

    def node(*path: str):
        return graph.get(dg.AssetKey(list(path)))

    assert node("marts", "fct_email_sends").tags["domain"] == "email"  # marts/email
    assert node("marts", "fct_monitoring_ads_daily").tags["domain"] == "monitoring"
    assert node("results", "churn_risk").tags["domain"] == "scores"
    assert node("results", "send_time_profiles").tags["domain"] == "personalization"
    assert node("results", "send_time_lift").tags["domain"] == "personalization"
    # the lift reads the sends mart; the weekly digest's send-time paragraph reads the lift and profiles
    assert dg.AssetKey(["marts", "fct_email_sends"]) in node("results", "send_time_lift").parent_keys
    assert {
        dg.AssetKey(["results", "send_time_lift"]),
        dg.AssetKey(["results", "send_time_profiles"]),
    } <= node("reports", "weekly_digest").parent_keys
    assert node("results", "content_affinity").tags["domain"] == "personalization"
    # the content lift likewise reads the sends mart; the digest's content paragraph reads it
    assert node("results", "content_lift").tags["domain"] == "personalization"
    assert dg.AssetKey(["marts", "fct_email_sends"]) in node("results", "content_lift").parent_keys
    assert dg.AssetKey(["results", "content_lift"]) in node("reports", "weekly_digest").parent_keys
    assert node("results", "micro_segments").tags["domain"] == "personalization"
    # micro-segments come after content affinity and the customer value score
    parents = graph.get(dg.AssetKey(["results", "micro_segments"])).parent_keys
    assert {
        dg.AssetKey(["results", "content_affinity"]),
        dg.AssetKey(["results", "customer_value"]),
    } <= parents
    assert node("results", "actions").tags["domain"] == "loop"
    assert node("staging", "stg_google_ads__ad_stats").tags["vendor"] == "google_ads"
    assert node("raw_hubspot", "contacts").kinds == {"dlt", "duckdb"}
    assert node("marts", "fct_orders").kinds == {"dbt", "duckdb"}
    assert node("results", "budget_recommendations").kinds == {"python", "duckdb"}
    # Gates are checks on the tables they judge, never assets of their own.
    assert not [key for key in graph.get_all_asset_keys() if key.path[0] not in _SCHEMAS]


_SCHEMAS = {"staging", "intermediate", "marts", "results", "bi", "reports", "raw_klaviyo", "raw_hubspot",
            "raw_meta_ads", "raw_google_ads"}  # fmt: skip


def _job_selections(defs: dg.Definitions) -> dict[str, set[dg.AssetKey]]:
    repository = defs.get_repository_def()
    return {
        job.name: set(job.asset_layer.selected_asset_keys) if job.asset_layer else set()
        for job in repository.get_all_jobs()
    }


def test_job_selections_do_not_depend_on_the_groups(defs) -> None:
    """The same jobs over the same assets all put in one group select the same asset keys."""
    one_group = dg.Definitions(
        assets=dg.map_asset_specs(lambda spec: spec.replace_attributes(group_name="one"), defs.assets or []),
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        schedules=defs.schedules,
        sensors=defs.sensors,
        resources=defs.resources,
        executor=defs.executor,
    )
    regrouped = _job_selections(defs)
    assert regrouped == _job_selections(one_group)
    graph = defs.resolve_asset_graph()
    # every asset a run can materialize (the assignments tables are external: the action log
    # appends them, and dbt reads the tests' back, so neither can be an asset of its own in the graph)
    all_keys = set(graph.materializable_asset_keys)
    assert set(graph.get_all_asset_keys()) - all_keys == {
        dg.AssetKey(["results", "experiment_assignments"]),
        dg.AssetKey(["results", "send_time_assignments"]),
        dg.AssetKey(["results", "content_assignments"]),
    }
    digest = dg.AssetKey(["reports", "weekly_digest"])
    assert regrouped["daily_refresh"] == all_keys - {digest}  # the digest is weekly: its own job
    assert regrouped["weekly_digest"] == {digest}
    assert regrouped["anomaly_scan"] == {dg.AssetKey(["results", "anomaly_alerts"])}


def test_raw_tables_are_gated_by_great_expectations_not_by_dbt_source_tests(defs) -> None:
    """dagster-dbt logs a source test as an observation with a warning; the raw keys are the
    blocking gate's instead, so no dbt test reads a source and the gate covers what they did."""
    import json

    from orchestration.defs.transform.project import dbt_project
    from quality import RAW_SUITES, Severity

    manifest = json.loads(dbt_project.manifest_path.read_text())
    tests = [node for node in manifest["nodes"].values() if node["resource_type"] == "test"]
    assert tests  # the models' tests are still there
    assert not [
        node["name"]
        for node in tests
        if any(dep.startswith("source.") for dep in node["depends_on"]["nodes"])
    ]
    blocking_not_null = {
        (suite.table, column)
        for suite in RAW_SUITES
        for check in suite.checks
        if check.kind == "not_null" and check.severity == Severity.ERROR
        for column in check.columns
    }
    for table, column in [
        ("raw_klaviyo.metrics", "metric_id"),
        ("raw_klaviyo.events", "event_id"),
        ("raw_klaviyo.profiles", "profile_id"),
        ("raw_hubspot.contacts", "contact_id"),
        ("raw_hubspot.deals", "deal_id"),
    ]:
        assert (table, column) in blocking_not_null
        check_key = dg.AssetCheckKey(dg.AssetKey(table.split(".")), "great_expectations_blocking")
        assert check_key in defs.resolve_asset_graph().asset_check_keys
