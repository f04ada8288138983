"""`dagster dev` without the virtualenv on PATH: dbt is found beside the running interpreter; the
project is parsed when it changed, not by every process that loads the code location."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from dagster_dbt import DbtProject
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer

from orchestration.defs.transform.project import (
    DBT_EXECUTABLE,
    DBT_PROJECT_DIR,
    LoopwiseDbtProjectPreparer,
    dbt_executable,
    dbt_project,
    manifest_is_current,
)

PATH_WITHOUT_VIRTUALENV = "/usr/bin:/bin"


@pytest.fixture
def project_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DbtProject:
    """The project, parsed into a temp target, with a PATH that has no dbt on it."""
    monkeypatch.setenv("PATH", PATH_WITHOUT_VIRTUALENV)
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    assert shutil.which("dbt") is None
    return DbtProject(
        project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=tmp_path / "target"
    )


def test_dbt_executable_is_beside_the_interpreter() -> None:
    assert dbt_executable("/opt/venv/bin/python") == "/opt/venv/bin/dbt"
    assert Path(DBT_EXECUTABLE).parent == Path(sys.executable).parent
    assert Path(DBT_EXECUTABLE).is_file()


def test_prepare_parses_without_dbt_on_path(project_in_tmp: DbtProject) -> None:
    with pytest.raises(ValueError, match="not found on PATH"):
        DagsterDbtProjectPreparer().prepare(project_in_tmp)  # what dagster-dbt does by default
    LoopwiseDbtProjectPreparer().prepare(project_in_tmp)
    assert project_in_tmp.manifest_path.is_file()


def test_dev_load_parses_without_dbt_on_path(project_in_tmp: DbtProject, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")  # set by `dagster dev` for the code location
    LoopwiseDbtProjectPreparer().prepare_if_dev(project_in_tmp)
    assert project_in_tmp.manifest_path.is_file()


class CountingPreparer(LoopwiseDbtProjectPreparer):
    """The code location's preparer, counting the `dbt parse` runs it starts."""

    def __init__(self) -> None:
        super().__init__()
        self.parses = 0

    def _prepare_manifest(self, project: DbtProject) -> None:
        self.parses += 1
        super()._prepare_manifest(project)


def test_a_run_worker_does_not_parse_a_current_manifest(dbt_manifest, monkeypatch) -> None:
    """Under `dagster dev` every run worker imports the code location; the manifest `loopwise dev`
    (here the test session) parsed is current, so importing does not parse again."""
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    assert manifest_is_current(dbt_project)
    written = dbt_project.manifest_path.stat().st_mtime_ns
    preparer = CountingPreparer()
    preparer.prepare_if_dev(dbt_project)  # what importing orchestration.definitions does
    assert preparer.parses == 0
    assert dbt_project.manifest_path.stat().st_mtime_ns == written


def test_dev_parses_again_only_when_the_project_changed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    project_dir = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project_dir, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    preparer = CountingPreparer()

    preparer.prepare_if_dev(project)  # no manifest yet: the code location's first load parses
    assert preparer.parses == 1 and manifest_is_current(project)
    preparer.prepare_if_dev(project)  # a run worker, or a reload with nothing changed
    assert preparer.parses == 1

    model = next((project_dir / "models" / "marts").rglob("*.sql"))
    # the model was edited after the parse (both dated in the past, so the next parse is newer
    # than the edit however fast it runs)
    parsed = project.manifest_path.stat().st_mtime - 100
    os.utime(project.manifest_path, (parsed, parsed))
    os.utime(model, (parsed + 10, parsed + 10))
    assert not manifest_is_current(project)
    preparer.prepare_if_dev(project)
    assert preparer.parses == 2 and manifest_is_current(project)

    project.manifest_path.write_text('{"nodes": ')  # a parse killed mid-write
    assert not manifest_is_current(project)
