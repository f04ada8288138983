"""What the kernel says about a local process (``/proc`` on Linux): alive, started when, running what.

Crash recovery, the BI publish's staging-file cleanup, the dbt launcher, operator error
messages and the chaos tests all ask these questions; they ask them here.
"""

from __future__ import annotations

import os
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command (field 3 on), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (the command) may contain spaces and parentheses: split after its last ')'.
    return stat.rsplit(")", 1)[-1].split()


def is_zombie(pid: int) -> bool:
    """Exited but not yet reaped (state Z or X): dead for every purpose here."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] in ("Z", "X")


def pid_alive(pid: int) -> bool:
    """``pid`` names a running process (one owned by another user counts; a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    return not is_zombie(pid)


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), to tell a reused pid apart."""
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def process_command(pid: int) -> str:
    """The command line of ``pid``, words joined by single spaces; empty when unknown."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(raw.replace(b"\0", b" ").decode(errors="replace").split())
