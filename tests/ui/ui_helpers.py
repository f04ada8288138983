"""The browser test's fixtures' parts: a demo warehouse, `loopwise dev` on a free port, the system chromium.

Nothing here runs at import and nothing imports Playwright (only conftest's ``browser`` fixture
does, when a browser test runs), so ``make test`` collects tests/ui without it installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOME = ROOT / "data" / "ui-test"
DEFAULT_ARTIFACTS = ROOT / "artifacts" / "ui"
# Written after `loopwise demo` exits 0; holds the commit of the code it ran (code_commit), so a
# warehouse built by other code is rebuilt instead of being judged by today's test.
DEMO_MARKER = ".ui-test-demo"
DEMO_TIMEOUT_S = 900
SERVER_START_TIMEOUT_S = 300
HTTP_TIMEOUT_S = 10
LOCATION_NAME = "loopwise"


def ui_requested(config: Any) -> bool:
    """The browser test was asked for: ``-m ui`` (``make test-ui``) or ``LOOPWISE_UI=1``."""
    markexpr = config.getoption("markexpr") or ""
    return re.search(r"\bui\b", markexpr) is not None or os.environ.get("LOOPWISE_UI") == "1"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without its Loopwise/Dagster settings: the child gets its own home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPWISE_", "DAGSTER_"))}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def code_commit() -> str:
    """The last commit that changed anything but tests and Markdown: what the warehouse depends on."""
    try:
        return subprocess.run(
            ["git", "log", "-1", "--format=%H", "--", ".", ":(exclude)tests", ":(exclude)*.md"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=HTTP_TIMEOUT_S,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def ensure_demo_warehouse(home: Path, log: Path) -> None:
    """``loopwise demo`` in ``home`` unless a completed demo of the same code is already there."""
    marker = home / DEMO_MARKER
    commit = code_commit() or "unknown"
    if marker.exists() and marker.read_text().strip() == commit:
        return
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    command = [sys.executable, "-m", "loopwise.cli", "demo", "--home", str(home)]
    with log.open("w") as out:
        done = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, env=child_env(), cwd=ROOT, timeout=DEMO_TIMEOUT_S
        )
    if done.returncode != 0:
        raise RuntimeError(f"`loopwise demo` exited {done.returncode}; log tail:\n{tail(log)}")
    marker.write_text(commit + "\n")


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class DevServer:
    """`loopwise dev` (what `make dev` runs) in its own process group, so every child stops with it."""

    process: subprocess.Popen
    base_url: str
    log: Path

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            payload = json.load(response)
        if payload.get("errors"):
            raise AssertionError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def stop(self) -> None:
        """SIGTERM to the group (dagster dev stops its webserver, daemon and code server), then SIGKILL."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        # Children that outlive dagster dev (a stuck code server) go too.
        _signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


WORKSPACE_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""


def start_dev_server(home: Path, log: Path) -> DevServer:
    """Start `loopwise dev` and wait until the webserver answers and the code location has loaded."""
    port = free_port()
    command = [sys.executable, "-m", "loopwise.cli", "dev", "--home", str(home), "--port", str(port)]
    process = subprocess.Popen(
        command,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=child_env(),
        cwd=ROOT,
        start_new_session=True,
    )
    server = DevServer(process=process, base_url=f"http://127.0.0.1:{port}", log=log)
    try:
        _wait_until_loaded(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_loaded(server: DevServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"`loopwise dev` exited {server.process.returncode}:\n{tail(server.log)}")
        try:
            # The webserver's health endpoint first, then the code location's load status.
            with urllib.request.urlopen(f"{server.base_url}/server_info", timeout=HTTP_TIMEOUT_S):
                pass
            entries = server.graphql(WORKSPACE_QUERY)["workspaceOrError"]["locationEntries"]
            entry = next((e for e in entries if e["name"] == LOCATION_NAME), None)
            if entry and entry["loadStatus"] == "LOADED":
                location = entry["locationOrLoadError"]
                if location["__typename"] == "PythonError":
                    raise RuntimeError(f"code location {LOCATION_NAME} failed to load: {location['message']}")
                return
            last = f"code location: {entry['loadStatus'] if entry else 'not listed'}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last = str(error)
        time.sleep(1)
    raise TimeoutError(
        f"the Dagster UI was not ready in {SERVER_START_TIMEOUT_S}s ({last}):\n{tail(server.log)}"
    )


def chromium_path() -> str:
    """``LOOPWISE_CHROMIUM``, else Debian's ``chromium`` on PATH (scripts/ui_test_setup.sh installs it)."""
    found = (
        os.environ.get("LOOPWISE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        raise RuntimeError("no chromium on PATH: run scripts/ui_test_setup.sh (or set LOOPWISE_CHROMIUM)")
    return found


def artifacts_dir() -> Path:
    directory = Path(os.environ.get("LOOPWISE_UI_ARTIFACTS", DEFAULT_ARTIFACTS))
    directory.mkdir(parents=True, exist_ok=True)
    return directory
