"""Send time against the sandbox's planted preferred hour: share of contacts with >= 10 human
opens whose chosen local hour is within 2 hours (circular) of the truth.

The truth at the analysis date is ``pref_hour_late`` (the preference after the drift point, which
the recency weighting should follow); the share against the early preference is reported beside
it. Local hours in the sandbox use fixed UTC offsets; the model converts with the real IANA
rules, so US and European contacts are one hour off after daylight saving starts (within the
2-hour tolerance, but it costs some accuracy).

Run from the repository root after ``loopwise demo --home HOME`` (the warehouse is copied):
    python -m benchmarks.send_time_sandbox_eval --home HOME [--write]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from decision_engine.personalization.hourly_engagement import load_hourly_engagement
from decision_engine.personalization.send_time import SendTimeSettings, run_send_time
from loopwise.simulate_send_time import circular_distance
from sandbox import open_sandbox_world

RESULTS = Path(__file__).parent / "results" / "send_time_sandbox_eval.md"


def truth_frame(home: Path) -> pd.DataFrame:
    world = open_sandbox_world(home / "sandbox")
    c = world.contacts
    ids = [hashlib.sha256(c.email(i).encode()).hexdigest() for i in range(c.n)]
    return pd.DataFrame(
        {
            "contact_id": ids,
            "pref_hour": c.pref_hour,
            "pref_hour_late": c.pref_hour_late,
            "open_base": c.open_base,
        }
    )


def evaluate(home: Path, settings: SendTimeSettings) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        shutil.copy(home / "warehouse.duckdb", path)
        con = duckdb.connect(str(path))
        started = time.perf_counter()
        run = run_send_time(con, settings, datetime.now(UTC))
        seconds = time.perf_counter() - started
        profiles = con.execute(
            "select contact_id, chosen_local_hour, source, n_opens, n_sends from results.send_time_profiles"
        ).df()
        as_of = datetime.combine(run.analysis_date + timedelta(days=1), datetime.min.time())
        hourly = load_hourly_engagement(con, as_of, settings)
        con.close()
    # was the contact ever sent an email within an hour of its (late) preferred hour?
    sent_hours = pd.DataFrame({"contact_id": hourly.contact_id, "sent": list(hourly.exposure > 0)})
    merged = profiles.merge(truth_frame(home), on="contact_id", how="inner").merge(
        sent_hours, on="contact_id"
    )
    pref = np.round(merged.pref_hour_late.to_numpy()).astype(int) % 24
    merged["seen"] = [
        bool(sent[[(p - 1) % 24, p, (p + 1) % 24]].any()) for sent, p in zip(merged.sent, pref, strict=True)
    ]
    late = circular_distance(merged.chosen_local_hour, merged.pref_hour_late) <= 2
    early = circular_distance(merged.chosen_local_hour, merged.pref_hour) <= 2
    account = circular_distance(run.params["account_best_hour"], merged.pref_hour_late) <= 2
    rows = {}
    for k in (0, 5, 10, 15):
        m = merged.n_opens >= k
        rows[k] = dict(
            contacts=int(m.sum()),
            within_2h_late=float(late[m].mean()),
            within_2h_early=float(early[m].mean()),
            account_hour_within_2h=float(account[m].mean()),
            seen_share=float(merged.seen[m].mean()),
            within_2h_seen=float(late[m & merged.seen].mean()),
            within_2h_unseen=float(late[m & ~merged.seen].mean()),
        )
    return dict(seconds=seconds, matched=len(merged), profiled=run.rows, rows=rows, run=run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    lines = [
        "# Send time against the sandbox truth (demo world: 5,000 contacts, 90 days, drift at day 45)",
        "",
        "`python -m benchmarks.send_time_sandbox_eval --home HOME --write` after `loopwise demo --home HOME`.",
        "Chosen local hour within 2 hours (circular) of the planted preference; `late` = after the drift",
        "point (the target), `early` = before it; `account hour` = everyone at the account's best hour.",
        "",
        "`sent near pref` = share of contacts ever sent an email within an hour of their (late) preferred",
        "local hour; the last two columns split `within 2 h (late)` by it.",
        "",
        "| half-life (days) | human opens >= | contacts | within 2 h (late) | within 2 h (early) | account hour within 2 h "
        "| sent near pref | within 2 h, sent near pref | within 2 h, never sent near pref | model seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for half_life in (15.0, 30.0, 60.0):
        result = evaluate(args.home, replace(SendTimeSettings(), half_life_days=half_life))
        for k, row in result["rows"].items():
            lines.append(
                f"| {half_life:g} | {k} | {row['contacts']} | {row['within_2h_late']:.1%} | "
                f"{row['within_2h_early']:.1%} | {row['account_hour_within_2h']:.1%} | {row['seen_share']:.1%} | "
                f"{row['within_2h_seen']:.1%} | {row['within_2h_unseen']:.1%} | {result['seconds']:.1f} |"
            )
        print(half_life, result["rows"][10], result["run"].params["curve_around_peak"][:6])
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
