"""Crash recovery pieces: dead runs and their pool slots, the run lock, dbt's launcher, BI staging files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from loopwise.recovery import (
    liveness_tags,
    pool_holders,
    recover_dead_runs,
    run_lock,
)

ROOT = Path(__file__).resolve().parents[2]
POOL = "duckdb_warehouse"


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPWISE_", "DAGSTER_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture
def instance(tmp_path: Path):
    import dagster as dg

    (tmp_path / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limit: 1\n")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        yield instance
    finally:
        instance.dispose()


def _started_run(instance, tags: dict[str, str]):
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    run = DagsterRun(
        job_name="daily_refresh", run_id=str(uuid.uuid4()), status=DagsterRunStatus.STARTED, tags=tags
    )
    instance.add_run(run)
    return run


def _claim(instance, run_id: str, step: str):
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(POOL)
    return storage.claim_concurrency_slot(POOL, run_id, step)


def test_a_dead_runs_slot_is_freed_and_the_run_marked_failed(instance):
    from dagster._core.storage.dagster_run import DagsterRunStatus

    dead = _started_run(instance, {**liveness_tags(), "loopwise/pid": str(_dead_pid())})
    assert _claim(instance, dead.run_id, "loopwise_dbt_models").is_claimed
    waiting = _started_run(instance, liveness_tags())  # this process: alive
    assert not _claim(instance, waiting.run_id, "bi__bi_snapshot").is_claimed

    messages: list[str] = []
    assert recover_dead_runs(instance, messages.append) == [dead.run_id]
    assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(waiting.run_id).status == DagsterRunStatus.STARTED
    assert "recovered crashed run" in messages[0]
    # the live run's queued step got the freed slot
    assert _claim(instance, waiting.run_id, "bi__bi_snapshot").is_claimed
    assert [holder.run_id for holder in pool_holders(instance)] == [waiting.run_id]


def test_a_reused_pid_counts_as_dead(instance):
    tags = {**liveness_tags(), "loopwise/pid_start": "1"}  # this pid, but another process's start time
    run = _started_run(instance, tags)
    _claim(instance, run.run_id, "step")
    assert recover_dead_runs(instance, lambda _: None) == [run.run_id]
    assert pool_holders(instance) == []


def test_a_run_waiting_for_a_live_run_says_so_and_stops_on_sigterm(tmp_path: Path):
    """Hold the run lock here; a demo on the same home waits, then exits promptly on SIGTERM."""
    home = tmp_path / "home"
    with run_lock(home / "dagster_home"):
        process = subprocess.Popen(
            [sys.executable, "-m", "loopwise.cli", "demo", "--home", str(home), "--preset", "tiny"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(),
            cwd=ROOT,
        )
        try:
            first = process.stderr.readline()  # blocks until the waiting line (or the child's end)
            assert "waiting for run in process" in first and str(os.getpid()) in first, first
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            rest = process.communicate(timeout=20)[1]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    assert time.monotonic() - started < 10
    assert process.returncode != 0
    assert rest.strip().splitlines() == ["loopwise: interrupted"], rest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_the_dbt_launcher_dies_with_its_parent(tmp_path: Path):
    from orchestration.defs.transform.dbt_launcher import launcher_path

    fake_dbt = tmp_path / "fake_dbt"
    fake_dbt.write_text("#!/bin/sh\nexec sleep 120\n")
    fake_dbt.chmod(0o755)
    launcher = launcher_path(tmp_path / "bin", str(fake_dbt))
    parent_code = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        os.environ["LOOPWISE_DBT_PARENT_PID"] = str(os.getpid())
        child = subprocess.Popen([{launcher!r}, "build"])
        print(child.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True, env=_child_env()
    )
    try:
        child_pid = int(parent.stdout.readline())
        time.sleep(1.0)  # the launcher has exec'd the fake dbt
        assert "sleep" in Path(f"/proc/{child_pid}/cmdline").read_text()
    finally:
        parent.kill()
        parent.wait(timeout=30)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{child_pid}").exists():
        time.sleep(0.05)
    assert not Path(f"/proc/{child_pid}").exists(), "the dbt child outlived its killed parent"


def test_stale_bi_staging_files_are_removed_only_when_their_publisher_is_gone(tmp_path: Path):
    import duckdb

    from core.bi_snapshot import STALE_STAGING_AFTER_S, publish_bi_snapshot

    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("create schema marts; create table marts.t as select 1 as x")
    con.close()
    bi = tmp_path / "bi"
    bi.mkdir()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        dead = _dead_pid()
        dead_files = [bi / f".loopwise_bi.duckdb.{dead}.tmp", bi / f".loopwise_bi.duckdb.{dead}.tmp.wal"]
        live = bi / f".loopwise_bi.duckdb.{sleeper.pid}.tmp"  # being written by a live publisher
        reused = bi / f".loopwise_bi.duckdb.{sleeper.pid}.tmp.wal"  # live pid, untouched for long
        others = [bi / ".loopwise_bi.duckdb.notapid.tmp", bi / "mine.tmp", bi / f".other.duckdb.{dead}.tmp"]
        for path in [*dead_files, live, reused, *others]:
            path.write_text("x")
        old = time.time() - STALE_STAGING_AFTER_S - 10
        os.utime(reused, (old, old))

        publish_bi_snapshot(warehouse, bi / "loopwise_bi.duckdb")

        assert not any(path.exists() for path in [*dead_files, reused])
        assert live.exists() and all(path.exists() for path in others)
        assert (bi / "loopwise_bi.duckdb").exists()
    finally:
        sleeper.kill()
        sleeper.wait(timeout=30)
