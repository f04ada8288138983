"""Record validation, parsing helpers and the quarantine table.

Flatteners raise :class:`InvalidRecord` with a human-readable reason; the source turns
that into a ``quarantine`` row (:func:`quarantine_row`) instead of dropping the record.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Literal

import dlt
import pyarrow as pa
from dlt.common.schema.typing import TTableSchemaColumns
from dlt.extract.resource import DltResource

JSON_OBJECT = (dict, Mapping)
"""For ``isinstance`` on hot paths: a parsed body's objects are dicts, found before the slow ABC check."""
QUARANTINE_TABLE = "quarantine"
QUARANTINE_COLUMNS: TTableSchemaColumns = {
    "quarantine_id": {"data_type": "text", "nullable": False, "primary_key": True},
    "resource": {"data_type": "text", "nullable": False},
    "record_id": {"data_type": "text", "nullable": True},
    "reason": {"data_type": "text", "nullable": False},
    "payload": {"data_type": "text", "nullable": False},
    "quarantined_at": {"data_type": "timestamp", "nullable": False},
}
# Default for a resource's incremental parameter. dlt finds incremental parameters by their
# default value or a runtime annotation; string annotations (``from __future__ import
# annotations``) are invisible to it, so every incremental parameter carries this default and
# the source passes the configured ``dlt.sources.incremental`` explicitly.
INCREMENTAL_ARGUMENT: Any = dlt.sources.incremental("_unused_")
# parquet, not dlt's default insert_values for duckdb: parsing 100k-row INSERT statements took
# over a minute and ~4 GB on the demo world. Not jsonl either: dlt writes no key for a null
# value and DuckDB's read_json infers the keys from a sample, so a file whose first 20k rows
# never set a field (e.g. ab_test_phase) fails to load with "unknown key" at scale.
LOADER_FILE_FORMAT: Literal["parquet"] = "parquet"
FROZEN_CONTRACT = {"tables": "evolve", "columns": "freeze", "data_type": "freeze"}


def whole_table_resource(
    function: Callable[..., Iterator[Any]], primary_key: str, columns: TTableSchemaColumns
) -> DltResource:
    """A table the vendor lists whole every run (ads, ad sets, campaign budgets), merged on its id."""
    return dlt.resource(
        function,
        name=function.__name__,
        write_disposition="merge",
        primary_key=primary_key,
        columns=columns,
        schema_contract=FROZEN_CONTRACT,
        file_format=LOADER_FILE_FORMAT,
    )


