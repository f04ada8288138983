"""Session fixtures: the whole Dagster job, in-process, on a tiny sandbox world in a temp dir."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class PipelineHome:
    paths: object
    first_run: object
    instance: object


def _set_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("LOOPWISE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster_home"))
    monkeypatch.delenv("LOOPWISE_WAREHOUSE_PATH", raising=False)
    monkeypatch.delenv("LOOPWISE_BI_SNAPSHOT_PATH", raising=False)
    monkeypatch.delenv("LOOPWISE_SOURCES_TARGET", raising=False)


def make_home(home: Path, monkeypatch: pytest.MonkeyPatch, spec=None):
    """A data directory with a fresh tiny world, env pointing at it, a Dagster instance."""
    import dagster as dg

    from loopwise.runner import prepare_dbt, prepare_environment
    from loopwise.sandbox_world import create_sandbox_world
    from loopwise.settings import load_paths
    from sandbox import WorldSpec

    _set_env(monkeypatch, home)
    paths = load_paths(home)
    prepare_environment(paths)
    create_sandbox_world(paths.sandbox_dir, spec or WorldSpec.preset("tiny"), truth_dir=paths.truth_dir)
    prepare_dbt()
    instance = dg.DagsterInstance.from_config(str(paths.dagster_home))
    return paths, instance


def clone_home(source: Path, target: Path, monkeypatch: pytest.MonkeyPatch):
    """Copy a finished data directory (world, warehouse, Dagster instance) to run on a copy."""
    import dagster as dg

    from loopwise.settings import load_paths

    shutil.copytree(source, target)
    _set_env(monkeypatch, target)
    paths = load_paths(target)
    return paths, dg.DagsterInstance.from_config(str(paths.dagster_home))


@pytest.fixture(scope="session")
def pipeline_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineHome]:
    from loopwise.runner import run_job

    monkeypatch = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("loopwise_home")
    paths, instance = make_home(home, monkeypatch)
    try:
        first = run_job("daily_refresh", instance=instance)
        yield PipelineHome(paths=paths, first_run=first, instance=instance)
    finally:
        instance.dispose()
        monkeypatch.undo()


@pytest.fixture
def isolated_env() -> Iterator[pytest.MonkeyPatch]:
    monkeypatch = pytest.MonkeyPatch()
    saved = dict(os.environ)
    try:
        yield monkeypatch
    finally:
        monkeypatch.undo()
        os.environ.clear()
        os.environ.update(saved)
