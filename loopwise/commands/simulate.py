"""``loopwise simulate``: run the real loop on a sandbox world for weeks and score it against the truth."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from loopwise.errors import OperatorError, UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run the daily pipeline on a fresh sandbox world for weeks; compare with a static world and an oracle",
        description=(
            "Builds a fresh sandbox world, runs the real daily pipeline against it once every --every-days "
            "simulated days for --weeks weeks (executing what the policy allows), and compares its revenue "
            "with the same world left static and with an oracle that knows the truth, under the same policy "
            "limits. Also checks every vendor write against the policy from the sandbox's own write log."
        ),
    )
    parser.add_argument("--seed", type=int, default=42, help="world seed (default 42)")
    parser.add_argument("--weeks", type=int, default=8, help="weeks of world time (default 8)")
    parser.add_argument(
        "--preset", default="demo", help="world preset: tiny, demo, medium or large (default demo)"
    )
    parser.add_argument(
        "--policy", default=None, help="policy file (default: $LOOPWISE_POLICY or policy.yaml)"
    )
    parser.add_argument(
        "--approve-all",
        action="store_true",
        help="approve every action waiting for a human after each run (approver: simulate)",
    )
    parser.add_argument(
        "--home", default=None, help="keep Loopwise's data here (default: a temp dir, removed)"
    )
    parser.add_argument(
        "--every-days",
        type=int,
        default=7,
        help="run the pipeline once per N simulated days (default 7; 1 is the production cadence)",
    )
    parser.add_argument(
        "--subjects-every-days",
        type=int,
        default=1,
        help=(
            "between pipeline runs, run the test_subjects_refresh job (hourly in production) once per N "
            "simulated days, so campaigns scheduled after a run join the running tests (default 1; 0: never)"
        ),
    )
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.set_defaults(func=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    from core.settings import policy_path
    from decision_engine.policy import PolicyError, load_policy
    from loopwise.simulate import SimulationSettings, check_settings, simulate

    try:
        policy_file = Path(args.policy) if args.policy else None
        policy = load_policy(policy_file)
    except PolicyError as error:
        raise OperatorError(str(error)) from None

    settings = SimulationSettings(
        seed=args.seed,
        weeks=args.weeks,
        policy=policy,
        policy_file=(policy_file or policy_path()).resolve(),
        preset=args.preset,
        every_days=args.every_days,
        subjects_every_days=args.subjects_every_days,
        approve_all=args.approve_all,
    )
    try:
        check_settings(settings)
    except ValueError as error:
        raise UsageError(str(error)) from None
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="loopwise_simulate_"))
    try:
        result = simulate(settings, home)
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result, allow_nan=False) if args.format == "json" else summary_text(result))
    return 0


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _sweeps(result: dict[str, Any]) -> str:
    every = result.get("subjects_every_days") or 0
    return f" and the test-subjects job every {every} day(s) between runs" if every else ""


def summary_text(result: dict[str, Any]) -> str:
    """The JSON result as a short readable summary."""
    capture = result["lift_capture"]
    actions = ", ".join(f"{name} {count}" for name, count in result["actions"].items() if count)
    lines = [
        f"Simulated {result['weeks']} week(s) of seed {result['seed']}, a pipeline run every "
        f"{result['every_days']} day(s)" + _sweeps(result) + f", in {result['elapsed_s']:.0f}s.",
        f"Revenue: static {_money(result['revenue_static'])}, Loopwise {_money(result['revenue_loopwise'])}, "
        f"oracle {_money(result['revenue_oracle'])}.",
        "Lift captured: "
        + (
            f"{capture:.0%} of the oracle's gain."
            if capture is not None
            else "n/a (the oracle gained nothing)."
        ),
        f"Actions: {actions or 'none'}.",
        f"Vendor writes: {len(result['vendor_writes'])}; outside the policy: {result['policy_violations']}.",
        f"Rollouts shipped: {result['ships']} ({result['wrong_ships']} of a truly worse variant).",
        f"Incidents planted in the window: {result['incidents_planted']}, paged: {result['incidents_paged']}; "
        f"false pages: {result['false_pages']}.",
    ]
    return "\n".join(lines)
