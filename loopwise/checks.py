"""Input checks and strict JSON output shared by the ``loopwise`` CSV commands.

Rules (docs/architecture.md section 5, "Input rules"):

- numbers must be finite: ``inf``/``-inf`` (and values too large for a double, like ``1e400``)
  are an error naming the column and CSV line, never a silent null;
- a value's magnitude must stay at or below :data:`MAX_ABS_VALUE` (1e15): beyond that, sums of
  squares lose all precision or overflow, so statistics would be meaningless;
- JSON output is strict (no ``NaN``/``Infinity`` tokens): non-finite numbers become ``null``
  only in fields the contract documents as nullable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import IO, Any

import numpy as np

from loopwise.errors import UsageError

MAX_ABS_VALUE = 1e15
"""Largest magnitude accepted for a metric, covariate or series value."""

MAX_DAILY_MONEY = 1e12
"""Largest spend or revenue accepted for one ad on one day (and largest total daily budget)."""

MIN_MONEY = 1e-6
"""Smallest non-zero spend or revenue accepted (a millionth of a currency unit)."""


def check_numbers(
    values: Any,
    column: str,
    *,
    limit: float = MAX_ABS_VALUE,
    line_offset: int = 2,
    what: str = "",
    smallest: float = 0.0,
) -> None:
    """Raise :class:`UsageError` on the first infinite value, or value above ``limit`` in magnitude.

    ``values`` is positional (row 0 is CSV line ``line_offset``: the header is line 1). NaN
    (missing) passes: each command says what a missing value means.
    """
    array = np.asarray(values, dtype=float)
    infinite = np.isinf(array)
    if infinite.any():
        row = int(infinite.argmax())
        raise UsageError(
            f"column {column!r} has an infinite value on line {row + line_offset}: "
            "give a finite number (or leave the cell empty for a missing value)"
        )
    with np.errstate(invalid="ignore"):
        large = np.abs(array) > limit
    if large.any():
        row = int(large.argmax())
        raise UsageError(
            f"column {column!r} has {array[row]:.6g} on line {row + line_offset}, beyond the accepted "
            f"magnitude of {limit:.0e}{what}"
        )
    if smallest > 0:
        with np.errstate(invalid="ignore"):
            tiny = (array != 0) & (np.abs(array) < smallest)
        if tiny.any():
            row = int(tiny.argmax())
            raise UsageError(
                f"column {column!r} has {array[row]:.6g} on line {row + line_offset}: a non-zero amount "
                f"below {smallest:.0e} is not plausible (write 0 for nothing)"
            )


def finite_or_none(value: Any) -> float | None:
    """A float, or ``None`` when missing or not finite (only for fields documented as nullable)."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def dump_json(payload: Any, stream: IO[str], default: Any = None) -> None:
    """Strict JSON (``allow_nan=False``) followed by a newline."""
    stream.write(json.dumps(payload, indent=2, allow_nan=False, default=default))
    stream.write("\n")


def stream_json_list(key: str, items: Iterable[dict[str, Any]], stream: IO[str]) -> None:
    """Write ``{"key": [item, ...]}`` item by item (strict JSON), without building one giant string."""
    stream.write('{\n  "' + key + '": [')
    first = True
    for item in items:
        text = json.dumps(item, indent=2, allow_nan=False).replace("\n", "\n    ")
        stream.write(("\n    " if first else ",\n    ") + text)
        first = False
    stream.write("\n  ]\n}\n" if not first else "]\n}\n")