# Deliberately simple: one @, no spaces, a dot in the domain. Surrounding spaces and case
# are tolerated (normalised downstream); anything else is an invalid email.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidRecord(ValueError):
    """A vendor record that cannot be loaded as-is; ``reason`` says why in plain words."""

    def __init__(self, reason: str, record_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record_id = record_id


def columns(**types: str) -> TTableSchemaColumns:
    """Column hints from ``name=data_type``; every column nullable unless it is the key."""
    return {name: {"data_type": data_type, "nullable": True} for name, data_type in types.items()}  # type: ignore[misc]


_ARROW_TYPES = {
    "text": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
    "double": pa.float64(),
    "bigint": pa.int64(),
    "date": pa.date32(),
}


def arrow_schema(cols: TTableSchemaColumns) -> pa.Schema:
    """The Arrow schema of a table's column hints (the types the flatteners produce)."""
    return pa.schema([(name, _ARROW_TYPES[str(hint["data_type"])]) for name, hint in cols.items()])


def require_id(value: Any, what: str = "id") -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidRecord(f"missing {what}")
    return str(value)


def parse_timestamp(value: Any, field: str, *, required: bool = False) -> datetime | None:
    """ISO 8601 (``Z``, ``+00:00`` or ``+0000``) or epoch seconds/ms -> aware UTC datetime."""
    if value is None or value == "":
        if required:
            raise InvalidRecord(f"missing timestamp {field}")
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int | float):
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, tz=UTC)
        text = str(value).strip()
        if text.isdigit():
            return parse_timestamp(int(text), field)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        if re.search(r"[+-]\d{4}$", text):
            text = text[:-2] + ":" + text[-2:]
        parsed = datetime.fromisoformat(text)
    except (TypeError, ValueError, OverflowError, OSError):
        raise InvalidRecord(f"unparseable timestamp in {field}: {str(value)[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(value: Any, field: str, *, required: bool = True) -> date | None:
    if value is None or value == "":
        if required:
            raise InvalidRecord(f"missing date {field}")
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise InvalidRecord(f"unparseable date in {field}: {str(value)[:40]!r}") from None


def parse_float(value: Any, field: str, *, non_negative: bool = False) -> float | None:
    """Vendor numbers arrive as strings; ``None`` stays ``None``, garbage is rejected."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidRecord(f"non-numeric {field}: {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidRecord(f"non-numeric {field}: {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise InvalidRecord(f"non-numeric {field}: {str(value)[:40]!r}")
    if non_negative and number < 0:
        raise InvalidRecord(f"negative {field}: {number}")
    return number


def parse_int(value: Any, field: str, *, non_negative: bool = False) -> int | None:
    number = parse_float(value, field, non_negative=non_negative)
    if number is None:
        return None
    if not number.is_integer():
        raise InvalidRecord(f"non-integer {field}: {str(value)[:40]!r}")
    return int(number)


def parse_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def check_email(value: Any, *, required: bool = False) -> str | None:
    """Returns the email as sent (normalisation happens in dbt staging) or rejects it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidRecord("missing email")
        return None
    if not isinstance(value, str) or not _EMAIL.match(value.strip()):
        raise InvalidRecord(f"invalid email: {str(value)[:60]!r}")
    return value


def unexpected_keys(record: Mapping[str, Any] | None, known: Iterable[str], prefix: str = "") -> list[str]:
    """Names (dotted with ``prefix``) of keys the pipeline does not know."""
    if not isinstance(record, JSON_OBJECT):
        return []
    known_set = known if isinstance(known, frozenset) else frozenset(known)
    return [f"{prefix}{key}" for key in record if key not in known_set]


def missing_fields(record: Mapping[str, Any], paths: Iterable[str]) -> list[str]:
    """The dotted paths whose key is absent from ``record``; a present null is not missing.

    Below a present null (``closedate: null``, ``relationships.profile.data: null``) nothing
    counts as missing: the vendor sent the field, saying "no value".
    """
    missing = []
    for path in paths:
        node: Any = record
        for part in _path_parts(path):
            if node is None:
                break
            if not isinstance(node, JSON_OBJECT) or part not in node:
                missing.append(path)
                break
            node = node[part]
    return missing


@lru_cache(maxsize=4096)
def _path_parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def missing_reason(missing: list[str]) -> str:
    """``missing required field spend`` (the quarantine reason of a field the vendor stopped sending)."""
    if len(missing) == 1:
        return f"missing required field {missing[0]}"
    return f"missing required fields {', '.join(missing)}"


def unexpected_json(names: list[str]) -> str | None:
    return json.dumps(sorted(names)) if names else None


def canonical_json(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def quarantine_row(resource: str, payload: Any, reason: str, record_id: str | None = None) -> dict[str, Any]:
    """The ``quarantine`` row for a rejected record; its id is stable across re-runs."""
    body = canonical_json(payload)
    quarantine_id = hashlib.sha256(f"{resource}\n{body}".encode()).hexdigest()
    return {
        "quarantine_id": quarantine_id,
        "resource": resource,
        "record_id": record_id,
        "reason": reason,
        "payload": body,
        "quarantined_at": datetime.now(UTC),
    }


def to_quarantine(resource: str, payload: Any, error: InvalidRecord, record_id: Any = None) -> Any:
    """Wrap a quarantine row so dlt routes it to the dataset's ``quarantine`` table.

    The resource must have been prepared with :func:`with_quarantine`.
    """
    rid = error.record_id or (str(record_id) if record_id not in (None, "") else None)
    return dlt.mark.with_table_name(quarantine_row(resource, payload, error.reason, rid), QUARANTINE_TABLE)


def add_table_variant(
    resource: DltResource, table_name: str, cols: TTableSchemaColumns, primary_key: str | list[str]
) -> DltResource:
    """Let ``resource`` also write merge table ``table_name`` (rows marked ``with_table_name``).

    The variant starts from an empty column set so the resource's own columns do not leak
    into it (dlt clones the resource hints for a variant).
    """
    resource.apply_hints(table_name=table_name, columns={}, create_table_variant=True)
    resource.apply_hints(
        table_name=table_name,
        write_disposition="merge",
        primary_key=primary_key,
        merge_key="",
        columns=cols,
        create_table_variant=True,
    )
    return resource


def with_quarantine(resource: DltResource) -> DltResource:
    """Prepare ``resource`` to route rejected records to the ``quarantine`` table."""
    return add_table_variant(resource, QUARANTINE_TABLE, QUARANTINE_COLUMNS, "quarantine_id")


RequiredPaths = Iterable[str] | Callable[[Mapping[str, Any]], Iterable[str]]


def check_present(record: Mapping[str, Any], required: RequiredPaths) -> None:
    """Raise :class:`InvalidRecord` (``missing required field ...``) if a required key is absent."""
    paths = required(record) if callable(required) else required
    missing = missing_fields(record, paths)
    if missing:
        raise InvalidRecord(missing_reason(missing))


def split_valid(
    resource: str,
    items: Iterable[Any],
    flatten: Callable[[Mapping[str, Any]], dict[str, Any]],
    id_key: str = "id",
    required: RequiredPaths = (),
) -> Iterator[Any]:
    """Flatten a page of vendor records: valid rows as one list, rejects to quarantine.

    ``required``: dotted paths (or a function of the record giving them) every record must
    carry (``ingestion.required_fields``); checked after ``flatten``, so the reasons of other
    defects stay as they were.
    """
    rows: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, JSON_OBJECT):
            yield to_quarantine(resource, item, InvalidRecord("record is not a JSON object"))
            continue
        try:
            row = flatten(item)
            check_present(item, required)
        except InvalidRecord as error:
            yield to_quarantine(resource, item, error, item.get(id_key))
            continue
        rows.append(row)
    if rows:
        yield rows


GC_YOUNG_THRESHOLD = 50_000
"""Allocations between two collections of Python's youngest generation while Klaviyo events are read
(Python's default is 700). Parsing a page of JSON allocates thousands of dicts that live until the
page is flattened, and each collection pass walked them and, every hundredth pass, the whole
heap: a third of the Klaviyo extraction's CPU (benchmarks/results/klaviyo_extraction.md)."""


@contextmanager
def fewer_gc_passes(young_threshold: int = GC_YOUNG_THRESHOLD) -> Iterator[None]:
    """Python's cyclic garbage collector runs less often inside; its thresholds are restored after."""
    before = gc.get_threshold()
    gc.set_threshold(max(young_threshold, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def batched_tables(items: Iterable[Any], min_rows: int) -> Iterator[Any]:
    """``items`` with consecutive Arrow tables joined into tables of at least ``min_rows`` rows.

    Other items (quarantine rows) pass straight through. dlt spends ~10 ms on each Arrow item it
    extracts (schema hints computed and validated per item) whatever its size: a table per
    1000-event page cost more than reading the page.
    """
    held: list[pa.Table] = []
    rows = 0
    for item in items:
        if not isinstance(item, pa.Table):
            yield item
            continue
        held.append(item)
        rows += item.num_rows
        if rows >= min_rows:
            yield pa.concat_tables(held)
            held, rows = [], 0
    if held:
        yield pa.concat_tables(held)


def first_of_each_key(items: Iterable[Any], key: str) -> Iterator[Any]:
    """``items`` with each Arrow table's rows whose ``key`` an earlier row already had removed.

    Other items (quarantine rows) pass straight through. Holds every key seen, so give it a
    bounded stream (one day window of events), not a whole history.
    """
    seen: set[Any] = set()
    for item in items:
        if not isinstance(item, pa.Table):
            yield item
            continue
        keep = [value not in seen and not seen.add(value) for value in item.column(key).to_pylist()]
        if all(keep):
            yield item
        elif any(keep):
            yield item.filter(pa.array(keep, pa.bool_()))


ROW_ID_COLUMN = "_dlt_id"


def with_row_ids(items: Iterable[Any], key: str) -> Iterator[Any]:
    """``items`` with each Arrow table given dlt's row id column, a copy of its unique ``key``.

    Other items (quarantine rows) pass straight through (dlt gives them their row ids). See
    ``ingestion.pipelines.PARQUET_NORMALIZER`` for why the resource sets the ids, not dlt.
    """
    for item in items:
        if isinstance(item, pa.Table) and ROW_ID_COLUMN not in item.column_names:
            item = item.append_column(pa.field(ROW_ID_COLUMN, pa.string(), nullable=False), item.column(key))
        yield item


def rows_before_quarantine(items: Iterable[Any]) -> Iterator[Any]:
    """Hold quarantine items back until a batch of valid rows has passed.

    dlt's incremental with ``lag`` (dlt 1.31) fails an internal assertion when the first
    batch it sees carries no cursor value, which a batch of quarantine rows never does.
    Valid rows are lists (or Arrow tables); quarantine items are single marked rows.
    """
    held: list[Any] = []
    seen_rows = False
    for item in items:
        if isinstance(item, list | pa.Table):
            seen_rows = True
            yield item
            yield from held
            held.clear()
        elif seen_rows:
            yield item
        else:
            held.append(item)
    yield from held
