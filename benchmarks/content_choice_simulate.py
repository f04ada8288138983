"""Content choice per recipient in ``loopwise simulate``: one row per seed, from the runs' JSON.

Run each seed first (two or three at a time on the 2-core machine):

    loopwise simulate --seed S --weeks 8 --subjects-every-days 2 --home DIR/home-S --format json > DIR/S.json

then ``python -m benchmarks.content_choice_simulate DIR [--write]``. Everything comes from the
``content`` and ``send_time`` objects of the JSON (``loopwise/simulate_content.py``,
``loopwise/simulate_send_time.py``) and, when the home was kept, the decision log's content rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

import duckdb

RESULTS = Path(__file__).parent / "results" / "content_choice_simulate.md"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def _interval(point: float | None, ci: list[float] | None) -> str:
    if point is None:
        return "-"
    return f"{_pct(point)} [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else _pct(point)


def decision_log_rows(home: Path) -> dict[str, Any]:
    """The content changes' verdicts and their predicted / realized click lifts (kept homes only)."""
    path = home / "warehouse.duckdb"
    if not path.exists():
        return {}
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select verdict, predicted_impact, realized_impact from results.decision_log "
            "where action_type = 'personalize_content' order by executed_at"
        ).fetchall()
    return {
        "verdicts": ", ".join(str(v) for v, _, _ in rows) or "-",
        "predicted": ", ".join(_pct(p) for _, p, _ in rows) or "-",
        "realized": ", ".join(_pct(r) for _, _, r in rows) or "-",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--commit", default="", help="the commit the runs were made at, for the record")
    args = parser.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores visible"
    lines = [
        "# Content choice per recipient in `loopwise simulate` (demo world, 8 weeks, default policy)",
        "",
        "`python -m benchmarks.content_choice_simulate DIR --write` after the runs its docstring names.",
        "Measured: the pipeline's own click lift of the personalized angle over the randomized control (an",
        "approved angle drawn uniformly), contact-clustered 95% interval, sends matured by the last run",
        "(`results.content_lift`). True / oracle: expected clicks by the sandbox's truth at the angles the",
        "personalized recipients were shown / at their true current angles, over the same recipients at a",
        "uniform draw. Recovery: contacts with 3+ clicks whose preferred angle is the planted current one",
        "(chance 25 %). Predicted / realized: each executed `personalize_content` action's click lift in",
        "`results.decision_log`.",
        "",
        f"Runs at commit {args.commit or '(not given)'}; machine: {machine}; seeds run two or three side by side,",
        "each run's wall time in the last column.",
        "",
        "| seed | campaigns | personalized / control recipients | measured click lift [95% CI] | true lift "
        "| oracle lift | share captured | recovery (3+ clicks) | decision log: verdicts | predicted | realized "
        "| send time: measured opens lift [95% CI] | send-time true lift | wall time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(args.dir.glob("*.json")):
        text = path.read_text()
        if not text.strip():
            continue
        result = json.loads(text)
        content, send_time = result.get("content") or {}, result.get("send_time") or {}
        arms = content.get("recipients_by_arm") or {}
        rec = content.get("recovery") or {}
        log = decision_log_rows(args.dir / f"home-{result['seed']}")
        recovered = rec.get("preferred_is_true")
        lines.append(
            f"| {result['seed']} | {content.get('campaigns', 0)} "
            f"| {arms.get('personalized', 0):,} / {arms.get('control', 0):,} "
            f"| {_interval(content.get('measured_lift'), content.get('measured_ci95'))} "
            f"| {_pct(content.get('true_lift'))} | {_pct(content.get('oracle_lift'))} "
            f"| {content.get('oracle_share_captured') or '-'} "
            f"| {'-' if recovered is None else f'{recovered:.1%}'} of {rec.get('contacts', 0):,} "
            f"| {log.get('verdicts', '-')} | {log.get('predicted', '-')} | {log.get('realized', '-')} "
            f"| {_interval(send_time.get('measured_lift'), send_time.get('measured_ci95'))} "
            f"| {_pct(send_time.get('true_lift'))} | {result.get('elapsed_s', 0) / 60:.0f} min |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
