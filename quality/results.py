"""Result records of a suite run: plain dataclasses, JSON-able metadata, a plain-English summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from quality.checks import Severity

MetadataValue = str | int | float | bool | None


@dataclass
class ExpectationOutcome:
    """The aggregated outcome of one check over every chunk (or one SQL query)."""

    name: str
    column: str | None
    severity: Severity
    success: bool
    unexpected_count: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_blocking_failure(self) -> bool:
        return not self.success and self.severity is Severity.ERROR


@dataclass
class SuiteResult:
    """Everything a Dagster asset check needs: `success` is False iff an ERROR check failed."""

    table: str
    success: bool
    passed_warn_only: bool
    row_count: int
    results: list[ExpectationOutcome]
    elapsed_s: float
    validated_rows: int = 0
    chunks: int = 0
    max_chunk_rows: int = 0
    gx_elapsed_s: float = 0.0
    previous_row_count: int | None = None
    max_load_id: str | None = None
    row_count_recorded: bool = False

    @classmethod
    def from_outcomes(cls, table: str, results: list[ExpectationOutcome], **fields: Any) -> SuiteResult:
        errors = any(outcome.is_blocking_failure for outcome in results)
        warnings = any(not outcome.success and outcome.severity is Severity.WARN for outcome in results)
        return cls(
            table=table,
            success=not errors,
            passed_warn_only=not errors and warnings,
            results=results,
            **fields,
        )

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.results if not outcome.success]

    @property
    def error_failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.failures if outcome.severity is Severity.ERROR]

    @property
    def warn_failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.failures if outcome.severity is Severity.WARN]

    def for_severity(self, severity: Severity) -> SuiteResult:
        """The same run restricted to the checks of one severity: the ERROR part is the blocking
        gate, the WARN part what is only reported (one Dagster asset check each)."""
        return SuiteResult.from_outcomes(
            self.table,
            [outcome for outcome in self.results if outcome.severity is severity],
            row_count=self.row_count,
            elapsed_s=self.elapsed_s,
            validated_rows=self.validated_rows,
            chunks=self.chunks,
            max_chunk_rows=self.max_chunk_rows,
            gx_elapsed_s=self.gx_elapsed_s,
            previous_row_count=self.previous_row_count,
            max_load_id=self.max_load_id,
            row_count_recorded=self.row_count_recorded,
        )

    def outcome(self, name: str) -> ExpectationOutcome:
        for outcome in self.results:
            if outcome.name == name:
                return outcome
        raise KeyError(f"{self.table}: no check named {name!r}")

    def to_metadata(self) -> dict[str, MetadataValue]:
        """A flat dict of JSON scalars, for `AssetCheckResult(metadata=...)`.

        `row_count` is what a later run passes back as `previous_row_count` (when Dagster keeps
        the history instead of the warehouse), `max_load_id` what it passes as `after_load_id`.
        """
        metadata: dict[str, MetadataValue] = {
            "table": self.table,
            "success": self.success,
            "passed_warn_only": self.passed_warn_only,
            "row_count": self.row_count,
            "previous_row_count": self.previous_row_count,
            "validated_rows": self.validated_rows,
            "chunks": self.chunks,
            "max_chunk_rows": self.max_chunk_rows,
            "checks": len(self.results),
            "error_failures": len(self.error_failures),
            "warn_failures": len(self.warn_failures),
            "failed_checks": ", ".join(outcome.name for outcome in self.failures),
            "max_load_id": self.max_load_id,
            "elapsed_s": round(self.elapsed_s, 3),
            "gx_elapsed_s": round(self.gx_elapsed_s, 3),
            "summary": self.describe(),
        }
        for outcome in self.failures:
            metadata[f"unexpected_count.{outcome.name}"] = outcome.unexpected_count
        return metadata

    def describe(self) -> str:
        """One paragraph, in plain English, of what passed and what failed and why it matters."""
        head = (
            f"{self.table}: {len(self.results)} checks on {self.row_count:,} rows "
            f"({self.validated_rows:,} validated row by row in {self.chunks} chunk(s))"
        )
        if not self.failures:
            return f"{head}; all passed."
        parts = [_describe_outcome(outcome) for outcome in self.failures]
        if self.success:
            verdict = "only warnings failed, so downstream assets may run"
        else:
            verdict = f"{len(self.error_failures)} ERROR check(s) failed, so downstream assets are blocked"
        return f"{head}; {verdict}: " + "; ".join(parts) + "."


def _describe_outcome(outcome: ExpectationOutcome) -> str:
    kind = outcome.name.split(":", 1)[0]
    details = outcome.details
    column = outcome.column
    count = f"{outcome.unexpected_count:,}"
    if "error" in details:
        text = f"check {outcome.name} could not run ({details['error']})"
    elif kind == "missing_column":
        text = f"column {column} is missing from the table"
    elif kind == "not_null":
        text = f"{count} row(s) have a null {column}"
    elif kind == "unique":
        text = f"{count} extra row(s) repeat a key ({column}) already present, across {details.get('duplicate_keys', '?')} key(s)"
    elif kind == "between":
        bounds = _bounds(details.get("min_value"), details.get("max_value"))
        text = f"{count} value(s) of {column} fall outside {bounds}"
    elif kind == "in_set":
        text = f"{count} value(s) of {column} are not among the accepted values"
    elif kind == "regex":
        text = f"{count} value(s) of {column} do not match {details.get('regex')}"
    elif kind == "freshness":
        age = details.get("age_hours")
        text = (
            f"{column} has no values at all"
            if age is None
            else f"the newest {column} is {age:.1f} h old, more than the allowed {details.get('max_age_hours')} h"
        )
    elif kind == "quarantine_share":
        text = (
            f"{details.get('quarantined', 0):,} of {details.get('loaded', 0) + details.get('quarantined', 0):,} "
            f"{details.get('resource')} records of load {details.get('load_id')} were quarantined "
            f"({details.get('share', 0):.1%}, more than the allowed {details.get('max_share', 0):.0%})"
        )
    elif kind == "row_count_drop":
        text = (
            f"the row count fell from {details.get('previous_row_count'):,} to {details.get('row_count'):,}"
        )
    elif kind == "row_count_growth":
        text = (
            f"the row count grew from {details.get('previous_row_count'):,} to {details.get('row_count'):,}"
        )
    else:
        text = f"{outcome.name} failed"
    sample = details.get("sample_unexpected")
    if sample:
        text += f" (e.g. {', '.join(map(str, sample[:3]))})"
    return f"[{outcome.severity}] {text}"


def _bounds(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"[{low}, {high}]"
    if low is not None:
        return f">= {low}"
    return f"<= {high}"
