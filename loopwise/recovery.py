"""Crash recovery for in-process runs: no manual step after a kill -9, a crash or a full disk.

A run killed hard never records its end: Dagster keeps it ``STARTED`` and keeps its claims in
the warehouse writer pool (limit 1), so the next run would wait for that slot forever. Each
run therefore carries a liveness record in its tags (pid, host and the process's start time,
see :func:`liveness_tags`). Before a run starts, :func:`recover_dead_runs` marks every
unfinished run whose process is gone as failed (``DagsterInstance.report_run_failed``) and
frees its pool slots and queued steps (``event_log_storage.free_concurrency_slots_for_run``).
Runs started without the tags (``dagster dev``, older releases) are judged by the pid of
Dagster's own "Executing steps in process (pid: N)" engine event.

Runs of one instance are also serialized with an advisory ``flock`` the kernel releases when
the process dies; a run that waits (for that lock or for a pool slot held by a live run) says
what it waits for and stops on SIGINT/SIGTERM with ``KeyboardInterrupt``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.processes import pid_alive, process_start_time

PID_TAG = "loopwise/pid"
HOST_TAG = "loopwise/host"
PID_START_TAG = "loopwise/pid_start"
LOCK_FILE = "loopwise-run.lock"
# Repeat the waiting line this often so a log reader sees the run is still waiting.
WAIT_MESSAGE_EVERY_S = 60.0

Notify = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"loopwise: {message}", file=sys.stderr, flush=True)


def liveness_tags() -> dict[str, str]:
    """Run tags naming the process that executes the run (written at launch)."""
    tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    started = process_start_time(os.getpid())
    if started:
        tags[PID_START_TAG] = started
    return tags


@dataclass(frozen=True)
class RunOwner:
    pid: int
    host: str | None = None
    start: str | None = None

    def describe(self) -> str:
        return f"pid {self.pid}" + (f" on {self.host}" if self.host else "")

    def state(self) -> str:
        """``alive``, ``dead``, or ``unknown`` (another host: its processes are not visible here)."""
        if self.host and self.host != socket.gethostname():
            return "unknown"
        if not pid_alive(self.pid):
            return "dead"
        if self.start is not None:
            current = process_start_time(self.pid)
            if current is not None and current != self.start:
                return "dead"  # the pid was reused by a later process
        return "alive"


def run_owner(instance: Any, run: Any) -> RunOwner | None:
    """The process that executes ``run``: its liveness tags, else Dagster's in-process engine event."""
    tags = run.tags or {}
    if PID_TAG in tags:
        try:
            return RunOwner(int(tags[PID_TAG]), tags.get(HOST_TAG), tags.get(PID_START_TAG))
        except ValueError:
            return None
    from dagster import DagsterEventType

    for record in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.event_specific_data if record.dagster_event else None
        pid = getattr(data, "metadata", {}).get("pid") if data is not None else None
        if pid is not None:
            with contextlib.suppress(TypeError, ValueError):
                return RunOwner(int(pid.value))
    return None


def _unfinished_runs(instance: Any) -> list[Any]:
    from dagster import RunsFilter
    from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES

    return list(instance.get_runs(filters=RunsFilter(statuses=NOT_FINISHED_STATUSES)))


def _concurrency_infos(instance: Any) -> dict[str, Any]:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    return dict(storage.get_concurrency_infos(sorted(storage.get_concurrency_keys())))


def recover_dead_runs(instance: Any, notify: Notify = _stderr) -> list[str]:
    """Mark unfinished runs whose process is gone as failed and free what they held.

    Also frees pool slots and queued steps left by runs that are finished or deleted.
    Returns the ids of the runs marked failed.
    """
    recovered = []
    for run in _unfinished_runs(instance):
        owner = run_owner(instance, run)
        if owner is None or owner.state() != "dead":
            continue
        instance.report_run_failed(
            run,
            message=(
                f"Marked failed by loopwise: the process running it ({owner.describe()}) is gone "
                "(killed, crashed or out of disk). Its warehouse pool slot was released."
            ),
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
        notify(
            f"recovered crashed run {run.run_id} ({owner.describe()} is gone): marked failed, pool slot freed"
        )

    held_by = set()
    for info in _concurrency_infos(instance).values():
        held_by.update(slot.run_id for slot in info.claimed_slots)
        held_by.update(step.run_id for step in info.pending_steps)
    for run_id in sorted(held_by):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            if run_id not in recovered:
                notify(f"freed the pool slot left by finished run {run_id}")
    return recovered


@dataclass(frozen=True)
class PoolHolder:
    pool: str
    run_id: str
    step_key: str | None
    owner: RunOwner | None

    def describe(self) -> str:
        who = self.owner.describe() if self.owner else "process unknown"
        step = f", step {self.step_key}" if self.step_key else ""
        return f"pool '{self.pool}' is held by run {self.run_id} ({who}{step})"


def pool_holders(instance: Any) -> list[PoolHolder]:
    """Claimed pool slots of unfinished runs (after :func:`recover_dead_runs`: live or unknown ones)."""
    holders = []
    for pool, info in sorted(_concurrency_infos(instance).items()):
        for slot in info.claimed_slots:
            run = instance.get_run_by_id(slot.run_id)
            if run is not None and not run.is_finished:
                holders.append(PoolHolder(pool, slot.run_id, slot.step_key, run_owner(instance, run)))
    return holders


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """While waiting, SIGTERM stops the wait like Ctrl-C does (``KeyboardInterrupt``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name} while waiting")

    previous_term = signal.signal(signal.SIGTERM, _interrupt)
    previous_int = signal.signal(signal.SIGINT, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


def _lock_holder(path: Path) -> str:
    with contextlib.suppress(OSError):
        text = path.read_text().strip()
        if text:
            return text
    return "another loopwise run"


@contextlib.contextmanager
def run_lock(directory: Path | None, notify: Notify = _stderr, poll_s: float = 0.5) -> Iterator[None]:
    """Hold the instance's run lock for the duration of one run; wait (interruptibly) while taken.

    ``flock`` is released by the kernel when its process dies, so a crashed run never holds it.
    """
    if directory is None or sys.platform == "win32":
        yield
        return
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by child processes
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            started = time.monotonic()
            last_message = None
            with stop_on_sigterm():
                while True:
                    now = time.monotonic()
                    if last_message is None or now - last_message >= WAIT_MESSAGE_EVERY_S:
                        notify(
                            f"waiting for {_lock_holder(path)} to finish with the warehouse writer pool "
                            f"({now - started:.0f}s so far; Ctrl-C or SIGTERM stops waiting)"
                        )
                        last_message = now
                    time.sleep(poll_s)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"run in process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def wait_for_pools(instance: Any, notify: Notify = _stderr, poll_s: float = 1.0) -> None:
    """Recover dead runs, then wait (interruptibly) while a live run outside loopwise holds a pool slot."""
    recover_dead_runs(instance, notify)
    holders = pool_holders(instance)
    if not holders:
        return
    started = time.monotonic()
    last_message = None
    with stop_on_sigterm():
        while holders:
            now = time.monotonic()
            if last_message is None or now - last_message >= WAIT_MESSAGE_EVERY_S:
                notify(
                    "waiting: "
                    + "; ".join(holder.describe() for holder in holders)
                    + f" ({now - started:.0f}s so far; Ctrl-C or SIGTERM stops waiting)"
                )
                last_message = now
            time.sleep(poll_s)
            recover_dead_runs(instance, notify)
            holders = pool_holders(instance)
