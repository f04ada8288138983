"""Fixtures for source tests against the sandbox: a tiny world served on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


@pytest.fixture(scope="session")
def sandbox() -> Any:
    import sandbox

    return sandbox


@pytest.fixture(scope="session")
def tiny_spec(sandbox: Any) -> Any:
    return sandbox.WorldSpec.preset("tiny")


@pytest.fixture(scope="session")
def shared_server(sandbox: Any, tiny_spec: Any) -> Iterator[Any]:
    """One read-only tiny world for tests that do not advance the clock or inject faults."""
    world = sandbox.World(tiny_spec)
    with sandbox.SandboxServer(world) as server:
        yield server


@pytest.fixture(scope="session")
def clean_load(
    tmp_path_factory: pytest.TempPathFactory, shared_server: Any, tiny_spec: Any
) -> dict[str, Any]:
    """All four sources loaded once, uninterrupted, from the shared world: the reference warehouse."""
    from ingestion_test_helpers import sandbox_settings, table_snapshot

    from ingestion import SOURCES, run_source

    root = tmp_path_factory.mktemp("clean_load")
    path, pipelines_dir = root / "warehouse.duckdb", root / "dlt"
    settings = sandbox_settings(shared_server, tiny_spec)
    results = {name: run_source(name, path, settings, pipelines_dir=pipelines_dir) for name in SOURCES}
    snapshots = {f"raw_{name}": table_snapshot(path, f"raw_{name}") for name in SOURCES}
    return {
        "path": path,
        "pipelines_dir": pipelines_dir,
        "settings": settings,
        "results": results,
        "snapshots": snapshots,
    }
