"""Vendor money units: exact values, and reading -> writing -> reading gives back the same amount."""

from __future__ import annotations

import pytest

from activation.writeback.currency import (
    CURRENCIES,
    UnknownCurrencyError,
    google_major,
    google_micros,
    meta_major_units,
    meta_minor_units,
)


@pytest.mark.parametrize(
    ("amount", "currency", "meta", "google"),
    [
        (20.00, "USD", 2000, 20_000_000),
        (2000, "JPY", 2000, 2_000_000_000),
        (19.99, "EUR", 1999, 19_990_000),
        (2000, "HUF", 2000, 2_000_000_000),  # Meta offset 1 although the forint has two decimals
        (0.29, "USD", 29, 290_000),  # 0.29 * 100 is 28.999999999999996 in floats
    ],
)
def test_exact_units(amount, currency, meta, google):
    assert meta_minor_units(amount, currency) == meta
    assert google_micros(amount, currency) == google
    assert meta_major_units(meta, currency) == amount
    assert google_major(google) == amount


def test_google_rounds_to_the_billable_unit():
    assert google_micros(20.004, "USD") == 20_000_000
    assert google_micros(20.005, "USD") == 20_010_000
    assert google_micros(1999.6, "JPY") == 2_000_000_000


@pytest.mark.parametrize("currency", sorted(CURRENCIES))
def test_read_write_read_is_the_identity_for_every_currency(currency):
    offset, unit = CURRENCIES[currency]
    for minor in (1, 7, 99, 1999, 2000, 123_457, 98_765_432):
        read = meta_major_units(str(minor), currency)
        assert meta_minor_units(read, currency) == minor
        micros = minor * unit
        assert google_micros(google_major(str(micros)), currency) == micros
    assert offset in (1, 100)


def test_unknown_currency_and_non_numbers_are_one_line_errors():
    with pytest.raises(UnknownCurrencyError, match=r"^unknown currency 'XXX'[^\n]*$"):
        meta_minor_units(10, "XXX")
    with pytest.raises(UnknownCurrencyError):
        google_micros(10, "")
    with pytest.raises(ValueError, match="finite"):
        google_micros(float("nan"), "USD")
    with pytest.raises(ValueError, match="number"):
        meta_minor_units(True, "USD")
