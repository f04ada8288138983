"""``loopwise budget recommend FILE.csv``: reallocate daily budget between ads (docs/architecture.md section 5)."""

from __future__ import annotations

import argparse
import json
import sys

from loopwise.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("budget", help="budget reallocation between approved ads")
    commands = parser.add_subparsers(dest="budget_command", metavar="COMMAND")
    recommend = commands.add_parser(
        "recommend",
        help="recommend each ad's daily budget from daily ad history",
        description=(
            "Fit a diminishing-returns curve per ad and recommend daily budgets. FILE.csv has one row per ad per "
            "day: date, platform, campaign_id, ad_id, spend, impressions, clicks, conversions, revenue. "
            "An ad's current daily spend is its mean over the file's last 7 days."
        ),
    )
    recommend.add_argument("file", metavar="FILE.csv", help="daily ad history (one row per ad per day)")
    recommend.add_argument(
        "--total-daily-budget",
        type=float,
        default=None,
        metavar="B",
        help="total daily budget to allocate (default: the sum of current daily spend)",
    )
    recommend.add_argument(
        "--max-change",
        type=float,
        default=0.3,
        metavar="FRACTION",
        help="largest move per existing ad relative to its current daily spend (default 0.3 = 30%%)",
    )
    recommend.add_argument(
        "--format", choices=("table", "json"), default="table", help="output format (default: table)"
    )
    recommend.set_defaults(func=run_recommend)
    parser.set_defaults(func=lambda args: _print_help(parser))


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_recommend(args: argparse.Namespace) -> int:
    import pandas as pd

    from decision_engine.budget import (
        BudgetInputError,
        BudgetSettings,
        format_table,
        recommend_budgets,
        to_json_dict,
    )

    try:
        frame = pd.read_csv(args.file)
    except FileNotFoundError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, IsADirectoryError) as error:
        raise UsageError(f"cannot read {args.file} as CSV: {error}") from error
    try:
        settings = BudgetSettings(total_daily_budget=args.total_daily_budget, max_change=args.max_change)
        result = recommend_budgets(frame, settings)
    except BudgetInputError as error:
        raise UsageError(str(error)) from error
    if args.format == "json":
        json.dump(to_json_dict(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for issue in result.issues:
            print(f"warning: {issue}", file=sys.stderr)
        print(format_table(result))
    return 0
