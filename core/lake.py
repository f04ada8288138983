"""The Spark engine's files: the raw lake Spark reads, and its models as DuckDB views.

With ``LOOPWISE_ENGINE=spark`` dlt loads raw data into the lake (its filesystem destination,
Parquet) and dbt builds on Spark, so neither touches the DuckDB file. The warehouse resource
(``orchestration/resources.py``) keeps the DuckDB side in step whenever a step opens the file for
writing: :func:`attach_engine_views` makes every lake table and every model Spark wrote a view of
the same name, and :func:`publish_results_sources` copies the results tables dbt reads back into
the lake when they changed (docs/scaling_out.md).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

RAW_SCHEMA_PREFIX = "raw_"
RESULTS_SOURCES = ("results.experiment_assignments",)
"""Tables the decision layer writes that dbt reads back as sources (``_results__sources.yml``)."""
MODEL_SCHEMAS = ("staging", "intermediate", "marts")
LAKE_TABLES_ENV = "LOOPWISE_LAKE_TABLES"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def lake_sources(con: Any) -> list[tuple[str, str]]:
    """``(schema, table)`` of every table dbt reads from the DuckDB warehouse: the raw tables, dlt's
    bookkeeping included (not dlt's ``<dataset>_staging`` schemas, which hold a merge's rows until
    it is applied), and the :data:`RESULTS_SOURCES` that exist."""
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' and ("
        "(starts_with(table_schema, ?) and not ends_with(table_schema, '_staging')) "
        "or list_contains(?, table_schema || '.' || table_name)) order by 1, 2",
        [RAW_SCHEMA_PREFIX, list(RESULTS_SOURCES)],
    ).fetchall()
    return [(schema, table) for schema, table in rows]


def publish_raw_lake(warehouse: str | Path, lake: str | Path) -> list[str]:
    """Write every table of :func:`lake_sources` of the DuckDB file ``warehouse`` to the lake
    (:func:`publish_lake_tables`); returns the ``schema.table`` names written."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        return publish_lake_tables(con, lake, lake_sources(con))


def publish_lake_tables(con: Any, lake: str | Path, tables: Iterable[tuple[str, str]]) -> list[str]:
    """Write each ``(schema, table)`` of ``con`` to ``<lake>/<schema>/<table>/`` as Parquet, with its
    :func:`table_fingerprint` beside it; returns the ``schema.table`` names written.

    Each table's directory is replaced whole: written beside it, then the old one renamed away and
    the new one into its place. A publish killed between those two renames leaves the table only
    in its retired directory; the next publish puts it back first (:func:`repair_lake`), and
    removes the partial directories of a publish killed while writing.
    """
    lake = Path(lake)
    repair_lake(lake)
    written: list[str] = []
    for schema, table in tables:
        target = lake / schema / table
        staging = lake / schema / f".{table}{_STAGING}{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        con.execute(
            f"copy (select * from {_quote(schema)}.{_quote(table)}) "
            f"to {_literal(staging / 'part-00000.parquet')} (format parquet, compression zstd)"
        )
        (staging / FINGERPRINT_FILE).write_text(table_fingerprint(con, schema, table), encoding="utf-8")
        retired = lake / schema / f".{table}{_RETIRED}{uuid.uuid4().hex}"
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
        written.append(f"{schema}.{table}")
    return written


# Beside a published table's Parquet: what it was published from. Spark and Hadoop skip files
# whose names start with "_" or ".", so the table's readers never see it.
FINGERPRINT_FILE = "_loopwise_fingerprint"


