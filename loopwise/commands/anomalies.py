"""``loopwise anomalies detect FILE.csv``: online anomaly detection on one series (docs/architecture.md section 5)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from loopwise.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("anomalies", help="detect anomalies in a time series")
    commands = parser.add_subparsers(dest="anomalies_command", metavar="COMMAND")
    detect = commands.add_parser(
        "detect",
        help="flag unusual points; the verdict at time t uses only data up to t",
        description="Online anomaly detection with seasonal (day-of-week / hour-of-week) robust baselines.",
    )
    detect.add_argument("file", metavar="FILE.csv", help="CSV with one row per timestamp")
    detect.add_argument("--timestamp-col", default="timestamp", help="timestamp column (default: timestamp)")
    detect.add_argument("--value-col", default="value", help="value column (default: value)")
    detect.add_argument(
        "--denominator-col",
        default=None,
        help="optional trials behind a rate (e.g. delivered for an open rate)",
    )
    detect.add_argument(
        "--kind",
        choices=("value", "rate", "ratio", "count", "amount"),
        default=None,
        help="noise model (default: rate with a denominator column, else value)",
    )
    detect.add_argument(
        "--frequency",
        choices=("daily", "hourly"),
        default=None,
        help="grid of the series (default: inferred from the timestamps)",
    )
    detect.add_argument("--format", choices=("table", "json"), default="table")
    detect.set_defaults(func=run_detect)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _read(args: argparse.Namespace) -> Any:
    import pandas as pd

    try:
        frame = pd.read_csv(args.file, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
        raise UsageError(f"cannot read {args.file}: {error}") from None
    for column in (args.timestamp_col, args.value_col, args.denominator_col):
        if column and column not in frame.columns:
            raise UsageError(
                f"column {column!r} not found in {args.file} (columns: {', '.join(frame.columns)})"
            )
    if frame.empty:
        raise UsageError(f"{args.file} has no rows")
    raw_time = frame[args.timestamp_col].str.strip()
    try:
        parsed = pd.to_datetime(
            raw_time, format="mixed", utc=raw_time.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$").any()
        )
    except (ValueError, TypeError) as error:
        raise UsageError(
            f"column {args.timestamp_col!r} has a value that is not a timestamp: {error}"
        ) from None
    if parsed.isna().any():
        row = int(parsed.isna().to_numpy().argmax()) + 2
        raise UsageError(f"column {args.timestamp_col!r} is empty on line {row}")
    values = _numbers(frame[args.value_col], args.value_col)
    data = pd.DataFrame({"series_id": "series", "timestamp": parsed, "value": values})
    kind = args.kind or ("rate" if args.denominator_col else "value")
    data["kind"] = kind
    if args.denominator_col:
        data["denominator"] = _numbers(frame[args.denominator_col], args.denominator_col)
    return raw_time, data


def _numbers(column: Any, name: str) -> Any:
    import pandas as pd

    text = column.str.strip()
    numbers = pd.to_numeric(
        text.replace({"": None, "NaN": None, "nan": None, "NA": None, "null": None}), errors="coerce"
    )
    bad = numbers.isna() & ~text.isin(["", "NaN", "nan", "NA", "null"])
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise UsageError(f"column {name!r} has a non-numeric value {text.iloc[row]!r} on line {row + 2}")
    return numbers.astype(float)


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_detect(args: argparse.Namespace) -> int:
    from decision_engine.anomalies.detector import detect

    raw_time, data = _read(args)
    try:
        verdicts = detect(data, frequency=args.frequency)
    except ValueError as error:
        raise UsageError(str(error)) from None
    points = []
    for stamp, row in zip(raw_time, verdicts.itertuples(index=False), strict=True):
        points.append(
            {
                "timestamp": stamp,
                "value": _clean(float(row.value)),
                "expected": _clean(round(float(row.expected), 10)),
                "lower": _clean(round(float(row.lower), 10)),
                "upper": _clean(round(float(row.upper), 10)),
                "score": round(float(row.score), 6),
                "is_anomaly": bool(row.is_anomaly),
                "severity": row.severity,
                "direction": row.direction,
            }
        )
    if args.format == "json":
        print(json.dumps({"points": points}, indent=2))
    else:
        _print_table(points)
    return 0


def _print_table(points: list[dict[str, Any]]) -> None:
    def fmt(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    headers = ("timestamp", "value", "expected", "lower", "upper", "score", "flag")
    rows = [
        (
            p["timestamp"],
            fmt(p["value"]),
            fmt(p["expected"]),
            fmt(p["lower"]),
            fmt(p["upper"]),
            f"{p['score']:.2f}",
            f"{p['severity']} {p['direction']}" if p["is_anomaly"] else "",
        )
        for p in points
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    flagged = sum(1 for p in points if p["is_anomaly"])
    print(f"\n{flagged} of {len(points)} points flagged")
