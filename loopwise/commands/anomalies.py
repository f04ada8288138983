"""``loopwise anomalies detect FILE.csv``: online anomaly detection on one series (docs/architecture.md section 5)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

from loopwise.checks import MAX_ABS_VALUE, check_numbers, finite_or_none, stream_json_list
from loopwise.errors import UsageError

MISSING_TOKENS = ("", "NaN", "nan", "NA", "null")
DUPLICATE_RULES = ("last", "sum", "mean", "error")
DEFAULT_DUPLICATE_RULE = "last"
DUPLICATE_NOTICE = {
    "last": "kept the last row of each timestamp in file order (--duplicates sum|mean|error to choose another rule)",
    "sum": "summed the values of each timestamp (--duplicates)",
    "mean": "averaged the values of each timestamp (--duplicates)",
}
STEP_NS = {"hourly": 3_600_000_000_000, "daily": 86_400_000_000_000}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("anomalies", help="detect anomalies in a time series")
    commands = parser.add_subparsers(dest="anomalies_command", metavar="COMMAND")
    detect = commands.add_parser(
        "detect",
        help="flag unusual points; the verdict at time t uses only data up to t",
        description=(
            "Online anomaly detection with seasonal (day-of-week / hour-of-week) robust baselines. "
            "Timestamps with a UTC offset are converted to UTC; naive timestamps are taken as UTC "
            "(so a naive local-time export repeats an hour when daylight saving time ends: that hour "
            "is a duplicate). Rows with the same timestamp (with --frequency, the same UTC day or "
            "hour) are duplicates: by default the last of them in file order is kept, with a notice on stderr saying which lines; --duplicates chooses another "
            "rule. Values must be finite with magnitude at most 1e15; empty, NaN, NA and null cells "
            "are missing (value null in the output)."
        ),
    )
    detect.add_argument("file", metavar="FILE.csv", help="CSV with one row per timestamp")
    detect.add_argument(
        "--timestamp-col",
        default="timestamp",
        help="timestamp column (default: timestamp); ISO 8601, offsets converted to UTC, naive taken as UTC",
    )
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
        help=(
            "grid of the series (default: inferred from the timestamps); with it, each row counts for its "
            "UTC day (or hour), so rows on the same day (hour) are duplicates"
        ),
    )
    detect.add_argument(
        "--duplicates",
        choices=DUPLICATE_RULES,
        default=DEFAULT_DUPLICATE_RULE,
        help=(
            "how rows with the same timestamp (day or hour with --frequency) are combined: last (the default: the last row in file order, as a "
            "re-sent or corrected record replaces the earlier one), sum or mean of the values "
            "(denominators summed), or error (refuse the file); the output then has one point per "
            "timestamp (day, hour), in time order, stamped with its first timestamp text. Rows at "
            "distinct timestamps are never combined, however irregular the series"
        ),
    )
    detect.add_argument("--format", choices=("table", "json"), default="table")
    detect.set_defaults(func=run_detect)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _header(path: str) -> list[str]:
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
    if not header:
        raise UsageError(f"cannot read {path}: the file is empty (expected a header line)")
    return header


def _read_columns(path: str, columns: list[str]) -> Any:
    """Only the needed columns, as Arrow strings (compact: no Python object per cell)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        return pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                include_columns=columns,
                column_types={column: pa.string() for column in columns},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {str(error).splitlines()[0]}") from None


def _read(args: argparse.Namespace) -> tuple[Any, Any]:
    """The raw timestamp texts (Arrow) and the detector's input frame."""
    import pandas as pd
    import pyarrow.compute as pc

    header = _header(args.file)
    for column in (args.timestamp_col, args.value_col, args.denominator_col):
        if column and column not in header:
            raise UsageError(f"column {column!r} not found in {args.file} (columns: {', '.join(header)})")
    columns = [c for c in dict.fromkeys((args.timestamp_col, args.value_col, args.denominator_col)) if c]
    table = _read_columns(args.file, columns)
    if table.num_rows == 0:
        raise UsageError(f"{args.file} has no rows")
    raw_time = pc.utf8_trim_whitespace(table.column(args.timestamp_col).combine_chunks())
    ns = _timestamps(raw_time, args.timestamp_col)
    if args.frequency:  # each row counts for its UTC day (or hour); identity for midnight (or :00) stamps
        ns = ns - ns % STEP_NS[args.frequency]
    values = _numbers(table.column(args.value_col), args.value_col)
    denominators = (
        _numbers(table.column(args.denominator_col), args.denominator_col) if args.denominator_col else None
    )
    del table
    data = pd.DataFrame({"series_id": "series", "timestamp": ns.view("datetime64[ns]"), "value": values})
    data["kind"] = args.kind or ("rate" if args.denominator_col else "value")
    if denominators is not None:
        data["denominator"] = denominators
    return raw_time, data


