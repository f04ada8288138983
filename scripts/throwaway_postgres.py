"""A throwaway PostgreSQL cluster in a temp directory: the server the Postgres Dagster instance
(``deploy/dagster-postgres.yaml``) is tested against, and a way to try that instance by hand.

The cluster listens on 127.0.0.1 only, on a free port, with a generated password (SCRAM); it is
stopped and its directory removed when the ``throwaway_postgres()`` block ends, also on failure.
PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` system user (or
``loopwise-postgres``, created when neither exists) through ``runuser``.

Usage: python scripts/throwaway_postgres.py
    prints the ``DAGSTER_PG_*`` variables the instance configuration reads; Ctrl-C or kill stops the
    server and removes its directory.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

SERVER_USERS = ("postgres", "loopwise-postgres")
DATABASE_USER = "loopwise"
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    username: str
    password: str
    db_name: str
    data_dir: Path

    def environment(self) -> dict[str, str]:
        """The variables ``deploy/dagster-postgres.yaml`` reads its connection from."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.username,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db_name,
        }


def postgres_bin_dir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` are: ``LOOPWISE_POSTGRES_BIN``, the PATH, or Debian's
    ``/usr/lib/postgresql/<version>/bin`` (the newest version installed)."""
    if configured := os.environ.get("LOOPWISE_POSTGRES_BIN"):
        return Path(configured)
    if initdb := shutil.which("initdb"):
        return (
            Path(initdb).resolve().parent
        )  # Debian links initdb and pg_ctl, not createdb, into /usr/local/bin
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3])
    )
    if not candidates:
        raise FileNotFoundError(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL or set LOOPWISE_POSTGRES_BIN"
        )
    return Path(candidates[-1]).parent


def _server_user() -> str | None:
    """The unprivileged user the server runs as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    name = SERVER_USERS[-1]
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True
    )
    return name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(command: list[str], user: str | None, env: dict[str, str] | None = None) -> None:
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    completed = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd="/", check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({completed.returncode}):\n{completed.stdout}{completed.stderr}"
        )


@contextmanager
def throwaway_postgres(db_name: str = "dagster") -> Iterator[PostgresServer]:
    """Start a PostgreSQL cluster in a new temp directory with an empty database ``db_name``;
    stop it and remove the directory when the block ends."""
    bin_dir = postgres_bin_dir()
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="loopwise-pg-"))
    data_dir = root / "data"
    log_file = root / "server.log"
    password = secrets.token_urlsafe(16)
    started = False
    try:
        password_file = root / "password"
        password_file.write_text(password + "\n")
        if user is not None:
            shutil.chown(root, user=user)
            shutil.chown(password_file, user=user)
        _run(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data_dir),
                "--username",
                DATABASE_USER,
                "--pwfile",
                str(password_file),
                "--auth-host",
                "scram-sha-256",
                "--auth-local",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--no-sync",
            ],
            user,
        )
        port = _free_port()
        # Only the loopback address and a socket inside the temp dir; fsync off: the data is thrown away.
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} -c fsync=off"
        )
        _run(
            [
                str(bin_dir / "pg_ctl"),
                "--pgdata",
                str(data_dir),
                "--log",
                str(log_file),
                "--options",
                options,
                "--wait",
                "--timeout",
                str(START_TIMEOUT_S),
                "start",
            ],
            user,
        )
        started = True
        _run(
            [
                str(bin_dir / "createdb"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--username",
                DATABASE_USER,
                db_name,
            ],
            user,
            env={"PGPASSWORD": password},
        )
        yield PostgresServer(
            host="127.0.0.1",
            port=port,
            username=DATABASE_USER,
            password=password,
            db_name=db_name,
            data_dir=data_dir,
        )
    finally:
        if started:
            _run(
                [str(bin_dir / "pg_ctl"), "--pgdata", str(data_dir), "--mode", "immediate", "--wait", "stop"],
                user,
            )
        shutil.rmtree(root, ignore_errors=True)


class _Stop(Exception):
    """Raised by the signal handler so the cluster is stopped on the way out."""


def _stop(signum: int, frame: object) -> None:
    raise _Stop(signal.Signals(signum).name)


def main() -> None:
    # SIGTERM (kill) and SIGINT (Ctrl-C; ignored by default in a shell's background job) both stop the server.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    with throwaway_postgres() as server:
        for name, value in server.environment().items():
            print(f"export {name}={value}")
        print("# PostgreSQL is running; Ctrl-C or kill stops it and removes its directory.", flush=True)
        with suppress(_Stop):
            signal.pause()


if __name__ == "__main__":
    main()
