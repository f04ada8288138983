"""Errors the ``loopwise`` command reports as one clear line, and the one place that turns an
operator's problem (a locked warehouse, a full disk, a file that is not DuckDB ...) into that line.

:func:`operator_message` reads a Python exception (and its causes); :func:`failure_line` reads
the text of a failure that already crossed Dagster (a step failure's error and its causes).
Both end in :func:`describe_text`, so the demo's preflight, the CLI and the run summary say
the same thing about the same problem.
"""

from __future__ import annotations

import errno
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.processes import process_command


class UsageError(Exception):
    """Bad input from the user: a missing column, an unknown variant, an unreadable file."""


class OperatorError(Exception):
    """The machine is not in a state to run: the message says which path or process, and what to do."""


class Terminated(BaseException):
    """SIGTERM arrived; a BaseException so no ``except Exception`` on the way swallows it."""


# DuckDB: 'Could not set lock on file "P": Conflicting lock is held in EXE (PID N)'
_LOCK = re.compile(
    r'Could not set lock on file "(?P<path>[^"]+)": Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)'
)
_NOT_DUCKDB = re.compile(r'The file "(?P<path>[^"]+)" exists, but it is not a valid DuckDB database file')
_NO_SPACE = re.compile(r"No space left on device|Disk full|not enough space", re.IGNORECASE)
_DUCKDB_OPEN = re.compile(r'Cannot open (?:database|file) "(?P<path>[^"]+)"[^:]*: (?P<reason>.+)')
# dlt wraps every destination error in advice about credentials and the internet connection.
_DLT_REASON = re.compile(r"The actual reason given is: (?P<reason>.+)", re.DOTALL)


def process_description(pid: int, fallback: str = "") -> str:
    """``PID n (command line)`` from /proc; the executable DuckDB named when /proc says nothing."""
    command = process_command(pid) or " ".join(fallback.split())
    if len(command) > 240:
        command = command[:237] + "..."
    return f"PID {pid} ({command})" if command else f"PID {pid}"


def _free_space(path: str | None) -> str:
    probe = Path(path) if path else Path.cwd()
    for candidate in (probe, *probe.parents):
        try:
            free = shutil.disk_usage(candidate).free
        except OSError:
            continue
        return f" ({free / 1e6:.0f} MB free on that disk)"
    return ""


def describe_text(text: str) -> str | None:
    """The one-line operator message for an error's text, or None when it is not an operator problem."""
    match = _LOCK.search(text)
    if match:
        holder = process_description(int(match["pid"]), match["exe"])
        return (
            f"the warehouse {match['path']} is locked by another process: {holder}. Close that "
            "connection (an open DuckDB session, or another Loopwise/Dagster run) and retry."
        )
    match = _NOT_DUCKDB.search(text)
    if match:
        return (
            f"{match['path']} is not a DuckDB database. Move it away (or point "
            "LOOPWISE_WAREHOUSE_PATH at another file) and retry."
        )
    if _NO_SPACE.search(text):
        path = re.search(r'"(/[^"]+)"', text)
        where = path.group(1) if path else None
        return f"disk full while writing {where or 'the warehouse'}{_free_space(where)}: free some space and retry."
    match = _DUCKDB_OPEN.search(text)
    if match:
        return f"cannot open {match['path']}: {match['reason'].strip()}"
    return None


def _os_error_message(error: OSError) -> str | None:
    path = error.filename or ""
    if error.errno == errno.ENOSPC:
        return f"disk full while writing {path or 'a file'}{_free_space(path or None)}: free some space and retry."
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return f"cannot write {path or 'a file'}: {error.strerror or error}"
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def operator_message(error: BaseException) -> str | None:
    """The one line for ``error`` (searching its causes), or None for a bug worth its traceback."""
    for link in _chain(error):
        if isinstance(link, (OperatorError, UsageError)):
            return str(link)
        if isinstance(link, OSError):
            message = _os_error_message(link)
            if message:
                return message
        message = describe_text(str(link))
        if message:
            return message
    return None


def _error_info_chain(info: Any) -> Iterator[Any]:
    while info is not None:
        yield info
        info = getattr(info, "cause", None) or getattr(info, "context", None)


def failure_line(error_info: Any) -> str:
    """One line for a Dagster step failure (a ``SerializableErrorInfo`` and its causes).

    A known operator problem gives its message; otherwise the innermost cause's first line,
    with dlt's "check your credentials / internet connection" wrapper taken off.
    """
    chain = list(_error_info_chain(error_info))
    if not chain:
        return "failed (no error recorded)"
    for info in chain:
        message = describe_text(getattr(info, "message", "") or "")
        if message:
            return message
    innermost = chain[-1]
    text = (getattr(innermost, "message", "") or "").strip()
    reason = _DLT_REASON.search(text)
    if reason:
        text = reason["reason"].strip()
    first = text.splitlines()[0].strip() if text else ""
    name = getattr(innermost, "cls_name", None) or "error"
    return f"{name}: {first}" if first else name
