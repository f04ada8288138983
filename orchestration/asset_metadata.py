"""Standard Dagster metadata for every table asset, derived in one place from its key, group and tags.

- On the spec (what the asset page shows before any run): ``dagster/table_name`` as the
  warehouse names it (``raw_klaviyo.events``, ``marts.fct_orders``, ``results.actions``); the
  ``results`` tables' column schema from the BI contract (``core/results_schema.py``); owners;
  tags ``layer`` (the asset's group: groups are layers, ``orchestration.constants.LAYERS``),
  ``domain`` (set by the asset, else its vendor's), ``vendor`` and ``pii``; on marts and ``results``
  tables a freshness policy sized to the schedule that refreshes them (:func:`freshness_policy`),
  so the UI says "overdue" when a daily run (or the hourly anomaly scan) was missed.
- On each materialization (:func:`table_metadata`): ``dagster/row_count`` and the table name,
  read from the warehouse after the table is written, and for dbt models the column types DuckDB
  reports (dbt's YAML documents the columns but not their types).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import dagster as dg

from orchestration.constants import (
    ACTIONS,
    BI,
    DECISIONS,
    INGESTION,
    INTERMEDIATE,
    LAYERS,
    MARTS,
    REPORTS,
    STAGING,
)

# Schemas whose assets are warehouse tables (the BI snapshot is a file, not a table).
TABLE_SCHEMAS = ("staging", "intermediate", "marts", "results")
RAW_SCHEMA_PREFIX = "raw_"

# Where each vendor's data belongs.
VENDOR_DOMAINS = {"klaviyo": "email", "hubspot": "crm", "meta_ads": "ads", "google_ads": "ads"}

OWNERS_BY_LAYER = {
    INGESTION: ["team:data-engineering"],
    STAGING: ["team:data-engineering"],
    INTERMEDIATE: ["team:data-engineering"],
    MARTS: ["team:analytics-engineering"],
    DECISIONS: ["team:marketing-science"],
    ACTIONS: ["team:marketing-science"],
    BI: ["team:analytics-engineering"],
    REPORTS: ["team:marketing-science"],
}

# Tables that hold email addresses in clear; from the marts on, a person is a sha256 of the email.
PII_TABLES = frozenset(
    {
        "raw_klaviyo.profiles",
        "raw_hubspot.contacts",
        "staging.stg_klaviyo__profiles",
        "staging.stg_hubspot__contacts",
    }
)


# The daily_refresh schedule runs at 06:00 UTC: a mart or result older than a day and a bit missed
# a run. The anomaly scan runs hourly (hourly_anomaly_scan): two hours means a missed scan.
DAILY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=25)
)
HOURLY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=2), warn_window=timedelta(minutes=75)
)
HOURLY_TABLES = frozenset({"results.anomaly_alerts"})


def freshness_policy(key: dg.AssetKey) -> dg.FreshnessPolicy | None:
    """How stale a mart or ``results`` table may get before the UI calls it overdue; None elsewhere."""
    name = table_name(key)
    if name is None or key.path[0] not in ("marts", "results"):
        return None
    return HOURLY_FRESHNESS if name in HOURLY_TABLES else DAILY_FRESHNESS


def table_name(key: dg.AssetKey) -> str | None:
    """``schema.table`` for an asset that is a warehouse table, else None."""
    if len(key.path) != 2:
        return None
    schema = key.path[0]
    if schema in TABLE_SCHEMAS or schema.startswith(RAW_SCHEMA_PREFIX):
        return ".".join(key.path)
    return None


def _vendor(key: dg.AssetKey) -> str | None:
    schema, name = key.path[0], key.path[-1]
    if schema.startswith(RAW_SCHEMA_PREFIX):
        return schema.removeprefix(RAW_SCHEMA_PREFIX)
    if schema == "staging" and name.startswith("stg_"):
        return name.removeprefix("stg_").split("__", 1)[0]
    return None


def _layer_and_domain(spec: dg.AssetSpec) -> tuple[str | None, str | None]:
    """The layer is the asset's group; the domain is the asset's own ``domain`` tag (marts, decisions)
    or, for vendor tables, the vendor's domain."""
    layer = spec.group_name if spec.group_name in LAYERS else None
    domain = spec.tags.get("domain") or VENDOR_DOMAINS.get(_vendor(spec.key) or "")
    return layer, domain


def results_column_schema(table: str) -> dg.TableSchema:
    """The declared columns of ``results.<table>`` (the BI contract) as a Dagster table schema."""
    from core.results_schema import table_columns

    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=column.name, type=column.type, description=column.description)
            for column in table_columns(table)
        ]
    )


def standard_asset_spec(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The spec with its table name, owners, tags, freshness policy and (``results`` tables) column schema."""
    layer, domain = _layer_and_domain(spec)
    vendor = _vendor(spec.key)
    name = table_name(spec.key)
    tags = {"layer": layer, "domain": domain, "vendor": vendor}
    if name is not None:
        tags["pii"] = "true" if name in PII_TABLES else "false"
    metadata: dict[str, Any] = {}
    if name is not None:
        metadata["dagster/table_name"] = name
    if spec.key.path[0] == "results":
        metadata["dagster/column_schema"] = results_column_schema(spec.key.path[-1])
    return spec.replace_attributes(
        freshness_policy=spec.freshness_policy or freshness_policy(spec.key),
        owners=list(spec.owners) or OWNERS_BY_LAYER.get(layer or "", []),
        tags={**spec.tags, **{tag: value for tag, value in tags.items() if value is not None}},
        metadata={**spec.metadata, **metadata},
    )


def with_code_references(assets: Sequence[dg.AssetsDefinition]) -> Sequence[dg.AssetsDefinition]:
    """Each asset linked to the Python that defines it (dbt models also to their SQL file, through
    the translator's ``enable_code_references``); local file paths, so they open from a checkout.
    The API is beta in Dagster 1.13: its warnings are silenced here rather than on every load."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.with_source_code_references(assets)


def row_count(con: Any, table: str) -> int:
    """Rows in ``schema.table`` on an open DuckDB connection."""
    schema, name = table.split(".", 1)
    (count,) = con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()
    return int(count)


def column_types(con: Any, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of ``schema.table``, in table order."""
    schema, name = table.split(".", 1)
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    return {column: data_type for column, data_type in rows}


def table_metadata(
    con: Any, key: dg.AssetKey, *, descriptions: Mapping[str, str | None] | None = None
) -> dict[str, Any]:
    """Materialization metadata of a table asset: its name and row count, and with
    ``descriptions`` (column -> description) its column schema with the types DuckDB reports."""
    name = table_name(key)
    if name is None:
        return {}
    types = column_types(con, name)
    if not types:  # not written yet (e.g. a quarantine table no record has reached)
        return {"dagster/table_name": name}
    metadata: dict[str, Any] = {"dagster/table_name": name, "dagster/row_count": row_count(con, name)}
    if descriptions is not None:
        metadata["dagster/column_schema"] = dg.TableSchema(
            columns=[
                dg.TableColumn(name=column, type=data_type, description=descriptions.get(column))
                for column, data_type in types.items()
            ]
        )
    return metadata
