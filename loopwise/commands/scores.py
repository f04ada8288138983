"""``loopwise scores clv FILE.csv``: expected purchases, probability alive and value per customer
(docs/architecture.md section 5, "Scores")."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import Any

from loopwise.checks import dump_json
from loopwise.errors import UsageError

TABLE_ROWS = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("scores", help="predictive scores: customer lifetime value")
    commands = parser.add_subparsers(dest="scores_command", metavar="COMMAND")
    clv = commands.add_parser(
        "clv",
        help="expected purchases, probability alive and expected value per customer (BG/NBD + Gamma-Gamma)",
        description=(
            "Fit a BG/NBD purchase model (and a Gamma-Gamma spend model with --value-col) by maximum "
            "likelihood on the transactions up to the calibration end, then score every customer seen by "
            "then. FILE.csv has one row per transaction. Purchases by a customer on the same day are one "
            "purchase (values add up); the first purchase is not a repeat. Dates: YYYY-MM-DD, an ISO 8601 "
            "timestamp (converted to the UTC day) or YYYYMMDD, one format per file. Rows after the "
            "calibration end, without customer or date, or with a missing or negative value are left out "
            "and counted by reason (stderr, and 'excluded' in JSON). Customers with one purchase are "
            "scored (frequency 0). At least 10 customers, one of them with a repeat purchase, are needed."
        ),
    )
    clv.add_argument("file", metavar="FILE.csv", help="transactions (one row per transaction)")
    clv.add_argument("--customer-col", required=True, metavar="C", help="customer id column")
    clv.add_argument("--date-col", required=True, metavar="D", help="transaction date column")
    clv.add_argument(
        "--value-col", default=None, metavar="V", help="transaction value column (enables value)"
    )
    clv.add_argument(
        "--calibration-end", required=True, metavar="YYYY-MM-DD", help="last day of the fitting window"
    )
    clv.add_argument(
        "--horizon-days",
        required=True,
        type=int,
        metavar="H",
        help="days after the calibration end to predict",
    )
    clv.add_argument(
        "--format", choices=("table", "json"), default="table", help="output format (default: table)"
    )
    clv.set_defaults(func=run_clv)
    parser.set_defaults(func=lambda args: _print_help(parser))


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _calibration_end(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--calibration-end {text!r} is not a date (YYYY-MM-DD)") from None


def _read(path: str, columns: list[str]) -> Any:
    import pandas as pd

    try:
        header = pd.read_csv(path, nrows=0).columns
    except FileNotFoundError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, IsADirectoryError) as error:
        raise UsageError(f"cannot read {path} as CSV: {error}") from error
    missing = [column for column in columns if column not in header]
    if missing:
        raise UsageError(f"{path} has no column {missing[0]!r} (columns: {', '.join(map(str, header))})")
    try:
        return pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path} as CSV: {error}") from error


def run_clv(args: argparse.Namespace) -> int:
    from decision_engine.scores import (
        EXCLUSION_TEXT,
        ExclusionReason,
        ScoreInputError,
        TransactionColumns,
        score_customer_value,
        summarize_transactions,
        to_json_dict,
    )

    end = _calibration_end(args.calibration_end)
    columns = TransactionColumns(customer=args.customer_col, date=args.date_col, value=args.value_col)
    names = list(dict.fromkeys(c for c in (columns.customer, columns.date, columns.value) if c))
    frame = _read(args.file, names)
    try:
        summary = summarize_transactions(frame, columns, end)
        scores = score_customer_value(summary, args.horizon_days)
    except ScoreInputError as error:
        raise UsageError(str(error)) from error
    for reason, count in summary.excluded.items():
        print(f"notice: {count} row(s) left out: {EXCLUSION_TEXT[ExclusionReason(reason)]}", file=sys.stderr)
    if summary.same_day_rows_merged:
        print(
            f"notice: {summary.same_day_rows_merged} row(s) merged into same-day purchases of the same customer",
            file=sys.stderr,
        )
    for text in scores.note_text():
        print(f"warning: {text}", file=sys.stderr)
    if args.format == "json":
        dump_json(to_json_dict(scores), sys.stdout)
    else:
        print(_table(scores))
    return 0


def _table(scores: Any) -> str:
    import numpy as np

    s = scores.summary
    params = ", ".join(f"{name}={value:.4g}" for name, value in scores.params().items())
    lines = [
        f"model {scores.model} ({params}; alpha in days)",
        f"{len(s)} customers, calibration end {s.calibration_end}, horizon {scores.horizon_days} days",
        f"expected repeat purchases in total: {scores.expected_purchases.sum():.1f}",
        "",
        f"{'customer':<24} {'frequency':>9} {'recency':>8} {'age':>6} {'p_alive':>8} {'purchases':>10} {'value':>12}",
    ]
    rank = scores.expected_value if scores.expected_value is not None else scores.expected_purchases
    order = np.argsort(-rank, kind="stable")[:TABLE_ROWS]
    for i in order:
        value = "" if scores.expected_value is None else f"{scores.expected_value[i]:.2f}"
        lines.append(
            f"{str(s.customers[i])[:24]:<24} {s.frequency[i]:>9d} {int(s.recency_days[i]):>8d} "
            f"{int(s.age_days[i]):>6d} {scores.p_alive[i]:>8.3f} {scores.expected_purchases[i]:>10.3f} {value:>12}"
        )
    if len(s) > TABLE_ROWS:
        lines.append(
            f"... top {TABLE_ROWS} of {len(s)} by expected value; --format json lists every customer"
        )
    return "\n".join(lines)
