"""``loopwise scores clv``: the JSON contract, the purchase conventions, and one clear line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from decision_engine.scores import bgnbd
from decision_engine.scores.bgnbd import BgNbdParams
from loopwise.cli import main

CUSTOMER_KEYS = {
    "customer", "frequency", "recency_days", "age_days", "p_alive", "expected_purchases", "expected_value",
}  # fmt: skip
END = "2024-06-30"


def _population(n: int = 400, seed: int = 1) -> pd.DataFrame:
    """Simulated BG/NBD customers as a transaction file (one row per purchase, ISO dates)."""
    g = np.random.default_rng(seed)
    params = BgNbdParams(r=0.8, alpha=30.0, a=0.7, b=2.5)
    rows = []
    start = pd.Timestamp("2024-01-01")
    for i in range(n):
        first = int(g.integers(0, 120))
        rate = g.gamma(params.r, 1 / params.alpha)
        p = g.beta(params.a, params.b)
        t = 0.0
        days = [first]
        while first + t < 240:
            t += g.exponential(1 / rate)
            days.append(first + int(t))
            if g.random() < p:
                break
        for day in days:
            if first + (day - first) < 240:
                rows.append(
                    (
                        f"c{i:04d}",
                        (start + pd.Timedelta(days=day)).date().isoformat(),
                        round(g.gamma(4, 10), 2),
                    )
                )
    return pd.DataFrame(rows, columns=["customer", "date", "value"])


def _run(capsys, path: Path, *extra: str) -> tuple[int, str, str]:
    code = main(
        ["scores", "clv", str(path), "--customer-col", "customer", "--date-col", "date",
         "--calibration-end", END, "--horizon-days", "90", *extra]
    )  # fmt: skip
    out, err = capsys.readouterr()
    return code, out, err


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "tx.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_json_contract_one_entry_per_customer_seen_by_the_calibration_end(tmp_path, capsys):
    frame = _population()
    code, out, err = _run(capsys, _write(tmp_path, frame), "--value-col", "value", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert {"model", "params", "excluded", "customers"} <= set(doc)
    assert set(doc["params"]) == {"r", "alpha", "a", "b", "p", "q", "gamma"}
    seen = set(frame.loc[frame["date"] <= END, "customer"])
    assert {c["customer"] for c in doc["customers"]} == seen
    assert len(doc["customers"]) == len(seen)
    after = int((frame["date"] > END).sum())
    assert doc["excluded"] == ({"after_calibration_end": after} if after else {})
    for customer in doc["customers"]:
        assert set(customer) == CUSTOMER_KEYS
        assert 0 <= customer["p_alive"] <= 1
        assert customer["expected_purchases"] >= 0 and customer["expected_value"] >= 0
        assert 0 <= customer["recency_days"] <= customer["age_days"]


def test_statistics_follow_the_conventions_and_match_the_library_functions(tmp_path, capsys):
    base = _population()
    extra = pd.DataFrame(
        [
            ("same-day", "2024-02-01", 10.0),
            ("same-day", "2024-02-01", 5.0),  # same day: one purchase, values add up
            ("same-day", "2024-02-11", 30.0),
            ("same-day", "2024-02-11T23:30:00-02:00", 30.0),  # 01:30 UTC on 12 Feb: a new day
            ("same-day", "2024-07-05", 99.0),  # after the calibration end: ignored
            ("one-purchase", "2024-03-01", 20.0),
        ],
        columns=["customer", "date", "value"],
    )
    code, out, err = _run(
        capsys, _write(tmp_path, pd.concat([base, extra])), "--value-col", "value", "--format", "json"
    )
    assert code == 0, err
    doc = json.loads(out)
    by_id = {c["customer"]: c for c in doc["customers"]}
    same = by_id["same-day"]
    assert (same["frequency"], same["recency_days"], same["age_days"]) == (2, 11, 150)
    single = by_id["one-purchase"]
    assert (single["frequency"], single["recency_days"], single["age_days"]) == (0, 0, 121)
    assert single["p_alive"] == 1.0
    assert "merged into same-day purchases" in err and "after the calibration end" in err
    params = BgNbdParams(**{k: doc["params"][k] for k in ("r", "alpha", "a", "b")})
    expected = bgnbd.expected_purchases(params, np.array([2]), np.array([11.0]), np.array([150.0]), 90.0)[0]
    assert same["expected_purchases"] == pytest.approx(expected, rel=1e-9)
    # Gamma-Gamma conditions on the mean of repeat days (30 and 30), not on the first day's 15
    p, q, gamma = doc["params"]["p"], doc["params"]["q"], doc["params"]["gamma"]
    assert same["expected_value"] == pytest.approx(
        expected * p * (gamma + 2 * 30.0) / (p * 2 + q - 1), rel=1e-9
    )


def test_without_values_expected_value_is_null(tmp_path, capsys):
    code, out, _ = _run(capsys, _write(tmp_path, _population()), "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["model"] == "bg_nbd" and set(doc["params"]) == {"r", "alpha", "a", "b"}
    assert all(c["expected_value"] is None for c in doc["customers"])


def test_bad_rows_are_counted_by_reason_never_dropped_silently(tmp_path, capsys):
    base = _population()
    bad = pd.DataFrame(
        [
            ("", "2024-02-01", "1"),
            ("x1", "", "1"),
            ("x2", "2024-02-01", ""),
            ("x3", "2024-02-01", "-5"),
            ("x4", "NA", "1"),
            ("x5", "2024-02-01", "null"),
        ],  # fmt: skip
        columns=["customer", "date", "value"],
    )
    code, out, err = _run(
        capsys, _write(tmp_path, pd.concat([base, bad])), "--value-col", "value", "--format", "json"
    )
    assert code == 0, err
    excluded = json.loads(out)["excluded"]
    assert excluded["missing_customer"] == 1
    assert excluded["missing_date"] == 2
    assert excluded["missing_value"] == 2
    assert excluded["negative_value"] == 1
    assert "negative value" in err


def test_table_output_names_the_model_and_the_top_customers(tmp_path, capsys):
    code, out, _ = _run(capsys, _write(tmp_path, _population()), "--value-col", "value")
    assert code == 0
    assert out.startswith("model bg_nbd+gamma_gamma") and "--format json lists every customer" in out


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("a", "2024-01-01"), ("a", "01/02/2024")], "'01/02/2024' on line 3 is not a date"),
        ([("a", "2024-01-01"), ("a", "20240102")], "mixes date formats"),
        ([("a", "2024-01-01"), ("a", "2024-02-30")], "'2024-02-30' on line 3 is not a valid date"),
        ([("a", "2024-01-01"), ("a", "2024-02-01")], "1 customer(s) with a purchase on or before"),
        ([(f"c{i}", "2024-01-01") for i in range(20)], "none of the 20 customers bought again"),
        ([("a", "2024-08-01")], "0 customer(s) with a purchase on or before"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, rows, message):
    path = _write(tmp_path, pd.DataFrame(rows, columns=["customer", "date"]))
    code, out, err = _run(capsys, path)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_arguments_are_one_clear_line(tmp_path, capsys):
    path = _write(tmp_path, _population(50))
    code, _, err = _run(capsys, path, "--value-col", "amount")
    assert code == 2 and "no column 'amount'" in err
    code = main(["scores", "clv", str(path), "--customer-col", "customer", "--date-col", "date",
                 "--calibration-end", "30/06/2024", "--horizon-days", "90"])  # fmt: skip
    assert code == 2 and "not a date (YYYY-MM-DD)" in capsys.readouterr().err
    code, _, err = _run(capsys, _write(tmp_path, pd.DataFrame({"customer": ["a"], "date": ["x"], "value": ["ten"]})),
                        "--value-col", "value")  # fmt: skip
    assert code == 2 and "is not a date" in err


def test_text_in_the_value_column_names_the_line(tmp_path, capsys):
    frame = _population(50).astype({"value": str})
    frame.loc[3, "value"] = "ten"
    code, _, err = _run(capsys, _write(tmp_path, frame), "--value-col", "value")
    assert code == 2 and "'ten' on line 5 is not a number" in err
