"""Issue 12's learning loop in ``loopwise simulate``: tests launched and concluded, ships against the
sandbox's truth, and the decision log's calibration, one row per seed, from the runs' JSON.

Run each seed first (two or three at a time on the 2-core machine):

    loopwise simulate --seed S --weeks 8 --subjects-every-days 2 --home DIR/home-S --format json > DIR/S.json

then ``python -m benchmarks.loop_learning_simulate DIR [--write] [--commit C] [--name N]``
(results in ``benchmarks/results/N.md`` and ``.json``). With ``--rescore``,
the decision log of each kept home is first rebuilt by this checkout's code, as its last run would
(``write_decision_log`` at the run's last analysis time, on a copy of the warehouse), for runs made
before a change to the decision log; the row then says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import duckdb

from decision_engine.decision_log import calibration, write_decision_log

RESULTS = Path(__file__).parent / "results"
KINDS = ("set_daily_budget", "schedule_send_times", "personalize_content", "rollout_winner")


def decision_log_by_kind(warehouse: Path, rescore: bool) -> dict[str, Any]:
    """Per action type, changes judged and inside their predictive 90% interval, and the
    calibration counts; with ``rescore``, after rebuilding the log on a copy by this code."""
    if not warehouse.exists():
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        path = warehouse
        if rescore:
            path = Path(tmp) / "warehouse.duckdb"
            shutil.copy(warehouse, path)
        with duckdb.connect(str(path), read_only=not rescore) as con:
            if rescore:
                (last,) = con.execute("select max(analysis_timestamp) from results.decision_log").fetchone()
                write_decision_log(con, last)
            rows = con.execute(
                "select action_type, count(*), count(*) filter (where inside_predicted_interval) "
                "from results.decision_log where inside_predicted_interval is not null group by action_type"
            ).fetchall()
            counts = calibration(con)
    return {"by_kind": {kind: (int(n), int(inside)) for kind, n, inside in rows}, **counts}


def tests_reach(warehouse: Path) -> tuple[int, int] | None:
    """(campaigns whose subject a test wrote, of which a marketer's A/B tests) in the run: each
    executed ``apply_test_subject``'s campaign (a message target means an A/B test's arm)."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as con:
        reached, ab = con.execute(
            "select count(distinct coalesce(payload->>'campaign_id', target_id)), "
            "count(distinct payload->>'campaign_id') filter (where target_id <> payload->>'campaign_id') "
            "from results.actions where action_type = 'apply_test_subject' and status in ('executed', 'verified')"
        ).fetchone()
    return int(reached), int(ab)


def tests_from_home(home: Path, result: dict[str, Any]) -> dict[str, Any]:
    """``tests`` and ``winner_in_library`` for a run whose JSON predates them, from its kept home."""
    from loopwise.simulate import loopwise_test_outcomes
    from sandbox import STATE_FILE, World

    state = home / "sandbox" / STATE_FILE
    if not state.exists():
        return {}
    library = [entry["subject_template"] for entry in result["policy"]["experiments"]["library"]]
    return loopwise_test_outcomes(World.load_state(state), home / "warehouse.duckdb", library)


def _kinds_text(by_kind: dict[str, tuple[int, int]]) -> str:
    names = {"set_daily_budget": "budget", "schedule_send_times": "send time",
             "personalize_content": "content", "rollout_winner": "rollout"}  # fmt: skip
    parts = [f"{names.get(k, k)} {inside}/{n}" for k, (n, inside) in sorted(by_kind.items())]
    return ", ".join(parts) or "-"


def _tests_text(tests: list[dict[str, Any]]) -> str:
    def one(test: dict[str, Any]) -> str:
        style = str(test["test_id"]).rsplit("-", 1)[0].removeprefix("lw-")
        mark = " (shipped)" if test.get("shipped") else ""
        return f"{style} {test['true_click_effect']:.2f}: {test.get('decision') or '-'}{mark}"

    return "; ".join(one(t) for t in tests) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--rescore", action="store_true", help="rebuild each kept home's decision log first")
    parser.add_argument("--commit", default="", help="the commit the runs were made at, for the record")
    parser.add_argument("--name", default="loop_learning_simulate", help="the results files' name")
    args = parser.parse_args()
    machine = f"{platform.machine()}, {os.cpu_count()} cores visible"
    lines = [
        "# The learning loop in `loopwise simulate` (issue 12; demo world, 8 weeks, default policy)",
        "",
        "`python -m benchmarks.loop_learning_simulate DIR --write` after the runs its docstring names.",
        "Tests: each Loopwise test launched, its style's true effect on clicks per send (the sandbox's",
        "truth; above 1 helps) and its newest decision. Calibration: the share of matured changes in",
        "`results.decision_log` whose realized impact landed inside the predicted 90% interval widened by",
        "the measurement's noise (inconclusive measurements included), per kind inside / judged.",
        "",
        f"Runs at commit {args.commit or '(not given)'}{' (decision log rebuilt by this code)' if args.rescore else ''};"
        f" machine: {machine}.",
        "",
        "| seed | tests: style true effect: decision | winner in library | launched | ships | wrong ships "
        "| campaigns reached (A/B) | judged | inside | calibration | by kind | conclusive "
        "| realized / predicted | wall time |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    slim = {}
    for path in sorted(args.dir.glob("*.json")):
        text = path.read_text()
        if not text.strip():
            continue
        result = json.loads(text)
        seed = result["seed"]
        if "tests" not in result:
            result |= tests_from_home(args.dir / f"home-{seed}", result)
        log = decision_log_by_kind(args.dir / f"home-{seed}" / "warehouse.duckdb", args.rescore)
        judged, inside = log.get("judged"), log.get("inside_90")
        share = log.get("calibration") if log else result.get("decision_log_calibration")
        winner = result.get("winner_in_library")
        reach = tests_reach(args.dir / f"home-{seed}" / "warehouse.duckdb")
        lines.append(
            f"| {seed} | {_tests_text(result.get('tests') or [])} | {'-' if winner is None else winner} "
            f"| {result.get('experiments_launched')} | {result.get('ships')} | {result.get('wrong_ships')} "
            f"| {'-' if reach is None else f'{reach[0]} ({reach[1]})'} "
            f"| {judged if judged is not None else '-'} | {inside if inside is not None else '-'} "
            f"| {'-' if share is None else f'{share:.3f}'} | {_kinds_text(log.get('by_kind') or {})} "
            f"| {log.get('conclusive', '-')} | {log.get('realized_vs_predicted', result.get('realized_vs_predicted'))} "
            f"| {result.get('elapsed_s', 0) / 60:.0f} min |"
        )
        slim[str(seed)] = (
            {
                key: result.get(key)
                for key in (
                    "seed",
                    "weeks",
                    "experiments_launched",
                    "ships",
                    "wrong_ships",
                    "tests",
                    "winner_in_library",
                    "decision_log_calibration",
                    "realized_vs_predicted",
                    "decision_log",
                    "lift_capture",
                    "policy_violations",
                    "elapsed_s",
                )  # fmt: skip
            }
            | {"campaigns_reached": reach}
            | ({"rescored": log} if args.rescore else {})
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        (RESULTS / f"{args.name}.md").write_text(text)
        (RESULTS / f"{args.name}.json").write_text(json.dumps(slim, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