def _timestamps(raw: Any, column: str) -> Any:
    """Nanoseconds since the epoch, UTC: offsets are converted to UTC, naive timestamps taken as UTC."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    empty = pc.equal(raw, "")
    if pc.any(empty).as_py():
        row = int(np.asarray(empty).argmax())
        raise UsageError(f"column {column!r} is empty on line {row + 2}")
    for kind in (
        pa.timestamp("ns"),
        pa.timestamp("ns", tz="UTC"),
    ):  # fast paths: all naive or all with offsets
        try:
            return pc.cast(raw, kind).cast(pa.int64()).to_numpy()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    text = pd.Series(raw.to_numpy(zero_copy_only=False), dtype=object)
    try:
        parsed = pd.to_datetime(text, format="mixed", utc=True)
    except (ValueError, TypeError, OverflowError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UsageError(f"column {column!r} has a value that is not a timestamp: {message}") from None
    if parsed.isna().any():
        row = int(parsed.isna().to_numpy().argmax())
        raise UsageError(f"column {column!r} has a value that is not a timestamp on line {row + 2}")
    return parsed.dt.tz_localize(None).astype("datetime64[ns]").to_numpy().view("int64")


def _numbers(column: Any, name: str) -> Any:
    """Floats; empty, NaN, NA and null cells are missing (NaN). Non-numbers and infinities are errors."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(column.combine_chunks())
    missing = pc.is_in(text, value_set=pa.array(MISSING_TOKENS))
    try:
        numbers = pc.cast(pc.if_else(missing, None, text), pa.float64())
    except pa.ArrowInvalid:
        ok = np.asarray(missing)
        for row, cell in enumerate(text.to_pylist()):
            if ok[row]:
                continue
            try:
                float(cell)
            except ValueError:
                raise UsageError(
                    f"column {name!r} has a non-numeric value {cell!r} on line {row + 2}"
                ) from None
        raise
    values = numbers.to_numpy(zero_copy_only=False)  # nulls become NaN
    check_numbers(values, name)
    return values


