"""Start ``loopwise demo`` in a child process, find its phases, kill it, inspect what is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from core.processes import process_command
from loopwise.summary import table_row_counts

ROOT = Path(__file__).resolve().parents[2]
STAGING_GLOB = ".loopwise_bi.duckdb.*.tmp*"


def chaos_requested(config) -> bool:
    """The full suite was asked for: ``-m chaos`` (``make test-chaos``) or ``LOOPWISE_CHAOS=1``."""
    return "chaos" in (config.getoption("markexpr") or "") or os.environ.get("LOOPWISE_CHAOS") == "1"


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPWISE_", "DAGSTER_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def demo_command(home: Path) -> list[str]:
    return [sys.executable, "-m", "loopwise.cli", "demo", "--home", str(home), "--preset", "tiny"]


def start_demo(home: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        demo_command(home), stdout=log.open("w"), stderr=subprocess.STDOUT, env=child_env(), cwd=ROOT
    )


def run_demo(home: Path, timeout_s: float) -> subprocess.CompletedProcess:
    """A plain run to the end; a hang fails with ``TimeoutExpired`` instead of hanging CI."""
    return subprocess.run(
        demo_command(home), capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=timeout_s
    )


def children(pid: int) -> list[int]:
    """Live direct children of ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid) and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def dbt_children(pid: int) -> list[int]:
    return [
        child
        for child in children(pid)
        if "dbt" in process_command(child) and " build" in process_command(child)
    ]


def wait_until(condition: Callable[[], object], timeout_s: float, poll_s: float, what: str, proc=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {what}")
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def log_has(log: Path, text: str) -> Callable[[], bool]:
    return lambda: log.exists() and text in log.read_text(errors="replace")


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def staging_files(home: Path) -> list[Path]:
    return sorted((home / "bi").glob(STAGING_GLOB)) if (home / "bi").exists() else []


# The loop's audit trail: a run killed after its vendor writes leaves a world that has changed,
# so a rerun of the same day legitimately records more (a proposal whose payload moved with the
# new budgets goes back for a verdict). What must hold instead is `one_write_per_action`.
LOOP_TABLES = ("results.actions", "results.action_events", "results.action_log", "results.decision_log")


def snapshot_counts(home: Path) -> dict[str, int]:
    """Row counts of every table in the BI snapshot (marts and results), the loop's audit tables aside."""
    counts = table_row_counts(str(home / "bi" / "loopwise_bi.duckdb"), ("marts", "results"))
    return {name: rows for name, rows in counts.items() if name not in LOOP_TABLES}


def one_write_per_action(home: Path) -> tuple[int, int]:
    """(budget writes the sandbox received, executed or noop budget writes in results.action_log;
    noop is a write that landed before a kill and was found in place on the rerun): equal when no
    action was applied twice, however the runs were killed and rerun. Budgets only: a Klaviyo bulk
    property write has no read-back, so a rerun re-sends it (the same absolute values) by design."""
    import json

    import duckdb

    state = json.loads((home / "sandbox" / "world_state.json").read_text())
    received = sum(1 for write in state["writes"] if write["action"] == "set_budget")
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        logged = con.execute(
            "select count(*) from results.action_log where mode = 'execute' and status in ('executed', 'noop') "
            "and platform in ('meta_ads', 'google_ads')"
        ).fetchall()[0][0]
    return received, logged
