"""Run statistics computed from a finished dlt pipeline run (for logs and Dagster metadata).

:func:`load_stats` reads dlt's normalize info (rows written per table) and queries the
loads of this run in the destination: quarantined rows per reason and per table, and how
many rows carried each unknown vendor field (``unexpected_fields``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo

from ingestion.validation import QUARANTINE_TABLE

_REASON_DETAIL = re.compile(r":.*$")


@dataclass
class LoadStats:
    """What one run loaded. ``row_counts`` counts rows written before merge deduplication."""

    dataset: str
    load_ids: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    quarantined_by_table: dict[str, int] = field(default_factory=dict)
    unexpected_fields: dict[str, dict[str, int]] = field(default_factory=dict)
    """table -> unknown field name -> rows carrying it."""
    unexpected_by_table: dict[str, int] = field(default_factory=dict)
    """table -> rows carrying at least one unknown field."""

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined_by_reason.values())

    @property
    def unexpected_total(self) -> int:
        return sum(self.unexpected_by_table.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "quarantined_total": self.quarantined_total,
            "unexpected_total": self.unexpected_total,
        }


def reason_kind(reason: str) -> str:
    """``"non-numeric spend: 'abc'"`` -> ``"non-numeric spend"`` (groups reasons for counting)."""
    return _REASON_DETAIL.sub("", reason).strip()


def _load_infos(pipeline: dlt.Pipeline, load_info: LoadInfo | Iterable[LoadInfo] | None) -> list[LoadInfo]:
    if load_info is None:
        trace = pipeline.last_trace
        last = trace.last_load_info if trace is not None else None
        return [last] if last is not None else []
    return [load_info] if isinstance(load_info, LoadInfo) else list(load_info)


def row_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace is not None else None
    if info is None:
        return {}
    return {table: count for table, count in sorted(info.row_counts.items()) if not table.startswith("_dlt")}


def load_stats(pipeline: dlt.Pipeline, load_info: LoadInfo | Iterable[LoadInfo] | None = None) -> LoadStats:
    """Stats for the loads in ``load_info`` (default: the pipeline's last run)."""
    load_ids = [load_id for info in _load_infos(pipeline, load_info) for load_id in info.loads_ids]
    stats = LoadStats(dataset=pipeline.dataset_name, load_ids=load_ids, row_counts=row_counts(pipeline))
    if not load_ids:
        return stats
    schema = pipeline.default_schema
    tables = [name for name in schema.data_table_names() if not name.startswith("_dlt")]
    placeholders = ", ".join(["%s"] * len(load_ids))
    by_reason: Counter[str] = Counter()
    by_table: Counter[str] = Counter()
    with pipeline.sql_client() as client:
        if QUARANTINE_TABLE in tables:
            table = client.make_qualified_table_name(QUARANTINE_TABLE)
            sql = f"SELECT resource, reason FROM {table} WHERE _dlt_load_id IN ({placeholders})"
            for resource, reason in client.execute_sql(sql, *load_ids) or []:
                by_reason[reason_kind(reason)] += 1
                by_table[resource] += 1
        for name in tables:
            if "unexpected_fields" not in schema.get_table_columns(name):
                continue
            table = client.make_qualified_table_name(name)
            sql = (
                f"SELECT unexpected_fields FROM {table} "
                f"WHERE unexpected_fields IS NOT NULL AND _dlt_load_id IN ({placeholders})"
            )
            counter: Counter[str] = Counter()
            rows = 0
            for (fields,) in client.execute_sql(sql, *load_ids) or []:
                counter.update(json.loads(fields))
                rows += 1
            if rows:
                stats.unexpected_fields[name] = dict(sorted(counter.items()))
                stats.unexpected_by_table[name] = rows
    stats.quarantined_by_reason = dict(sorted(by_reason.items()))
    stats.quarantined_by_table = dict(sorted(by_table.items()))
    return stats
