"""The browser test runs only on request: ``make test-ui`` (``-m ui``) or ``LOOPWISE_UI=1``.

It needs Debian's chromium and the Playwright package (``scripts/ui_test_setup.sh``), and from a
fresh clone it builds a demo warehouse first (3-4 minutes) and starts the Dagster UI (about a
minute): 85 s even with the warehouse built, more than the minute ``make test`` may spend on it. So ``make test``
skips it with that reason, like the chaos cases; ``make test-ui`` runs it.

Fixtures: the demo warehouse (``demo_home``) in ``LOOPWISE_UI_HOME`` (default ``data/ui-test``, reused while the
commit is the same), ``loopwise dev`` on a free port (stopped at the end of the session, also
when a test fails), one headless chromium, and the screenshot directory
(``LOOPWISE_UI_ARTIFACTS``, default ``artifacts/ui``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import (
    DEFAULT_HOME,
    DevServer,
    artifacts_dir,
    chromium_path,
    ensure_demo_warehouse,
    start_dev_server,
    ui_requested,
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ui_requested(config):
        return
    skip = pytest.mark.skip(
        reason="browser test (chromium + a demo warehouse, several minutes): `make test-ui` runs it, and so does CI after `make test`"
    )
    for item in items:
        if item.get_closest_marker("ui") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def ui_artifacts() -> Path:
    return artifacts_dir()


@pytest.fixture(scope="session")
def demo_home(ui_artifacts: Path) -> Path:
    """The demo's home (built once per commit): its warehouse, reports and outbox."""
    home = Path(os.environ.get("LOOPWISE_UI_HOME", DEFAULT_HOME)).resolve()
    ensure_demo_warehouse(home, ui_artifacts / "demo.log")
    return home


@pytest.fixture(scope="session")
def dagster_ui(demo_home: Path, ui_artifacts: Path) -> Iterator[DevServer]:
    home = demo_home
    server = start_dev_server(home, ui_artifacts / "dagster_dev.log")
    try:
        # What "Skip" on the UI's first-visit "Join the Dagster community" dialog does; the dialog
        # would cover every screenshot.
        server.graphql("mutation { setNuxSeen }")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
