"""Helpers shared by the orchestration tests (a data directory per test)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def _set_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("LOOPWISE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster_home"))
    monkeypatch.delenv("LOOPWISE_WAREHOUSE_PATH", raising=False)
    monkeypatch.delenv("LOOPWISE_BI_SNAPSHOT_PATH", raising=False)
    monkeypatch.delenv("LOOPWISE_SOURCES_TARGET", raising=False)


def make_home(home: Path, monkeypatch: pytest.MonkeyPatch, spec=None):
    """A data directory with a fresh tiny world, env pointing at it, a Dagster instance."""
    import dagster as dg

    from core.settings import load_paths
    from loopwise.runner import prepare_dbt, prepare_environment
    from sandbox import WorldSpec, create_sandbox_world
    from sandbox.truth import write_truth

    _set_env(monkeypatch, home)
    paths = load_paths(home)
    prepare_environment(paths)
    world = create_sandbox_world(paths.sandbox_dir, spec or WorldSpec.preset("tiny"))
    write_truth(world, paths.truth_dir)
    prepare_dbt()
    instance = dg.DagsterInstance.from_config(str(paths.dagster_home))
    return paths, instance


def clone_home(source: Path, target: Path, monkeypatch: pytest.MonkeyPatch):
    """Copy a finished data directory (world, warehouse, Dagster instance) to run on a copy."""
    import dagster as dg

    from core.settings import load_paths

    shutil.copytree(source, target)
    _set_env(monkeypatch, target)
    paths = load_paths(target)
    return paths, dg.DagsterInstance.from_config(str(paths.dagster_home))
