"""Fixtures for source tests against the sandbox: a tiny world served on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


@pytest.fixture(scope="session")
def sandbox() -> Any:
    return pytest.importorskip("sandbox", reason="sandbox package not importable yet")


@pytest.fixture(scope="session")
def tiny_spec(sandbox: Any) -> Any:
    return sandbox.WorldSpec.preset("tiny")


@pytest.fixture(scope="session")
def shared_server(sandbox: Any, tiny_spec: Any) -> Iterator[Any]:
    """One read-only tiny world for tests that do not advance the clock or inject faults."""
    world = sandbox.World(tiny_spec)
    with sandbox.SandboxServer(world) as server:
        yield server