def _combine_duplicates(raw_time: Any, data: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    """Rows with the same timestamp (with ``--frequency``, the same UTC day or hour) are
    duplicates, combined by ``--duplicates`` (a notice on stderr says which lines and how) or,
    with ``error``, refused. Rows at distinct timestamps are never combined here, however close
    together: an irregular series (a sensor that reports 2 to 8 minutes apart) keeps every row,
    and each gets its own verdict."""
    import numpy as np
    import pandas as pd

    positions = data["timestamp"].to_numpy().view("int64")  # already floored to the day/hour by --frequency
    order = np.argsort(positions, kind="stable")
    sorted_positions = positions[order]
    repeated = np.flatnonzero(sorted_positions[1:] == sorted_positions[:-1])
    if not len(repeated):
        return raw_time, data
    first, second = sorted((int(order[repeated[0]]), int(order[repeated[0] + 1])))
    same = {"daily": "UTC day", "hourly": "UTC hour"}.get(args.frequency or "", "timestamp")
    found = (
        f"lines {first + 2} and {second + 2} fall on the same {same} "
        f"({raw_time[first].as_py()!r}, {raw_time[second].as_py()!r}; {len(repeated)} duplicate row(s))"
    )
    if args.duplicates == "error":
        raise UsageError(
            f"{found}: pass --duplicates last|sum|mean to combine them (naive timestamps are UTC, so a "
            "DST fall-back's repeated local hour is a duplicate)"
        )
    slot, first_row = np.unique(positions, return_index=True)  # slots in time order
    index = np.searchsorted(slot, positions)
    last_row = np.zeros(len(slot), dtype=np.int64)
    last_row[index] = np.arange(len(positions))  # later rows overwrite: the last row of each slot
    values = data["value"].to_numpy()
    present = ~np.isnan(values)
    counts = np.bincount(index[present], minlength=len(slot))
    sums = np.bincount(index[present], weights=values[present], minlength=len(slot))
    if args.duplicates == "sum":
        combined = np.where(counts > 0, sums, np.nan)
    elif args.duplicates == "mean":
        combined = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    else:
        combined = values[last_row]
    out = pd.DataFrame(
        {"series_id": "series", "timestamp": data["timestamp"].to_numpy()[first_row], "value": combined}
    )
    out["kind"] = data["kind"].iloc[0]
    if "denominator" in data.columns:
        denominators = data["denominator"].to_numpy()
        if args.duplicates == "last":
            out["denominator"] = denominators[last_row]
        else:
            known = ~np.isnan(denominators)
            den_sum = np.bincount(index[known], weights=denominators[known], minlength=len(slot))
            out["denominator"] = np.where(np.bincount(index[known], minlength=len(slot)) > 0, den_sum, np.nan)
    with np.errstate(invalid="ignore"):
        large = np.abs(combined) > MAX_ABS_VALUE
    if large.any():
        slot_row = int(large.argmax())
        raise UsageError(
            f"column {args.value_col!r} sums to {combined[slot_row]:.6g} at the timestamp of line "
            f"{int(first_row[slot_row]) + 2}, beyond the accepted magnitude of {MAX_ABS_VALUE:.0e}"
        )
    # after the checks: a run that ends in an error prints that one line only
    print(f"loopwise: notice: {found}: {DUPLICATE_NOTICE[args.duplicates]}", file=sys.stderr)
    # Points come out in time order, each stamped with the first timestamp text of its timestamp (day, hour).
    return raw_time.take(first_row), out


def _with_likelihood(verdicts: Any) -> Any:
    """A young series keeps the seasonal detector's critical verdicts, one per burst (the first
    of those within ``young_repeat_rows`` observations of each other); from ``min_rows``
    observations on, the anomaly likelihood decides (one alert per event)."""
    import numpy as np
    import pandas as pd

    from decision_engine.anomalies.likelihood import LikelihoodConfig, first_of_each_burst, likelihood

    config = LikelihoodConfig()
    values = verdicts["value"].to_numpy(dtype=float)
    order = np.argsort(verdicts["timestamp"].to_numpy(), kind="stable")
    observed = order[~np.isnan(values[order])]  # rows with a value, in time order
    stamps = verdicts["timestamp"].to_numpy()
    judged = likelihood(values[observed], config, stamps[observed])
    mature = observed[config.min_rows :]
    out = verdicts.copy()
    young = np.ones(len(out), dtype=bool)
    young[mature] = False
    seasonal_critical = out["severity"].to_numpy() == "critical"
    alert = np.zeros(len(out), dtype=bool)
    young_observed = observed[: config.min_rows]
    alert[young_observed] = first_of_each_burst(seasonal_critical[young_observed], config.young_repeat_rows)
    alert[mature] = judged.alert[config.min_rows :]
    z = np.zeros(len(out))
    z[observed] = judged.z
    severity = np.where(z >= config.critical, "critical", "warning")
    above = values > out["expected"].to_numpy(dtype=float)
    score = out["score"].to_numpy(dtype=float, copy=True)
    score[mature] = z[mature] ** 2 / (z[mature] ** 2 + config.threshold**2)
    out["score"] = score
    out["is_anomaly"] = alert
    severity = np.where(alert, np.where(young, out["severity"].to_numpy(), severity), None)
    out["severity"] = pd.Series(severity, index=out.index, dtype=object)
    direction = np.where(above, "spike", "drop")
    direction = np.where(alert, np.where(young, out["direction"].to_numpy(), direction), None)
    out["direction"] = pd.Series(direction, index=out.index, dtype=object)
    return out


def _points(raw_time: Any, verdicts: Any) -> Iterator[dict[str, Any]]:
    columns = {
        name: verdicts[name].to_numpy()
        for name in ("value", "expected", "lower", "upper", "score", "is_anomaly")
    }
    severity, direction = verdicts["severity"].to_numpy(), verdicts["direction"].to_numpy()
    for i, stamp in enumerate(raw_time.to_pylist()):
        expected, lower, upper = (finite_or_none(columns[n][i]) for n in ("expected", "lower", "upper"))
        yield {
            "timestamp": stamp,
            "value": finite_or_none(columns["value"][i]),  # null: missing in the input
            "expected": None if expected is None else round(expected, 10),  # null: no baseline yet
            "lower": None if lower is None else round(lower, 10),
            "upper": None if upper is None else round(upper, 10),
            "score": round(finite_or_none(columns["score"][i]) or 0.0, 6),
            "is_anomaly": bool(columns["is_anomaly"][i]),
            "severity": severity[i],
            "direction": direction[i],
        }


def run_detect(args: argparse.Namespace) -> int:
    from decision_engine.anomalies.detector import detect

    raw_time, data = _read(args)
    raw_time, data = _combine_duplicates(raw_time, data, args)
    try:
        verdicts = detect(data, frequency=args.frequency)
    except ValueError as error:
        raise UsageError(str(error)) from None
    verdicts = _with_likelihood(verdicts)
    if args.format == "json":
        stream_json_list("points", _points(raw_time, verdicts), sys.stdout)
    else:
        _print_table(list(_points(raw_time, verdicts)))
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
