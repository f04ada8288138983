"""Declarative expectation specs: what a suite checks, not how.

A `Check` is plain data. Row-level kinds (`not_null`, `between`, `in_set`, `regex`) run through
Great Expectations on chunks of the table; table-level kinds (`unique`, `freshness`,
`row_count_drop`, `row_count_growth`) run as DuckDB SQL over the whole table, because a
per-chunk validator cannot see duplicates that sit in different chunks, nor the table's size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from quality.dbt_vars import DbtVar


class Severity(StrEnum):
    """ERROR failures block downstream assets; WARN failures are reported only."""

    ERROR = "ERROR"
    WARN = "WARN"


ERROR = Severity.ERROR
WARN = Severity.WARN

GX_KINDS = frozenset({"not_null", "between", "in_set", "regex"})
SQL_KINDS = frozenset({"unique", "freshness", "row_count_drop", "row_count_growth", "quarantine_share"})

# The quarantine gate of raw tables (`quarantine_share`): when more than this share of the records
# of a resource in its latest load were quarantined (a vendor stopped sending a required field,
# changed a type, sent garbage), the raw table's blocking gate fails. Override per run with
# `run_suite(..., quarantine_max_share=...)`.
QUARANTINE_MAX_SHARE = 0.05
# ... and at least this many were quarantined: 1 bad record of 3 updated profiles is noise, not drift.
QUARANTINE_MIN_RECORDS = 3

SHA256_HEX = r"^[0-9a-f]{64}$"
MD5_HEX = r"^[0-9a-f]{32}$"
CURRENCY_CODE = r"^[A-Z]{3}$"


@dataclass(frozen=True)
class Check:
    """One expectation on one table: a kind, the columns it looks at, a severity, parameters."""

    kind: str
    columns: tuple[str, ...]
    severity: Severity
    params: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.kind not in GX_KINDS | SQL_KINDS:
            raise ValueError(f"unknown check kind {self.kind!r}")

    @property
    def name(self) -> str:
        """Stable identifier, unique within a suite, e.g. `between:open_rate`."""
        if not self.columns:
            return self.kind
        return f"{self.kind}:{','.join(self.columns)}"

    @property
    def column(self) -> str | None:
        return ",".join(self.columns) or None

    @property
    def options(self) -> dict[str, Any]:
        """Parameters, with a value set kept in dbt vars (`DbtVar`) resolved to its values."""
        return {key: value.values() if isinstance(value, DbtVar) else value for key, value in self.params}

    @property
    def runs_in_gx(self) -> bool:
        return self.kind in GX_KINDS


@dataclass(frozen=True)
class TableSuite:
    """The checks for one warehouse table (`schema.table`)."""

    table: str
    checks: tuple[Check, ...]

    def __post_init__(self) -> None:
        names = [check.name for check in self.checks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"{self.table}: duplicate check names {duplicates}")

    @property
    def gx_checks(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.runs_in_gx)

    @property
    def gx_columns(self) -> tuple[str, ...]:
        """Columns the row-level checks need, in first-use order (the only ones read into pandas)."""
        seen: dict[str, None] = {}
        for check in self.gx_checks:
            for column in check.columns:
                seen.setdefault(column, None)
        return tuple(seen)

    @property
    def columns(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for check in self.checks:
            for column in check.columns:
                seen.setdefault(column, None)
        return tuple(seen)


# --- constructors: suites read like a list of rules ---------------------------------------------


def not_null(*columns: str, severity: Severity = ERROR) -> list[Check]:
    return [Check("not_null", (column,), severity) for column in columns]


def unique(*columns: str, severity: Severity = ERROR) -> Check:
    """The (possibly composite) key has no duplicates across the whole table (SQL-side)."""
    return Check("unique", tuple(columns), severity)


def primary_key(*columns: str) -> list[Check]:
    """Every key column not null, and the key unique: both ERROR."""
    return [*not_null(*columns), unique(*columns)]


def between(
    column: str, min_value: float | None = None, max_value: float | None = None, *, severity: Severity = ERROR
) -> Check:
    return Check("between", (column,), severity, (("min_value", min_value), ("max_value", max_value)))


def non_negative(*columns: str, severity: Severity = ERROR) -> list[Check]:
    return [between(column, 0, None, severity=severity) for column in columns]


def rates(*columns: str, severity: Severity = ERROR) -> list[Check]:
    """Each column is a share in [0, 1]."""
    return [between(column, 0, 1, severity=severity) for column in columns]


def in_set(column: str, values: Iterable[Any] | DbtVar, *, severity: Severity = ERROR) -> Check:
    """Values in a set: literal values, or a `DbtVar` when dbt's accepted_values use the same list
    (resolved when the suite runs, not at import)."""
    value_set = values if isinstance(values, DbtVar) else tuple(values)
    return Check("in_set", (column,), severity, (("value_set", value_set),))


def regex(column: str, pattern: str, *, severity: Severity = ERROR) -> Check:
    return Check("regex", (column,), severity, (("regex", pattern),))


def freshness(column: str, *, max_age_hours: float, severity: Severity = WARN) -> Check:
    """The newest value of `column` is at most `max_age_hours` older than the run's reference time.

    Date columns count from midnight UTC of the date, so allow a day more than for timestamps.
    """
    return Check("freshness", (column,), severity, (("max_age_hours", max_age_hours),))


def quarantine_share(
    *, max_share: float = QUARANTINE_MAX_SHARE, min_quarantined: int = QUARANTINE_MIN_RECORDS
) -> Check:
    """Raw tables: of the records of the table's resource in its latest dlt load, loaded plus
    quarantined (`<dataset>.quarantine`, same `_dlt_load_id`), at most `max_share` were quarantined
    (ERROR), unless fewer than `min_quarantined` were."""
    return Check(
        "quarantine_share", (), ERROR, (("max_share", max_share), ("min_quarantined", min_quarantined))
    )


def row_count_change(*, max_drop_share: float = 0.5, max_growth_factor: float = 3.0) -> list[Check]:
    """Row count against the previous run: a drop of more than `max_drop_share` is ERROR,
    growth by more than `max_growth_factor` times is WARN."""
    return [
        Check("row_count_drop", (), ERROR, (("max_drop_share", max_drop_share),)),
        Check("row_count_growth", (), WARN, (("max_growth_factor", max_growth_factor),)),
    ]
