"""kill -9 ``loopwise demo --preset tiny`` at several points; a plain rerun must recover on its own.

Each case: start a run, detect the phase by polling (log lines, a dlt load package, the dbt
child process, the BI staging file), kill -9 the run, then rerun without any manual step. The
rerun must finish with exit 0 within a bounded time, leave no dbt process alive and no staging
file, and (with the full suite) publish the same row counts in marts and results as a clean run.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from chaos_helpers import (
    chaos_requested,
    children,
    dbt_children,
    kill9,
    log_has,
    one_write_per_action,
    run_demo,
    snapshot_counts,
    staging_files,
    start_demo,
    wait_until,
)

from core.processes import pid_alive, process_command

RUN_TIMEOUT_S = 300  # a clean tiny run takes ~45s alone; generous for a shared CI machine
PHASE_TIMEOUT_S = 240
ORPHAN_GRACE_S = 10


def _during_ingestion(proc, home: Path, log: Path, seen_dbt: set[int]) -> None:
    # hubspot is done and klaviyo (the longest source) is loading.
    wait_until(log_has(log, "hubspot: "), PHASE_TIMEOUT_S, 0.05, "ingestion", proc)


def _loading_packages(home: Path) -> list[Path]:
    """dlt load packages normalized and being loaded into the warehouse (they move on when done)."""
    return sorted((home / "dlt_pipelines").glob("*/load/normalized/*"))


def _during_dlt_load(proc, home: Path, log: Path, seen_dbt: set[int]) -> None:
    wait_until(lambda: _loading_packages(home), PHASE_TIMEOUT_S, 0.002, "a dlt load", proc)


def _during_dbt_build(proc, home: Path, log: Path, seen_dbt: set[int]) -> None:
    seen_dbt.update(wait_until(lambda: dbt_children(proc.pid), PHASE_TIMEOUT_S, 0.05, "dbt build", proc))
    time.sleep(2.0)  # let dbt write to the warehouse
    seen_dbt.update(dbt_children(proc.pid))


def _after_decision_asset(proc, home: Path, log: Path, seen_dbt: set[int]) -> None:
    wait_until(
        log_has(log, "results__budget_recommendations"), PHASE_TIMEOUT_S, 0.02, "a decision asset", proc
    )


def _during_bi_publish(proc, home: Path, log: Path, seen_dbt: set[int]) -> None:
    wait_until(lambda: staging_files(home), PHASE_TIMEOUT_S, 0.002, "the BI publish", proc)


POINTS = {
    "ingestion": _during_ingestion,
    "dlt_load": _during_dlt_load,
    "dbt_build": _during_dbt_build,
    "after_decision": _after_decision_asset,
    "bi_publish": _during_bi_publish,
}


@pytest.fixture(scope="session")
def clean_counts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    home = tmp_path_factory.mktemp("chaos_clean")
    result = run_demo(home, RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return snapshot_counts(home)


@pytest.mark.chaos
@pytest.mark.parametrize("point", sorted(POINTS))
def test_kill_9_then_plain_rerun_recovers(point: str, tmp_path: Path, request: pytest.FixtureRequest):
    home = tmp_path / "home"
    log = tmp_path / "killed_run.log"
    proc = start_demo(home, log)
    seen_dbt: set[int] = set()
    try:
        POINTS[point](proc, home, log, seen_dbt)
        seen_dbt.update(dbt_children(proc.pid))
        seen_children = set(children(proc.pid))  # dbt, Dagster's log tails and their watchers
    finally:
        kill9(proc)
    if point == "dbt_build":
        assert seen_dbt, "no dbt child was seen"
    if point == "bi_publish":
        assert staging_files(home), "the kill should leave the staging file behind"

    # dbt dies with its parent (PR_SET_PDEATHSIG): nothing keeps writing the warehouse. No other
    # child of the killed run survives it either.
    deadline = time.monotonic() + ORPHAN_GRACE_S
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in seen_dbt | seen_children):
        time.sleep(0.1)
    assert not [pid for pid in seen_dbt if pid_alive(pid)], "dbt outlived the killed run"
    assert not [process_command(pid) for pid in seen_children if pid_alive(pid)], "orphans of the killed run"

    started = time.monotonic()
    rerun = run_demo(home, RUN_TIMEOUT_S)
    elapsed = time.monotonic() - started
    output = rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert rerun.returncode == 0, output
    assert "recovered crashed run" in rerun.stderr, output
    print(f"{point}: rerun after kill -9 finished in {elapsed:.1f}s")

    assert not staging_files(home), staging_files(home)
    assert not [pid for pid in seen_dbt if pid_alive(pid)]
    received, logged = one_write_per_action(home)
    assert received == logged, f"the vendor received {received} budget writes, the action log has {logged}"
    counts = snapshot_counts(home)
    assert counts and all(rows > 0 for name, rows in counts.items() if name.startswith("marts.")), counts
    if chaos_requested(request.config):
        assert counts == request.getfixturevalue("clean_counts")
