"""``loopwise actions list | show ID | approve ID | reject ID``: the human side of the action queue.

Opens the warehouse read-write only for the moment it needs, so a running pipeline is not
kept waiting. Lifecycle rules live in ``decision_engine.queue``; this module only parses,
calls and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from loopwise.checks import dump_json
from loopwise.errors import OperatorError, UsageError

STATUSES = (
    "proposed", "auto_approved", "pending_approval", "approved", "rejected", "expired",
    "executed", "failed", "verified", "superseded", "rolled_back",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("actions", help="review, approve or reject the changes Loopwise proposes")
    commands = parser.add_subparsers(dest="actions_command", metavar="COMMAND")

    listing = commands.add_parser("list", help="the action queue, oldest first")
    listing.add_argument("--status", choices=STATUSES, default=None, help="only actions in this status")
    listing.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    listing.set_defaults(func=run_list)

    show = commands.add_parser("show", help="one action: its payload, policy verdict, events and write log")
    show.add_argument("action_id", metavar="ID")
    show.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    show.set_defaults(func=run_show)

    approve = commands.add_parser("approve", help="approve a waiting action (for its current payload)")
    approve.add_argument("action_id", metavar="ID")
    approve.add_argument("--by", required=True, metavar="NAME", help="who approves (recorded)")
    approve.add_argument("--reason", default=None, metavar="TEXT", help="why (recorded)")
    approve.set_defaults(func=run_approve)

    reject = commands.add_parser("reject", help="refuse an action")
    reject.add_argument("action_id", metavar="ID")
    reject.add_argument("--by", required=True, metavar="NAME", help="who rejects (recorded)")
    reject.add_argument("--reason", required=True, metavar="TEXT", help="why (required)")
    reject.set_defaults(func=run_reject)

    for command in (listing, show, approve, reject):
        command.add_argument(
            "--home", default=None, help="data directory (default: $LOOPWISE_HOME or ./data)"
        )
    parser.set_defaults(func=lambda args: _print_help(parser))


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


@contextmanager
def _warehouse(home: str | None) -> Iterator[Any]:
    import duckdb

    from core.settings import load_paths

    path = load_paths(home).warehouse
    if not path.is_file():
        raise OperatorError(f"no warehouse at {path}: run the pipeline (loopwise demo) first, or pass --home")
    con = duckdb.connect(str(path))
    try:
        yield con
    finally:
        con.close()


@contextmanager
def _queue_errors() -> Iterator[None]:
    from decision_engine.queue import QueueError

    try:
        yield
    except QueueError as error:
        raise UsageError(str(error)) from None


def _now(home: str | None = None) -> datetime:
    """The queue's clock: the sandbox world's when the sources are the sandbox (see loop_clock)."""
    from core.settings import load_paths
    from orchestration.resources import loop_clock

    return loop_clock(load_paths(home))


def run_list(args: argparse.Namespace) -> int:
    from decision_engine.queue import list_actions

    with _warehouse(args.home) as con:
        records = list_actions(con, args.status)
    if args.format == "json":
        dump_json({"actions": [_jsonable(record) for record in records]}, sys.stdout)
    else:
        print(_table(records))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from decision_engine.queue import show_action

    with _warehouse(args.home) as con, _queue_errors():
        shown = show_action(con, args.action_id)
    if args.format == "json":
        dump_json(_jsonable(shown), sys.stdout)
    else:
        print(_describe(shown))
    return 0


def run_approve(args: argparse.Namespace) -> int:
    from decision_engine.queue import approve

    with _warehouse(args.home) as con, _queue_errors():
        record = approve(con, args.action_id, args.by, args.reason, _now(args.home))
    print(f"{record['action_id']}: approved by {record['approved_by']}")
    return 0


def run_reject(args: argparse.Namespace) -> int:
    from decision_engine.queue import reject

    with _warehouse(args.home) as con, _queue_errors():
        record = reject(con, args.action_id, args.by, args.reason, _now(args.home))
    print(f"{record['action_id']}: rejected by {record['status_by']}")
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _change(record: dict[str, Any]) -> str:
    payload = json.loads(record["payload"] or "{}")
    if "daily_budget" in payload:
        before = payload.get("current_daily_budget")
        start = f"{before:g} -> " if isinstance(before, (int, float)) else ""
        return f"budget {start}{payload['daily_budget']:g} {payload.get('currency', '')}".strip()
    return ", ".join(f"{key}={value}" for key, value in sorted(payload.items()))


def _age(record: dict[str, Any]) -> str:
    stamp = record["analysis_timestamp"]
    if stamp is None:
        return ""
    hours = (datetime.now(UTC) - stamp).total_seconds() / 3600  # analyses stamp wall-clock time
    return f"{hours:.0f}h" if hours < 48 else f"{hours / 24:.0f}d"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _table(records: list[dict[str, Any]]) -> str:
    if not records:
        return "No actions."
    rows = [("ID", "STATUS", "PLATFORM", "TARGET", "CHANGE", "REASON", "AGE")]
    rows += [
        (
            record["action_id"],
            record["status"],
            record["platform"],
            _clip(record["target_id"], 24),
            _clip(_change(record), 36),
            _clip(record["status_reason"] or record["reason"] or "", 60),
            _age(record),
        )
        for record in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in rows)  # fmt: skip


def _describe(shown: dict[str, Any]) -> str:
    record = shown["action"]
    reasons = json.loads(record["policy_reasons"] or "[]")
    lines = [
        f"Action {record['action_id']}: {record['action_type']} on {record['platform']} {record['target_id']}",
        f"  status:   {record['status']} (by {record['status_by']}: {record['status_reason']})",
        f"  change:   {_change(record)}",
        f"  proposed: {record['source']}, data date {record['analysis_date']}: {record['reason']}",
        f"  verdict:  {record['policy_verdict'] or 'not judged yet'}"
        + (f" ({record['policy_reason_code']})" if record["policy_reason_code"] else ""),
        *[f"    - {reason}" for reason in reasons],
        "Events:",
        *[
            f"  {event['at']:%Y-%m-%d %H:%M} {event['from_status'] or '-'} -> {event['to_status']} "
            f"by {event['actor']}: {event['reason']}"
            for event in shown["events"]
        ],
        "Write log:" if shown["log"] else "Write log: none",
        *[
            f"  {entry['at']:%Y-%m-%d %H:%M} attempt {entry['attempt']} {entry['mode']} {entry['status']}: "
            f"{entry['field']} {entry['value_before']} -> {entry['value_requested']}"
            + (f" ({entry['error']})" if entry["error"] else "")
            for entry in shown["log"]
        ],
    ]
    return "\n".join(lines)
