"""Quality: Great Expectations suites for raw and mart tables, and a pure runner.

    from quality import run_suite, SUITES
    result = run_suite("data/loopwise.duckdb", "marts.fct_email_sends", reference_time=world_now)
    result.success, result.to_metadata(), result.describe()

Importing this package does not import Great Expectations (that happens on the first validation).
"""

from quality.checks import ERROR, WARN, Check, Severity, TableSuite
from quality.results import ExpectationOutcome, SuiteResult
from quality.runner import DEFAULT_CHUNK_ROWS, iter_chunks, run_suite, run_suites
from quality.sql_checks import HISTORY_TABLE, accept_row_count
from quality.suites import MART_SUITES, RAW_SUITES, SUITES

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "ERROR",
    "HISTORY_TABLE",
    "MART_SUITES",
    "RAW_SUITES",
    "SUITES",
    "WARN",
    "Check",
    "ExpectationOutcome",
    "Severity",
    "SuiteResult",
    "TableSuite",
    "accept_row_count",
    "iter_chunks",
    "run_suite",
    "run_suites",
]
