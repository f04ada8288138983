"""Standard metadata on every asset of the code location: table names, column schemas, owners, tags;
row counts and column types on the materializations of a real run."""

from __future__ import annotations

import dagster as dg
import pytest

from core.results_schema import RESULTS_TABLES, column_names
from orchestration.asset_metadata import PII_TABLES

LAYERS = {"ingestion", "staging", "intermediate", "marts", "decisions", "actions", "bi", "reports"}


@pytest.fixture(scope="module")
def asset_graph():
    from orchestration.definitions import build_defs

    return build_defs().resolve_asset_graph()


def _node(asset_graph, *path: str):
    return asset_graph.get(dg.AssetKey(list(path)))


def _table_keys(asset_graph) -> list[dg.AssetKey]:
    return [key for key in asset_graph.get_all_asset_keys() if key.path[0] not in ("bi", "reports")]


def test_every_asset_has_owners_and_a_layer(asset_graph) -> None:
    for key in asset_graph.get_all_asset_keys():
        node = asset_graph.get(key)
        assert node.owners, key
        assert node.tags.get("layer") in LAYERS, key


def test_table_names_are_schema_dot_table(asset_graph) -> None:
    for key in _table_keys(asset_graph):
        assert asset_graph.get(key).metadata["dagster/table_name"] == ".".join(key.path), key
    assert _node(asset_graph, "raw_klaviyo", "events").metadata["dagster/table_name"] == "raw_klaviyo.events"
    assert "dagster/table_name" not in _node(asset_graph, "bi", "bi_snapshot").metadata


def test_layer_domain_vendor_and_pii_tags(asset_graph) -> None:
    raw_events = _node(asset_graph, "raw_klaviyo", "events").tags
    assert (raw_events["layer"], raw_events["domain"], raw_events["vendor"]) == (
        "ingestion",
        "email",
        "klaviyo",
    )
    insights = _node(asset_graph, "staging", "stg_meta_ads__ad_insights").tags
    assert (insights["layer"], insights["domain"], insights["vendor"]) == ("staging", "ads", "meta_ads")
    funnel = _node(asset_graph, "marts", "fct_crm_funnel").tags
    assert (funnel["layer"], funnel["domain"]) == ("marts", "crm") and "vendor" not in funnel
    assert _node(asset_graph, "results", "budget_recommendations").tags["layer"] == "decisions"
    assert _node(asset_graph, "results", "actions").tags["layer"] == "actions"
    assert _node(asset_graph, "bi", "bi_snapshot").tags["layer"] == "bi"
    for key in _table_keys(asset_graph):
        expected = "true" if ".".join(key.path) in PII_TABLES else "false"
        assert asset_graph.get(key).tags["pii"] == expected, key
    assert {table.split(".")[0] for table in PII_TABLES} <= {"raw_klaviyo", "raw_hubspot", "staging"}


def test_results_tables_carry_the_contract_column_schema(asset_graph) -> None:
    results = [key for key in asset_graph.get_all_asset_keys() if key.path[0] == "results"]
    assert results
    for key in results:
        assert key.path[-1] in RESULTS_TABLES, key
        schema = asset_graph.get(key).metadata["dagster/column_schema"]
        assert [column.name for column in schema.columns] == column_names(key.path[-1])
        assert all(column.type and column.type != "?" for column in schema.columns)


def test_dbt_models_document_their_columns(asset_graph) -> None:
    schema = _node(asset_graph, "marts", "fct_crm_funnel").metadata["dagster/column_schema"]
    assert "days_in_previous_stage" in [column.name for column in schema.columns]
