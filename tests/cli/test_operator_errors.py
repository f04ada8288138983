"""Operator errors from ``loopwise demo`` / ``loopwise prepare``: one line on stderr naming the path
or the process, a non-zero exit, no traceback. Real files, real processes, the real CLI.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LOOPWISE_WAREHOUSE_PATH", "DAGSTER_HOME")}
    env.update(PYTHONPATH=str(ROOT), **extra)
    return env


def loopwise(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loopwise.cli", *args],
        capture_output=True,
        text=True,
        env=_env(**env),
        cwd=ROOT,
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *mentions: str) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr and "Stack Trace" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for mention in mentions:
        assert mention in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def lock_holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """Another process with the warehouse open read-write, sleeping (an analyst's session)."""
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    warehouse.parent.mkdir(parents=True)
    code = (
        "import sys, time, duckdb; con = duckdb.connect(sys.argv[1]); "
        "con.execute('create table if not exists t as select 1 as x'); print('ready', flush=True); "
        "time.sleep(300)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(warehouse)], stdout=subprocess.PIPE, text=True, env=_env()
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield warehouse, holder
    finally:
        holder.kill()
        holder.wait()


def test_home_that_cannot_be_a_directory(tmp_path: Path) -> None:
    # Tests run as root, so chmod stops nothing: a regular file where the home's parent should be.
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    home = blocker / "home"
    line = assert_one_line_error(loopwise("demo", "--home", str(home), "--preset", "tiny"), str(home))
    assert "not writable" in line
    assert_one_line_error(loopwise("prepare", "--home", str(home), "--preset", "tiny"), str(home))


@contextmanager
def tmpfs(target: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``target`` for the block (read-only or tiny: what root's chmod cannot fake).

    Mounting needs root; the project's machines and CI run the tests as root, so a failed
    mount there is a test failure, not a skip.
    """
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the project's machines and CI run tests as root)")
    target.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True
    )
    assert mounted.returncode == 0, f"mount -o {options} failed: {mounted.stderr.strip()}"
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=False)


def test_read_only_home(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "ro,size=1m") as mount:
        home = mount / "home"
        line = assert_one_line_error(loopwise("demo", "--home", str(home), "--preset", "tiny"), str(home))
        assert "Read-only file system" in line


def test_disk_too_full_to_start(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "size=2m") as mount:
        home = mount / "home"
        line = assert_one_line_error(loopwise("demo", "--home", str(home), "--preset", "tiny"), str(home))
        assert "MB free" in line


def test_warehouse_that_is_not_duckdb(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    warehouse = home / "warehouse.duckdb"
    warehouse.write_text("id,name\n1,not a database\n")
    line = assert_one_line_error(loopwise("demo", "--home", str(home), "--preset", "tiny"), str(warehouse))
    assert "not a DuckDB database" in line
    assert warehouse.read_text().startswith("id,name")  # left alone


def test_warehouse_locked_by_another_process(lock_holder: tuple[Path, subprocess.Popen[str]]) -> None:
    warehouse, holder = lock_holder
    result = loopwise("demo", "--home", str(warehouse.parent), "--preset", "tiny")
    line = assert_one_line_error(result, str(warehouse), f"PID {holder.pid}", "time.sleep(300)")
    assert "credentials" not in line and "locked" in line
    # --fresh must not delete a warehouse someone else holds open.
    assert_one_line_error(
        loopwise("demo", "--home", str(warehouse.parent), "--preset", "tiny", "--fresh"), f"PID {holder.pid}"
    )
    assert warehouse.exists()


def test_truncated_manifest_is_parsed_again(tmp_path: Path) -> None:
    from orchestration.defs.transform.project import dbt_project, manifest_problem

    manifest = dbt_project.manifest_path
    if not manifest.exists():
        assert loopwise("prepare", "--home", str(tmp_path / "first"), "--preset", "tiny").returncode == 0
    saved = manifest.read_bytes()
    try:
        manifest.write_bytes(saved[:1000])  # a parse killed mid-write
        result = loopwise("prepare", "--home", str(tmp_path / "home"), "--preset", "tiny")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        assert manifest_problem(manifest) is None
    finally:
        if manifest_problem(manifest) is not None:
            manifest.write_bytes(saved)


def test_manifest_that_stays_broken_is_one_line(tmp_path: Path) -> None:
    from loopwise.errors import OperatorError
    from loopwise.preflight import ensure_manifest

    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"nodes": {')
    with pytest.raises(OperatorError) as raised:
        ensure_manifest(manifest, lambda: None)
    assert str(manifest) in str(raised.value) and "\n" not in str(raised.value)

    def failing_parse() -> None:
        raise RuntimeError("dbt parse failed: Compilation Error\n  in model x")

    with pytest.raises(OperatorError) as raised:
        ensure_manifest(manifest, failing_parse)
    assert "\n" not in str(raised.value) and "Compilation Error" in str(raised.value)

    calls = []
    ensure_manifest(manifest, lambda: calls.append(manifest.write_text('{"nodes": {}}')))
    assert calls  # re-parsed once, then fine


def test_disk_full_on_write_is_one_line(tmp_path: Path) -> None:
    from loopwise.errors import operator_message

    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "warehouse.duckdb.wal"))
    message = operator_message(error)
    assert message and message.startswith(f"disk full while writing {tmp_path}") and "MB free" in message
    duckdb_text = RuntimeError('IO Error: Could not write file "/x/w.duckdb.wal": No space left on device')
    assert operator_message(duckdb_text).startswith("disk full while writing /x/w.duckdb.wal")


def test_step_failure_unwrapped_from_dlt_credentials_text() -> None:
    from dagster._utils.error import SerializableErrorInfo

    from loopwise.errors import failure_line

    def info(message: str, cls: str, cause: SerializableErrorInfo | None = None) -> SerializableErrorInfo:
        return SerializableErrorInfo(message=message, stack=[], cls_name=cls, cause=cause)

    dlt = (
        "Connection with `client_type=DuckDbSqlClient` to `dataset_name=raw_x` failed. Please check if you "
        "configured the credentials at all ... The actual reason given is: IO Error: Permission denied: /w"
    )
    chain = info("Error occurred while executing op", "DagsterExecutionStepExecutionError", info(dlt, "X"))
    assert failure_line(chain) == "X: IO Error: Permission denied: /w"
    locked = info(
        'IO Error: Could not set lock on file "/w.duckdb": Conflicting lock is held in /usr/bin/duckdb '
        "(PID 999999999). See also https://duckdb.org",
        "IOException",
    )
    line = failure_line(info("Error occurred while executing op", "E", info(dlt, "X", locked)))
    assert line.startswith(
        "the warehouse /w.duckdb is locked by another process: PID 999999999 (/usr/bin/duckdb)"
    )


@pytest.mark.slow
def test_warehouse_locked_mid_run_is_one_line_per_failed_step(
    lock_holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    """Preflight passed, then someone opened the warehouse: the summary names them per failed step."""
    warehouse, holder = lock_holder
    home = warehouse.parent
    holder.kill()
    holder.wait()
    assert loopwise("prepare", "--home", str(home), "--preset", "tiny").returncode == 0
    again = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time,duckdb; c=duckdb.connect(sys.argv[1]); print(1, flush=True); time.sleep(300)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    script = textwrap.dedent(
        """
        import time
        from core.settings import load_paths
        from loopwise.runner import run_job
        from loopwise.summary import print_summary
        summary = run_job("daily_refresh", log_level="INFO")
        print_summary(load_paths(), summary, total_elapsed_s=0)
        """
    )
    try:
        assert again.stdout is not None and again.stdout.readline().strip() == "1"
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env=_env(LOOPWISE_HOME=str(home)),
            cwd=ROOT,
            timeout=300,
        )
    finally:
        again.kill()
        again.wait()
    failed = [line for line in result.stdout.splitlines() if line.startswith("  failed step ")]
    assert failed, result.stdout
    for line in failed:
        assert f"locked by another process: PID {again.pid}" in line, line
    assert "credentials" not in result.stdout
    assert "Traceback" not in result.stderr and "Stack Trace" not in result.stderr


def test_sigterm_during_the_summary_is_one_line(tmp_path: Path) -> None:
    """Dagster leaves SIGTERM mapped to KeyboardInterrupt after a run; the summary turns it into one line."""
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        from core.settings import load_paths
        import loopwise.commands.demo as demo
        import loopwise.runner as runner
        import loopwise.summary as summary
        from loopwise.cli import main

        home = load_paths(sys.argv[1])
        home.home.mkdir(parents=True, exist_ok=True)
        home.warehouse.write_bytes(b"")  # exists, so the summary goes on to count tables

        def fake_run_job(*args, **kwargs):
            signal.signal(signal.SIGTERM, signal.getsignal(signal.SIGINT))  # what Dagster leaves behind
            return runner.RunSummary(run_id="r1", success=True, elapsed_s=1.0)

        def counts(*args):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
            raise AssertionError("SIGTERM did not arrive")

        demo.prepare_home = lambda *args, **kwargs: home
        demo.deliver_pages = lambda: demo.DeliveredPages(success=True, message="", channels=(), outbox_dir=None)
        runner.run_job = fake_run_job
        summary.table_row_counts = counts
        sys.exit(main(["demo", "--home", sys.argv[1]]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "home")],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 143, result.stderr
    assert result.stderr.splitlines() == [
        "loopwise: terminated (SIGTERM) while printing the summary of run r1 (the run itself succeeded)"
    ]


def test_prune_target_keeps_the_manifest_and_the_newest_invocations(tmp_path: Path) -> None:
    from orchestration.defs.transform.project import prune_target

    target = tmp_path / "target"
    target.mkdir()
    (target / "manifest.json").write_text("{}")
    (target / "partial_parse.msgpack").write_bytes(b"x")
    for index in range(5):
        invocation = target / f"loopwise_dbt_models-run{index}-abc"
        (invocation / "compiled").mkdir(parents=True)
        (invocation / "run_results.json").write_text("{}" * 1000)
        os.utime(invocation, (time.time() - 100 + index, time.time() - 100 + index))
    removed = prune_target(target, keep=2)
    assert len(removed) == 3
    assert sorted(p.name for p in target.iterdir()) == [
        "loopwise_dbt_models-run3-abc",
        "loopwise_dbt_models-run4-abc",
        "manifest.json",
        "partial_parse.msgpack",
    ]
