"""Money in the vendors' units: Meta's minor units (its own offsets) and Google's micros.

Meta does not follow ISO 4217 decimals: its offset is 1 for CLP, COP, CRC, HUF, ISK, IDR,
JPY, KRW, PYG, TWD and VND (HUF 2000 is ``"2000"`` although the forint has two decimals)
and 100 for everything else. Google counts millionths of the major unit and refuses amounts
that are not multiples of the currency's billable unit, so amounts are rounded to it.
Arithmetic goes through ``Decimal`` of the float's shortest text, so 19.99 EUR is 1999 and
19,990,000 exactly, and reading, writing and reading again gives back the same value.
An unknown currency is an error, never a guessed offset: a wrong offset moves a budget a
hundredfold.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

MICROS_PER_UNIT = 1_000_000
_CENT = 10_000  # Google's billable unit for two-decimal currencies, in micros
_WHOLE = 1_000_000  # ... and for currencies without minor units

# currency -> (Meta offset, Google billable unit in micros)
CURRENCIES: dict[str, tuple[int, int]] = {
    **{
        code: (100, _CENT)
        for code in [
            "AED",
            "ARS",
            "AUD",
            "BRL",
            "CAD",
            "CHF",
            "CNY",
            "CZK",
            "DKK",
            "EGP",
            "EUR",
            "GBP",
            "HKD",
            "ILS",
            "INR",
            "MXN",
            "MYR",
            "NGN",
            "NOK",
            "NZD",
            "PEN",
            "PHP",
            "PLN",
            "QAR",
            "RON",
            "SAR",
            "SEK",
            "SGD",
            "THB",
            "TRY",
            "UAH",
            "USD",
            "ZAR",
        ]
    },
    **{code: (1, _WHOLE) for code in ("CLP", "ISK", "JPY", "KRW", "PYG", "VND")},
    # Meta counts these in whole units although ISO 4217 (and Google) give them two decimals.
    **{code: (1, _CENT) for code in ("COP", "CRC", "HUF", "IDR", "TWD")},
}


class UnknownCurrencyError(ValueError):
    """A currency missing from :data:`CURRENCIES` (one line)."""


def meta_minor_units(amount: float, currency: str) -> int:
    """Major units -> Meta's ``daily_budget`` integer: round(amount * offset)."""
    offset, _ = _lookup(currency)
    return int((_decimal(amount) * offset).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def meta_major_units(minor: int | str, currency: str) -> float:
    """Meta's ``daily_budget`` (an integer, sent as a string) -> major units."""
    offset, _ = _lookup(currency)
    return float(Decimal(int(minor)) / offset)


def google_micros(amount: float, currency: str) -> int:
    """Major units -> micros, rounded to the currency's billable unit (Google refuses the rest)."""
    _, unit = _lookup(currency)
    units = (_decimal(amount) * MICROS_PER_UNIT / unit).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(units) * unit


def google_major(micros: int | str) -> float:
    """Micros (an int64, sent as a string) -> major units."""
    return float(Decimal(int(micros)) / MICROS_PER_UNIT)


def _lookup(currency: str) -> tuple[int, int]:
    code = (currency or "").strip().upper()
    if code not in CURRENCIES:
        raise UnknownCurrencyError(f"unknown currency {currency!r}: add its Meta offset and Google unit")
    return CURRENCIES[code]


def _decimal(amount: float) -> Decimal:
    if isinstance(amount, bool) or not isinstance(amount, int | float | Decimal):
        raise ValueError(f"amount must be a number, got {type(amount).__name__}")
    if not math.isfinite(amount):
        raise ValueError(f"amount must be finite, got {amount}")
    return Decimal(str(amount))
