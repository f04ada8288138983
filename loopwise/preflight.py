"""Checks ``loopwise demo`` / ``loopwise prepare`` run before a run starts.

Each check raises :class:`~loopwise.errors.OperatorError` with one line naming the path (or the
process holding the warehouse lock) and what to do; :mod:`loopwise.errors` holds the wording.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loopwise.errors import OperatorError, Terminated, operator_message

# Below this much free space a run is refused up front (the tiny world's warehouse is ~30 MB).
MIN_FREE_BYTES = 100_000_000


def check_writable_dir(directory: Path, what: str) -> None:
    """``directory`` exists (created if missing) and a file can be written in it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=directory, prefix=".loopwise-write-check-")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or str(error)
        if error.filename and Path(error.filename) != directory:
            reason = f"{reason}: {error.filename}"
        raise OperatorError(f"{what} {directory} is not writable ({reason}).") from None


def check_free_space(directory: Path, minimum_bytes: int = MIN_FREE_BYTES) -> None:
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return
    if free < minimum_bytes:
        raise OperatorError(
            f"only {free / 1e6:.0f} MB free on the disk holding {directory}; a run needs at least "
            f"{minimum_bytes / 1e6:.0f} MB. Free some space and retry."
        )


def check_warehouse(path: Path) -> None:
    """The warehouse is absent (created by the run) or a DuckDB file nobody else holds open.

    Opens it read-write for a moment: DuckDB refuses while another process has it open (read-only
    or not) and names that process; a file that is not DuckDB is refused too.
    """
    if path.is_dir():
        raise OperatorError(f"the warehouse {path} is a directory, not a DuckDB file.")
    if not path.exists():
        check_writable_dir(path.parent, "the warehouse directory")
        return
    import duckdb

    try:
        duckdb.connect(str(path)).close()
    except duckdb.Error as error:
        message = operator_message(error) or f"cannot open the warehouse {path}: {str(error).splitlines()[0]}"
        raise OperatorError(message) from None


def ensure_manifest(path: Path, reparse: Callable[[], Any]) -> None:
    """A truncated or corrupt manifest is re-parsed once; if it is still bad, one line says so."""
    from orchestration.defs.transform.project import manifest_problem

    if manifest_problem(path) is None:
        return
    try:
        reparse()
    except Exception as error:  # dbt's own failure, reported below as one line
        raise OperatorError(f"dbt manifest {path} could not be re-parsed: {_first_line(error)}") from None
    problem = manifest_problem(path)
    if problem:
        raise OperatorError(f"dbt manifest {path} is {problem}; run `loopwise prepare` to re-parse it.")


def _first_line(error: BaseException) -> str:
    text = operator_message(error) or str(error) or type(error).__name__
    return text.strip().splitlines()[0]


def run_checks(home: Path, dagster_home: Path, warehouse: Path, fresh: bool = False) -> None:
    """Everything a run needs from the machine, before anything is written."""
    check_writable_dir(home, "LOOPWISE_HOME")
    check_free_space(home)
    check_writable_dir(dagster_home, "DAGSTER_HOME")
    try:
        check_warehouse(warehouse)
    except OperatorError as error:
        # --fresh deletes a file that is not DuckDB; a lock held by someone else still stops it.
        if not (fresh and "is not a DuckDB database" in str(error)):
            raise


@contextmanager
def sigterm_raises(during: str) -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` (the CLI prints one line).

    Dagster maps SIGTERM to SIGINT after an in-process run, which would otherwise surface as a
    KeyboardInterrupt (or DuckDB's interrupt error) somewhere inside the block.
    """
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        raise Terminated(during)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: nothing to install
        yield
        return
    try:
        yield
    except BaseException as error:
        if received and not isinstance(error, Terminated):
            raise Terminated(during) from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
