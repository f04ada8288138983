"""Great Expectations on pandas chunks. GX is imported lazily (it takes seconds to import).

One ephemeral GX context per process holds a pandas datasource with one dataframe asset per
table and one GX ExpectationSuite per table, built from the declarative `TableSuite`. Each
chunk is validated as its own batch; `ChunkAggregator` folds the per-chunk results into one
`ExpectationOutcome` per check (unexpected counts summed, success = every chunk succeeded).
GX's SQL datasource does not work on DuckDB, hence pandas chunks read by the runner.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from quality.checks import Check, TableSuite
from quality.results import ExpectationOutcome

if TYPE_CHECKING:
    import pandas as pd

_LOCK = threading.RLock()
_STATE: dict[str, Any] = {}
_DATASOURCE = "loopwise_quality"
SAMPLE_SIZE = 5


def _context() -> Any:
    """The process-wide ephemeral GX context (created, and GX imported, on first use)."""
    with _LOCK:
        if "context" not in _STATE:
            from core.settings import disable_gx_analytics

            disable_gx_analytics()
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig
            from great_expectations.execution_engine import pandas_execution_engine

            # GX fingerprints every pandas batch (an md5 of the whole frame, twice per batch) unless
            # the frame holds 1 GB or more. Nothing here reads the fingerprint (the context is
            # ephemeral), and it was half of GX's time on the large world's events.
            pandas_execution_engine.HASH_THRESHOLD = 0

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            _STATE["context"] = context
            _STATE["datasource"] = context.data_sources.add_pandas(_DATASOURCE)
            _STATE["batch_definitions"] = {}
            _STATE["suites"] = {}
        return _STATE["context"]


def _gx_expectation(check: Check) -> Any:
    import great_expectations.expectations as gxe

    meta = {"loopwise_check": check.name}
    column = check.columns[0]
    options = check.options
    if check.kind == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=column, meta=meta)
    if check.kind == "between":
        return gxe.ExpectColumnValuesToBeBetween(
            column=column, min_value=options["min_value"], max_value=options["max_value"], meta=meta
        )
    if check.kind == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(options["value_set"]), meta=meta)
    if check.kind == "regex":
        return gxe.ExpectColumnValuesToMatchRegex(column=column, regex=options["regex"], meta=meta)
    raise ValueError(f"{check.kind} does not run in GX")


def _suite_key(suite: TableSuite, checks: tuple[Check, ...]) -> str:
    return suite.table + "|" + "|".join(check.name for check in checks)


def _prepare(suite: TableSuite, checks: tuple[Check, ...]) -> tuple[Any, Any]:
    """Batch definition and GX suite for `checks` of `suite` (cached per process)."""
    import great_expectations as gx

    context = _context()
    key = _suite_key(suite, checks)
    batch_definitions: dict[str, Any] = _STATE["batch_definitions"]
    suites: dict[str, Any] = _STATE["suites"]
    if suite.table not in batch_definitions:
        asset = _STATE["datasource"].add_dataframe_asset(suite.table)
        batch_definitions[suite.table] = asset.add_batch_definition_whole_dataframe("whole_dataframe")
    if key not in suites:
        gx_suite = gx.ExpectationSuite(name=f"{suite.table}#{len(suites)}")
        for check in checks:
            gx_suite.add_expectation(_gx_expectation(check))
        suites[key] = context.suites.add(gx_suite)
    return batch_definitions[suite.table], suites[key]


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


@dataclass
class _Tally:
    check: Check
    success: bool = True
    unexpected_count: int = 0
    element_count: int = 0
    missing_count: int = 0
    sample: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class ChunkAggregator:
    """Validates chunks of one table with GX and sums the outcomes per check."""

    def __init__(self, suite: TableSuite, checks: tuple[Check, ...]) -> None:
        self.checks = checks
        self._suite = suite
        self._tallies = {check.name: _Tally(check) for check in checks}
        self._batch_definition: Any = None
        self._gx_suite: Any = None

    def validate(self, frame: pd.DataFrame) -> None:
        if not self.checks or frame.empty:
            return
        with _LOCK:
            if self._gx_suite is None:  # GX is imported and set up for the first rows only
                self._batch_definition, self._gx_suite = _prepare(self._suite, self.checks)
            batch = self._batch_definition.get_batch(batch_parameters={"dataframe": frame})
            validation = batch.validate(self._gx_suite, result_format="SUMMARY")
        for result in validation.results:
            name = result.expectation_config.meta.get("loopwise_check")
            tally = self._tallies[name]
            exception = result.exception_info or {}
            if exception.get("raised_exception"):
                tally.success = False
                tally.errors.append(str(exception.get("exception_message"))[:300])
                continue
            detail = result.result or {}
            tally.success = tally.success and bool(result.success)
            tally.unexpected_count += int(detail.get("unexpected_count") or 0)
            tally.element_count += int(detail.get("element_count") or 0)
            tally.missing_count += int(detail.get("missing_count") or 0)
            room = SAMPLE_SIZE - len(tally.sample)
            if room > 0:
                tally.sample.extend(
                    _jsonable(value) for value in (detail.get("partial_unexpected_list") or [])[:room]
                )

    def outcomes(self) -> list[ExpectationOutcome]:
        outcomes = []
        for tally in self._tallies.values():
            details: dict[str, Any] = {
                "engine": "great_expectations",
                "element_count": tally.element_count,
                "missing_count": tally.missing_count,
                **{key: _jsonable(value) for key, value in tally.check.params if key != "value_set"},
            }
            if tally.check.kind == "in_set":
                details["value_set"] = list(tally.check.options["value_set"])
            if tally.sample:
                details["sample_unexpected"] = tally.sample
            if tally.errors:
                details["error"] = tally.errors[0]
            outcomes.append(
                ExpectationOutcome(
                    name=tally.check.name,
                    column=tally.check.column,
                    severity=tally.check.severity,
                    success=tally.success and tally.unexpected_count == 0,
                    unexpected_count=tally.unexpected_count,
                    details=details,
                )
            )
        return outcomes
