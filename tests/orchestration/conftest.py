"""Session fixtures: the whole Dagster job, in-process, on a tiny sandbox world in a temp dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass
class PipelineHome:
    paths: object
    first_run: object
    instance: object


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest():
    """Every test here loads the code location, which needs the parsed dbt project."""
    from loopwise.runner import prepare_dbt

    return prepare_dbt()


@pytest.fixture(scope="session")
def pipeline_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineHome]:
    from pipeline_helpers import make_home

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
