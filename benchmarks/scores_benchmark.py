"""Customer value (BG/NBD + Gamma-Gamma): holdout accuracy beside naive baselines, the published
CDNOW parameters, and the time to score a million customers.

- CDNOW (Fader, Hardie & Lee 2005; the 1/10 sample of 2,357 customers, and the full 23,570):
  fit up to 1997-09-30, predict repeat purchase days to 1998-06-30 (273 days). The fitted
  BG/NBD and Gamma-Gamma parameters are compared with the published ones (r 0.243, alpha 4.414
  weeks, a 0.793, b 2.426; p 6.25, q 3.74, gamma 15.44). The data is not in the repository:
  point ``--cdnow-dir`` (or ``LOOPWISE_CDNOW_DIR``) at a directory holding ``CDNOW_sample.txt``
  and ``CDNOW_master.txt`` (for example from the ``lifetimes`` package's ``datasets/``).
- Sandbox: the orders in a warehouse built by ``loopwise demo`` (``--warehouse``); the first two
  thirds of the order days calibrate, the last third is the holdout.
- Scale: a million simulated customers (about four million transactions) summarised, fitted and
  scored in-process.

Run from the repository root:
    python -m benchmarks.scores_benchmark --cdnow-dir DIR --warehouse data/warehouse.duckdb [--write]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from decision_engine.scores import TransactionColumns, score_customer_value, summarize_transactions
from decision_engine.scores.holdout import HoldoutReport, evaluate_holdout

RESULTS = Path(__file__).parent / "results" / "scores.md"
COLUMNS = TransactionColumns(customer="customer", date="date", value="value")
CDNOW_END = date(1997, 9, 30)
CDNOW_HOLDOUT_DAYS = 273
SANDBOX_NOTE = (
    "The sandbox buys at a constant per-contact rate and churns slowly (hazard about 1/500 per day), so i"
    "n 90 days there is almost no dropout to learn: BG/NBD degenerates to its no-dropout limit (a/(a+b) n"
    "ear 0) and the three predictors tie. Here the model is shown not to lose; CDNOW, where customers do "
    "drop out, is where it beats the baselines."
)
PUBLISHED = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426, "p": 6.25, "q": 3.74, "gamma": 15.44}


def read_cdnow(path: Path, sample: bool) -> pd.DataFrame:
    """CDNOW text files: (master id, [sample id,] yyyymmdd, CDs, dollars), whitespace separated."""
    names = ["master", "customer", "date", "cds", "value"] if sample else ["customer", "date", "cds", "value"]
    frame = pd.read_csv(path, sep=r"\s+", header=None, names=names, dtype=str, skiprows=0 if sample else 1)
    return frame[["customer", "date", "value"]]


def read_sandbox_orders(warehouse: Path) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "select contact_id as customer, strftime(ordered_at, '%Y-%m-%d') as date, order_value as value "
            "from intermediate.int_orders_attributed where contact_id is not null"
        ).df()
    finally:
        con.close()


def _holdout_table(name: str, report: HoldoutReport) -> list[str]:
    lines = [
        f"### {name}",
        "",
        f"{report.customers:,} customers seen by {report.calibration_end}; holdout {report.holdout_days} days; "
        f"actual repeat purchase days in the holdout: {report.actual_total:,}.",
        "",
        "| predictor | MAE per customer | predicted total | total error |",
        "|---|---|---|---|",
    ]
    for row in report.rows:
        error = row.predicted_total / max(report.actual_total, 1) - 1
        lines.append(
            f"| {row.name} | {row.mean_absolute_error:.4f} | {row.predicted_total:,.1f} | {error:+.1%} |"
        )
    params = ", ".join(f"{k} = {v:.4g}" for k, v in report.scores.params().items())
    lines += ["", f"Fitted (alpha in days): {params}.", ""]
    return lines


def cdnow_section(directory: Path) -> list[str]:
    lines = ["## CDNOW (real transactions)", ""]
    sample = read_cdnow(directory / "CDNOW_sample.txt", sample=True)
    report = evaluate_holdout(sample, COLUMNS, CDNOW_END, CDNOW_HOLDOUT_DAYS)
    fitted = report.scores.params()
    lines += [
        "Parameter check against the published fit on the 1/10 sample (BG/NBD: Fader, Hardie & Lee 2005, "
        "alpha converted from weeks to days; Gamma-Gamma: Fader, Hardie & Lee 2005, 'RFM and CLV'). The "
        "published values are rounded (3 decimals for BG/NBD, 2 for Gamma-Gamma).",
        "",
        "| parameter | published | ours | difference |",
        "|---|---|---|---|",
    ]
    for name, value in PUBLISHED.items():
        ours = fitted[name] / 7 if name == "alpha" else fitted[name]
        published = value / 7 if name == "alpha" else value
        label = "alpha (weeks)" if name == "alpha" else name
        lines.append(f"| {label} | {published:g} | {ours:.4f} | {ours - published:+.4f} |")
    lines += [
        "",
        f"BG/NBD log-likelihood (days; a constant -sum(x) log 7 away from the weeks version): "
        f"{report.scores.purchase_fit.log_likelihood:.2f}.",
        "",
    ]
    lines += _holdout_table("CDNOW 1/10 sample (2,357 customers)", report)
    master = directory / "CDNOW_master.txt"
    if master.exists():
        lines += _holdout_table("CDNOW full cohort (23,570 customers)", evaluate_holdout(
            read_cdnow(master, sample=False), COLUMNS, CDNOW_END, CDNOW_HOLDOUT_DAYS
        ))  # fmt: skip
    return lines


def sandbox_section(warehouse: Path) -> list[str]:
    orders = read_sandbox_orders(warehouse)
    days = pd.to_datetime(orders["date"])
    first, last = days.min().date(), days.max().date()
    span = (last - first).days
    end = first + timedelta(days=round(span * 2 / 3))
    report = evaluate_holdout(orders, COLUMNS, end, (last - end).days)
    return [
        "## Sandbox (orders in the warehouse built by `loopwise demo`, preset demo)",
        "",
        f"{len(orders):,} orders of {orders['customer'].nunique():,} contacts from {first} to {last} "
        "(`intermediate.int_orders_attributed`); first two thirds calibrate.",
        "",
        *_holdout_table("Sandbox", report),
        SANDBOX_NOTE,
        "",
    ]


def simulated_transactions(customers: int, seed: int) -> pd.DataFrame:
    """Roughly BG/NBD-like transactions: gamma rates, geometric lifetimes, over a year."""
    g = np.random.default_rng(seed)
    first = g.integers(0, 300, customers)
    rate = g.gamma(0.6, 1 / 40, customers)
    life = np.minimum(365 - first, g.exponential(200, customers))
    count = 1 + g.poisson(rate * life)
    who = np.repeat(np.arange(customers), count)
    offset = (g.random(len(who)) * np.repeat(life, count)).astype(np.int64)
    offset[np.r_[0, np.cumsum(count)[:-1]]] = 0  # each customer's first purchase on their first day
    day = np.datetime64("2024-01-01") + (np.repeat(first, count) + offset).astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "customer": pd.Series(who).map("c{:07d}".format),
            "date": pd.Series(day.astype(str)),
            "value": np.round(g.gamma(4.0, 12.0, len(who)), 2).astype(str),
        }
    )


def scale_section(customers: int) -> list[str]:
    frame = simulated_transactions(customers, seed=1)
    started = time.perf_counter()
    summary = summarize_transactions(frame, COLUMNS, date(2024, 12, 31))
    summarized = time.perf_counter()
    scores = score_customer_value(summary, 90)
    done = time.perf_counter()
    return [
        "## Scale",
        "",
        f"{customers:,} simulated customers, {len(frame):,} transactions (strings, as read from a CSV) "
        f"-> same-day merge and per-customer statistics {summarized - started:.1f} s; BG/NBD + Gamma-Gamma fit "
        f"and scoring {done - summarized:.1f} s; **total {done - started:.1f} s** (target: under 120 s). "
        f"Fitted on {len(np.unique(np.column_stack([summary.frequency, summary.recency_days, summary.age_days]), axis=0)):,} "
        f"distinct (frequency, recency, age) rows; {len(scores.expected_purchases):,} customers scored.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cdnow-dir", type=Path, default=os.environ.get("LOOPWISE_CDNOW_DIR"))
    parser.add_argument("--warehouse", type=Path, default=None)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    lines = [
        "# Scores benchmark: customer value",
        "",
        f"Machine: 2 cores, 24 GiB, Python {platform.python_version()}; shared with other work. "
        "`python -m benchmarks.scores_benchmark` (see the module docstring).",
        "",
        "Prediction: repeat purchase days per customer in the holdout. Baselines: the customer's past "
        "repeat rate times the horizon; the population's repeat rate times the horizon.",
        "",
    ]
    if args.cdnow_dir:
        lines += cdnow_section(Path(args.cdnow_dir))
    if args.warehouse:
        lines += sandbox_section(args.warehouse)
    if args.customers:
        lines += scale_section(args.customers)
    text = "\n".join(lines)
    print(text)
    if args.write:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
