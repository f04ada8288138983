"""Send time per contact in ``loopwise simulate``: one row per seed, from the runs' JSON and kept homes.

Run each seed first (two at a time fit the 2-core machine):

    loopwise simulate --seed S --weeks 8 --subjects-every-days 2 --home DIR/home-S --format json > DIR/S.json

then ``python -m benchmarks.send_time_simulate DIR [--write]``. A home whose pipeline predates the
``results/send_time_lift`` asset gets the lift computed now, on a copy of its warehouse, by the
same function the asset runs (``run_send_time_lift``); the true and oracle lifts and the recovery
come from the simulate JSON (``loopwise/simulate_send_time.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from decision_engine.personalization.send_time_lift import run_send_time_lift

RESULTS = Path(__file__).parent / "results" / "send_time_simulate.md"


def measured(home: Path) -> dict:
    """The newest personalized-vs-control lift in human opens (and clicks) of a kept home."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "warehouse.duckdb"
        shutil.copy(home / "warehouse.duckdb", path)
        con = duckdb.connect(str(path))
        run_send_time_lift(con, datetime.now(UTC))
        rows = con.execute(
            "select metric, arm, sends, campaigns, rate, control_rate, relative_lift, ci_lower, ci_upper "
            "from results.send_time_lift where analysis_date = (select max(analysis_date) from results.send_time_lift)"
        ).fetchall()
        con.close()
    return {(metric, arm): row for metric, arm, *row in rows}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    lines = [
        "# Send time per contact in `loopwise simulate` (demo world, 8 weeks, default policy)",
        "",
        "`python -m benchmarks.send_time_simulate DIR --write` after the runs its docstring names.",
        "Measured: the pipeline's own lift of personalized over the randomized control (the account's",
        "best single local hour), contact-clustered 95% interval, sends matured by the last pipeline run.",
        "True / oracle: expected human opens by the sandbox's truth at the personalized recipients' hours /",
        "at their true preferred hours, over the same recipients at the control's hour. Recovery: contacts",
        "with 10+ human opens whose chosen hour is within 2 h of the planted (post-drift) hour.",
        "",
        "| seed | campaigns | personalized / control / explore recipients | measured lift, human opens [95% CI] "
        "| measured lift, clicks [95% CI] | true lift | oracle lift | share captured | recovery (10+ opens) "
        "| account hour within 2 h | lift capture (revenue) | policy violations |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(args.dir.glob("*.json")):
        result = json.loads(path.read_text())
        st = result.get("send_time") or {}
        home = args.dir / f"home-{result['seed']}"
        lifts = measured(home) if home.exists() else {}
        opens = lifts.get(("human_open_rate", "personalized"))
        clicks = lifts.get(("click_rate", "personalized"))

        def cell(row: tuple | None) -> str:
            return "-" if row is None else f"{_pct(row[4])} [{_pct(row[5])}, {_pct(row[6])}]"

        arms = st.get("recipients_by_arm") or {}
        rec = st.get("recovery") or {}
        lines.append(
            f"| {result['seed']} | {st.get('campaigns')} | {arms.get('personalized', 0):,} / {arms.get('control', 0):,} / "
            f"{arms.get('explore', 0):,} | {cell(opens)} | {cell(clicks)} | {_pct(st.get('true_lift'))} | "
            f"{_pct(st.get('oracle_lift'))} | {st.get('oracle_share_captured')} | {rec.get('within_2h')} "
            f"({rec.get('contacts')}) | {rec.get('account_hour_within_2h')} | {result.get('lift_capture')} | "
            f"{result.get('policy_violations')} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