def table_fingerprint(con: Any, schema: str, table: str) -> str:
    """Row count and an order-free hash of the rows and columns of a DuckDB table."""
    relation = f"{_quote(schema)}.{_quote(table)}"
    rows, digest = con.execute(f"select count(*), coalesce(sum(hash(t)), 0) from {relation} as t").fetchone()
    columns = con.execute(
        "select string_agg(column_name || ' ' || data_type, ',' order by ordinal_position) "
        "from information_schema.columns where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()[0]
    return f"{rows}:{digest}:{columns}"


def publish_results_sources(con: Any, lake: str | Path) -> list[str]:
    """Publish each of :data:`RESULTS_SOURCES` in ``con`` whose rows differ from the lake's copy
    (or that the lake lacks); returns the tables written."""
    changed = []
    for name in RESULTS_SOURCES:
        schema, table = name.split(".", 1)
        if not _is_table(con, schema, table):
            continue
        published = Path(lake) / schema / table / FINGERPRINT_FILE
        current = published.read_text(encoding="utf-8") if published.is_file() else None
        if current != table_fingerprint(con, schema, table):
            changed.append((schema, table))
    return publish_lake_tables(con, lake, changed) if changed else []


def _is_table(con: Any, schema: str, table: str) -> bool:
    kind = con.execute(
        "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return kind is not None and kind[0] == "BASE TABLE"


_STAGING = ".staging."
_RETIRED = ".retired."


def repair_lake(lake: str | Path) -> list[str]:
    """Undo what a killed :func:`publish_raw_lake` left: a table whose directory was renamed away
    but not replaced gets its retired directory back; partial and retired leftovers go. Returns
    the tables put back."""
    restored: list[str] = []
    lake = Path(lake)
    if not lake.is_dir():
        return restored
    for schema in (path for path in lake.iterdir() if path.is_dir()):
        for leftover in sorted(path for path in schema.iterdir() if path.name.startswith(".")):
            table = leftover.name[1:].split(".", 1)[0]
            if _RETIRED in leftover.name and not (schema / table).exists():
                leftover.rename(schema / table)
                restored.append(f"{schema.name}.{table}")
            elif _STAGING in leftover.name or _RETIRED in leftover.name:
                shutil.rmtree(leftover, ignore_errors=True)
    return restored


def lake_tables(lake: str | Path) -> list[str]:
    """``schema.table`` of every table directory in the lake (what :func:`publish_raw_lake` wrote)."""
    lake = Path(lake)
    if not lake.exists():
        return []
    return sorted(
        f"{schema.name}.{table.name}"
        for schema in lake.iterdir()
        if schema.is_dir() and (schema.name.startswith(RAW_SCHEMA_PREFIX) or schema.name == "results")
        for table in schema.iterdir()
        if table.is_dir() and not table.name.startswith(".") and any(table.glob("*.parquet"))
    )


def lake_env(lake: str | Path) -> dict[str, str]:
    """What dbt's ``register_lake_tables`` hook reads: the lake's tables as a JSON list."""
    return {LAKE_TABLES_ENV: json.dumps(lake_tables(lake))}


def spark_model_tables(
    spark_warehouse: str | Path, schemas: Iterable[str] = MODEL_SCHEMAS
) -> dict[str, Path]:
    """``schema.model`` -> Parquet directory of every model table Spark wrote (``<schema>.db/<model>``)."""
    root = Path(spark_warehouse)
    found: dict[str, Path] = {}
    for schema in schemas:
        directory = root / f"{schema}.db"
        if not directory.is_dir():
            continue
        for table in sorted(directory.iterdir()):
            if table.is_dir() and any(table.glob("*.parquet")):
                found[f"{schema}.{table.name}"] = table
    return found


def attach_spark_models(con: Any, spark_warehouse: str | Path) -> list[str]:
    """Make each model Spark wrote a view in the DuckDB warehouse (same schema and name), with
    timestamps as naive UTC, as the DuckDB build types them; returns the views made.

    A DuckDB-built table of the same name (the warehouse used to be built on DuckDB) is replaced.
    """
    made: list[str] = []
    for name, directory in spark_model_tables(spark_warehouse).items():
        schema, model = name.split(".", 1)
        files = _literal(directory / "*.parquet")
        columns = con.execute(f"describe select * from read_parquet({files})").fetchall()
        select = ", ".join(
            f"timezone('UTC', {_quote(column)}) as {_quote(column)}"
            if column_type.upper().startswith("TIMESTAMP WITH TIME ZONE")
            else _quote(column)
            for column, column_type, *_ in columns
        )
        con.execute(f"create schema if not exists {_quote(schema)}")
        if _is_table(con, schema, model):
            con.execute(f"drop table {_quote(schema)}.{_quote(model)}")
        con.execute(
            f"create or replace view {_quote(schema)}.{_quote(model)} as select {select} from read_parquet({files})"
        )
        made.append(name)
    return made


def load_lake_into_duckdb(lake: str | Path, warehouse: str | Path) -> list[str]:
    """Copy every lake table into the DuckDB file ``warehouse`` (same schema and name): a DuckDB
    warehouse holding the raw data a Spark build read as dlt's merge into DuckDB would hold it
    (the newest row per primary key recorded beside the dataset), e.g. to build the models on
    both engines from the same input (``make test-spark``). Returns the tables loaded."""
    import duckdb

    loaded = lake_tables(lake)
    with duckdb.connect(str(warehouse)) as con:
        for name in loaded:
            schema, table = name.split(".", 1)
            key = read_primary_keys(lake, schema).get(table)
            con.execute(f"create schema if not exists {_quote(schema)}")
            con.execute(
                f"create or replace table {_quote(schema)}.{_quote(table)} as "
                f"{_newest_rows(Path(lake) / schema / table, key)}"
            )
    return loaded


def _newest_rows(directory: Path, key: list[str] | None) -> str:
    """A select of a lake table's Parquet files (columns matched by name) keeping the newest row
    per primary key, as dlt's merge into DuckDB would; every row without a key."""
    source = f"read_parquet({_literal(directory / '*.parquet')}, union_by_name = true)"
    latest = (
        f" qualify row_number() over (partition by {', '.join(_quote(c) for c in key)} "
        "order by _dlt_load_id desc) = 1"
        if key
        else ""
    )
    return f"select * from {source}{latest}"


DLT_LOADS = "_dlt_loads"


def attach_lake_tables(
    con: Any, lake: str | Path, dataset: str, primary_keys: dict[str, list[str]]
) -> list[str]:
    """Make each table dlt loaded into ``<lake>/<dataset>/`` a view of the same name in the DuckDB
    warehouse, so the raw gates, the summary and the anomaly scan's freshness read it as on DuckDB.

    The lake holds every load appended (dlt cannot merge into Parquet files); a view keeps the
    newest row per primary key, as dlt's merge into DuckDB would, and reads files whose columns
    differ by name. ``_dlt_loads`` (JSON lines) becomes a view too. Returns the views made.

    A raw table of the same name loaded on DuckDB is an error, not replaced: its rows are not in
    the lake (docs/scaling_out.md: use a home of its own for each engine).
    """
    root = Path(lake) / dataset
    if not root.is_dir():
        return []
    con.execute(f"create schema if not exists {_quote(dataset)}")
    made: list[str] = []
    for directory in sorted(
        path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")
    ):
        table = directory.name
        if any(directory.glob("*.parquet")):
            select = _newest_rows(directory, primary_keys.get(table))
        elif table == DLT_LOADS and any(directory.glob("*.jsonl")):
            select = (
                "select load_id, schema_name, status, cast(inserted_at as timestamptz) as inserted_at, "
                f"schema_version_hash from read_json_auto({_literal(directory / '*.jsonl')})"
            )
        else:
            continue
        _refuse_duckdb_table(con, dataset, table)
        con.execute(f"create or replace view {_quote(dataset)}.{_quote(table)} as {select}")
        made.append(f"{dataset}.{table}")
    return made


PRIMARY_KEYS_FILE = "_loopwise_primary_keys.json"


def write_primary_keys(lake: str | Path, dataset: str, primary_keys: dict[str, list[str]]) -> None:
    """Record beside a dataset's lake tables the primary key of each (dlt's schema), which
    :func:`attach_engine_views` needs to keep the newest row per key."""
    root = Path(lake) / dataset
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{PRIMARY_KEYS_FILE}.{uuid.uuid4().hex}"
    staging.write_text(json.dumps(primary_keys, sort_keys=True), encoding="utf-8")
    staging.replace(root / PRIMARY_KEYS_FILE)


def read_primary_keys(lake: str | Path, dataset: str) -> dict[str, list[str]]:
    path = Path(lake) / dataset / PRIMARY_KEYS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def attach_engine_views(con: Any, lake: str | Path, spark_warehouse: str | Path) -> list[str]:
    """Every raw dataset of the lake (:func:`attach_lake_tables`, with the keys
    :func:`write_primary_keys` recorded) and every model Spark wrote (:func:`attach_spark_models`)
    as views in the DuckDB warehouse ``con``; returns the views made."""
    made: list[str] = []
    root = Path(lake)
    if root.is_dir():
        for dataset in sorted(path.name for path in root.iterdir() if path.is_dir()):
            if dataset.startswith(RAW_SCHEMA_PREFIX):
                made += attach_lake_tables(con, lake, dataset, read_primary_keys(lake, dataset))
    return made + attach_spark_models(con, spark_warehouse)


def _refuse_duckdb_table(con: Any, schema: str, table: str) -> None:
    if _is_table(con, schema, table):
        raise RuntimeError(
            f"{schema}.{table} in this warehouse was loaded on DuckDB; the Spark engine loads raw data "
            "into the lake instead, and would hide those rows. Use a LOOPWISE_HOME of its own for "
            "LOOPWISE_ENGINE=spark (or go on with LOOPWISE_ENGINE=duckdb here)."
        )


def lake_views(con: Any, dataset: str) -> list[str]:
    """The raw views the Spark engine made in ``dataset`` (empty on a DuckDB-loaded warehouse)."""
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = ? and table_type = 'VIEW'",
        [dataset],
    ).fetchall()
    return [name for (name,) in rows]
