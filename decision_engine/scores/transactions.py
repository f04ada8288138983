"""From one row per transaction to one row per customer: the sufficient statistics of BG/NBD.

Conventions of the literature: purchases by a customer on the same day are one purchase (their
values add up); the first purchase starts the customer's clock and is not a repeat. Rows that
cannot enter (no customer, no date, after the calibration end, no or a negative value) are
counted by :class:`ExclusionReason`, never dropped silently. Dates must be ISO 8601
(``YYYY-MM-DD``, optionally a time and a UTC offset: converted to the UTC day) or compact
``YYYYMMDD``, one format per file; anything else is an error naming the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from decision_engine.scores.codes import ExclusionReason

MAX_ABS_VALUE = 1e15
FIRST_DATA_LINE = 2  # CSV line of the first data row (after the header)
MISSING_TOKENS = ("", "nan", "na", "n/a", "null", "none")  # a cell holding one of these (any case) is empty


class ScoreInputError(ValueError):
    """Input the scores cannot use; the message is one line the command prints as is."""


@dataclass(frozen=True)
class TransactionColumns:
    customer: str
    date: str
    value: str | None = None


@dataclass
class CustomerSummary:
    """One entry per customer with a purchase on or before the calibration end."""

    calibration_end: date
    customers: np.ndarray  # customer ids (str)
    frequency: np.ndarray  # repeat purchase days (x)
    recency_days: np.ndarray  # first to last purchase day (t_x)
    age_days: np.ndarray  # first purchase day to the calibration end (T)
    average_value: np.ndarray | None  # mean value of the repeat purchase days; nan without repeats
    rows_read: int = 0
    same_day_rows_merged: int = 0
    excluded: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.customers)


def _line(position: int) -> int:
    return position + FIRST_DATA_LINE


def parse_days(values: pd.Series, column: str) -> pd.Series:
    """Calendar days (UTC) as ``datetime64``; missing cells are NaT; bad or mixed formats are an error."""
    text = values.astype("string").str.strip()
    missing = text.isna() | text.str.lower().isin(MISSING_TOKENS)
    compact = text.str.fullmatch(r"\d{8}").fillna(False).to_numpy(dtype=bool)
    iso = text.str.match(r"\d{4}-\d{2}-\d{2}").fillna(False).to_numpy(dtype=bool)
    missing_array = missing.to_numpy(dtype=bool)
    other = ~missing_array & ~compact & ~iso
    if other.any():
        at = int(np.argmax(other))
        raise ScoreInputError(
            f"column {column!r}: {text.iloc[at]!r} on line {_line(at)} is not a date "
            "(expected YYYY-MM-DD, an ISO 8601 timestamp, or YYYYMMDD)"
        )
    if compact.any() and iso.any():
        a, b = int(np.argmax(iso)), int(np.argmax(compact))
        raise ScoreInputError(
            f"column {column!r} mixes date formats: {text.iloc[a]!r} on line {_line(a)} and "
            f"{text.iloc[b]!r} on line {_line(b)}; use one format"
        )
    present = text.where(~missing)
    if compact.any():
        parsed = pd.to_datetime(present, format="%Y%m%d", errors="coerce")
    else:
        parsed = pd.to_datetime(present, format="ISO8601", errors="coerce", utc=True).dt.tz_localize(None)
    invalid = parsed.isna().to_numpy() & ~missing_array
    if invalid.any():
        at = int(np.argmax(invalid))
        raise ScoreInputError(f"column {column!r}: {text.iloc[at]!r} on line {_line(at)} is not a valid date")
    return parsed.dt.floor("D")


def parse_values(values: pd.Series, column: str) -> np.ndarray:
    """Numbers with missing cells as nan; text, infinite or absurd numbers are an error naming the line."""
    text = values.astype("string").str.strip()
    empty = (text.isna() | text.str.lower().isin(MISSING_TOKENS)).to_numpy(dtype=bool)
    numbers = pd.to_numeric(text.where(~empty), errors="coerce").to_numpy(dtype=float)
    text_present = ~empty
    not_number = np.isnan(numbers) & text_present
    if not_number.any():
        at = int(np.argmax(not_number))
        raise ScoreInputError(f"column {column!r}: {values.iloc[at]!r} on line {_line(at)} is not a number")
    absurd = np.isfinite(numbers) & (np.abs(numbers) > MAX_ABS_VALUE) | np.isinf(numbers)
    if absurd.any():
        at = int(np.argmax(absurd))
        raise ScoreInputError(
            f"column {column!r}: {values.iloc[at]!r} on line {_line(at)} is not a plausible amount "
            f"(finite, at most {MAX_ABS_VALUE:.0e})"
        )
    return numbers


def summarize_transactions(
    frame: pd.DataFrame, columns: TransactionColumns, calibration_end: date
) -> CustomerSummary:
    """Per-customer frequency, recency, age (days) and average repeat value up to ``calibration_end``."""
    for name in (columns.customer, columns.date, columns.value):
        if name is not None and name not in frame.columns:
            raise ScoreInputError(f"no column {name!r} (columns: {', '.join(map(str, frame.columns))})")
    rows = len(frame)
    customer = frame[columns.customer].astype("string").str.strip()
    days = parse_days(frame[columns.date], columns.date)
    values = parse_values(frame[columns.value], columns.value) if columns.value else None

    end = pd.Timestamp(calibration_end)
    reasons = np.full(rows, "", dtype=object)
    checks: list[tuple[ExclusionReason, np.ndarray]] = [
        (ExclusionReason.MISSING_CUSTOMER, (customer.isna() | (customer == "")).to_numpy(dtype=bool)),
        (ExclusionReason.MISSING_DATE, days.isna().to_numpy()),
        (ExclusionReason.AFTER_CALIBRATION_END, (days > end).fillna(False).to_numpy(dtype=bool)),
    ]
    if values is not None:
        checks += [
            (ExclusionReason.MISSING_VALUE, np.isnan(values)),
            (ExclusionReason.NEGATIVE_VALUE, values < 0),
        ]
    excluded: dict[str, int] = {}
    for reason, hit in checks:
        first_reason = hit & (reasons == "")
        if first_reason.any():
            reasons[first_reason] = reason.value
            excluded[reason.value] = int(first_reason.sum())
    keep = reasons == ""

    day_number = (days[keep] - pd.Timestamp("1970-01-01")).dt.days.to_numpy(dtype=np.int64)
    used = pd.DataFrame(
        {
            "customer": customer[keep].to_numpy(),
            "day": day_number,
            "value": values[keep] if values is not None else np.zeros(int(keep.sum())),
        }
    )
    per_day = used.groupby(["customer", "day"], sort=True, observed=True)["value"].sum().reset_index()
    merged = len(used) - len(per_day)
    grouped = per_day.groupby("customer", sort=True)
    first_day = grouped["day"].min()
    last_day = grouped["day"].max()
    purchase_days = grouped["day"].size()
    total_value = grouped["value"].sum()
    first_value = per_day.drop_duplicates("customer", keep="first").set_index("customer")["value"]
    frequency = (purchase_days - 1).to_numpy(dtype=np.int64)
    end_day = (end - pd.Timestamp("1970-01-01")).days
    average_value = None
    if values is not None:
        repeat_value = (total_value - first_value.reindex(total_value.index)).to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            average_value = np.where(frequency > 0, repeat_value / np.maximum(frequency, 1), np.nan)
    return CustomerSummary(
        calibration_end=calibration_end,
        customers=first_day.index.to_numpy(dtype=str),
        frequency=frequency,
        recency_days=(last_day - first_day).to_numpy(dtype=float),
        age_days=(end_day - first_day).to_numpy(dtype=float),
        average_value=average_value,
        rows_read=rows,
        same_day_rows_merged=int(merged),
        excluded=excluded,
    )
