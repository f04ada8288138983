"""`dagster dev` without the virtualenv on PATH: dbt is found beside the running interpreter."""

from __future__ import annotations

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
