"""``loopwise budget recommend FILE.csv``: reallocate daily budget between ads (docs/architecture.md section 5)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from loopwise.checks import MAX_ABS_VALUE, MAX_DAILY_MONEY, MIN_MONEY, check_numbers, dump_json
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
            "An ad's current daily spend is its mean over the file's last 7 days. Dates with a UTC offset "
            "are converted to UTC (a file may mix offsets); naive dates are taken as UTC. Numbers must be "
            "finite; spend and revenue 0 or between 1e-6 and 1e12 per ad per day, counts at most 1e15 (larger values "
            "are an error naming the column and line). With an adset_id (Meta) or campaign_budget_id (Google) "
            "column, budgets are recommended per ad set or campaign budget, the units a platform lets you set; "
            "an entity's current budget is its daily_budget column on its latest day, else the sum of its ads' "
            "current daily spend."
        ),
    )
    recommend.add_argument("file", metavar="FILE.csv", help="daily ad history (one row per ad per day)")
    recommend.add_argument(
        "--total-daily-budget",
        type=float,
        default=None,
        metavar="B",
        help="total daily budget to allocate, at most 1e12 (default: the sum of current daily spend)",
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
        budgets_from_export,
        entity_columns_from_export,
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
    _check_values(frame)
    if args.total_daily_budget is not None and abs(args.total_daily_budget) > MAX_DAILY_MONEY:
        raise UsageError(
            f"--total-daily-budget {args.total_daily_budget:g} is beyond the accepted {MAX_DAILY_MONEY:.0e} per day"
        )
    try:
        settings = BudgetSettings(total_daily_budget=args.total_daily_budget, max_change=args.max_change)
        frame = entity_columns_from_export(frame)
        result = recommend_budgets(frame, settings, budget_entities=budgets_from_export(frame))
    except BudgetInputError as error:
        raise UsageError(str(error)) from error
    if args.format == "json":
        dump_json(to_json_dict(result), sys.stdout)
    else:
        for issue in result.issues:
            print(f"warning: {issue}", file=sys.stderr)
        print(format_table(result))
    return 0


MONEY_COLUMNS = ("spend", "revenue", "conversions_value", "daily_budget")
COUNT_COLUMNS = ("impressions", "clicks", "conversions")


def _check_values(frame: Any) -> None:
    """Infinite numbers and absurd magnitudes are errors (missing or non-numeric cells are the engine's to report)."""
    import pandas as pd

    by_name = {str(column).strip().lower(): column for column in frame.columns}
    for name, limit, what, smallest in [
        *((n, MAX_DAILY_MONEY, " per ad per day: not a plausible amount", MIN_MONEY) for n in MONEY_COLUMNS),
        *((n, MAX_ABS_VALUE, "", 0.0) for n in COUNT_COLUMNS),
    ]:
        if name in by_name:
            values = pd.to_numeric(frame[by_name[name]], errors="coerce").to_numpy(dtype=float)
            check_numbers(values, str(by_name[name]), limit=limit, what=what, smallest=smallest)
