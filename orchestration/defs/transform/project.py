"""The one ``DbtProject`` of the code location.

The manifest is built by :func:`prepare_manifest`, which ``loopwise demo``, ``loopwise dev``
and the test session call, and by ``dbt parse`` when ``dagster dev`` loads the code
(``prepare_if_dev``, with the dbt beside the running interpreter, not the one on PATH) if the
project changed since the manifest was written. Every run worker ``dagster dev`` starts imports
this module with the same environment; it finds the manifest current and does not parse again.
Importing this module never runs dbt outside ``dagster dev``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"


def dbt_executable(python: str = sys.executable) -> str:
    """The dbt installed beside this interpreter (the project's virtualenv), whatever PATH says:
    ``dagster dev`` started as ``.venv/bin/dagster dev`` finds it without an activated virtualenv."""
    return str(Path(python).with_name("dbt"))


DBT_EXECUTABLE = dbt_executable()

WITHOUT_UNIT_TESTS = ("--exclude-resource-type", "unit_test")
"""Arguments of every scheduled ``dbt build``. Unit tests check the models' SQL on fixed inputs, not
the data, so they give the same answer on every run of the same code: as dbt recommends, they run
in development and CI (``make test`` builds the project with them, ``tests/dbt``), not in each
production build, where they cost about 3 s of a daily build's 14 s on the `medium` world."""


class LoopwiseDbtProjectPreparer(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer (``dbt parse`` when ``dagster dev`` loads the code), running the dbt
    beside this interpreter instead of the ``dbt`` on PATH, and only when the manifest is not
    current: once per change to the project, not once per process that loads the code (each run
    worker does, about 6 s each on an idle machine)."""

    def prepare_if_dev(self, project: DbtProject) -> None:
        if self.using_dagster_dev() and manifest_is_current(project):
            return
        super().prepare_if_dev(project)

    def _prepare_packages(self, project: DbtProject) -> None:
        DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE).cli(
            ["deps", "--quiet"], target_path=project.target_path
        ).wait()

    def _prepare_manifest(self, project: DbtProject) -> None:
        DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE).cli(
            self._prepare_project_cli_args, target_path=project.target_path
        ).wait()


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def prepare_manifest() -> Path:
    """Parse the dbt project into ``target/manifest.json`` (a few seconds; no warehouse needed)."""
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(
        [
            "parse",
            "--quiet",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(DBT_PROJECT_DIR / dbt_project.target_path),
        ]
    )
    if not result.success:
        raise RuntimeError(f"dbt parse failed: {result.exception}")
    return dbt_project.manifest_path


# dagster-dbt gives every `dbt build` its own directory under target/ (``<asset>-<run id>-<hash>``,
# about 8-10 MB each: run_results.json, a manifest copy, compiled SQL). A build prunes before it starts,
# keeping the previous build's directory, so target/ holds at most two of them.
KEEP_INVOCATION_DIRS = 1


def prune_target(target_dir: Path | None = None, keep: int = KEEP_INVOCATION_DIRS) -> list[Path]:
    """Delete all but the ``keep`` newest per-invocation directories under dbt's ``target/``.

    The parsed project (``manifest.json``, ``partial_parse.msgpack``) lives at the top of
    ``target/`` and is never touched. Returns the directories removed.
    """
    target_dir = target_dir or DBT_PROJECT_DIR / dbt_project.target_path
    if not target_dir.is_dir():
        return []
    invocations = [
        entry
        for entry in target_dir.iterdir()
        if entry.is_dir() and not entry.is_symlink() and entry.name not in ("compiled", "run")
    ]
    invocations.sort(key=lambda entry: entry.stat().st_mtime, reverse=True)
    removed = invocations[keep:]
    for entry in removed:
        shutil.rmtree(entry, ignore_errors=True)
    return removed


# What dbt writes or installs under the project; everything else there is an input to `dbt parse`.
PARSE_OUTPUT_DIRS = ("target", "logs", "dbt_packages")


def _parse_inputs(project: DbtProject) -> list[Path]:
    """The files and folders ``dbt parse`` reads: the project minus its outputs (a folder counts,
    so deleting a model makes the manifest stale too)."""
    outputs = {project.project_dir / name for name in PARSE_OUTPUT_DIRS}
    outputs.add(project.project_dir / project.target_path)
    inputs = []
    for path in project.project_dir.rglob("*"):
        if any(path == output or output in path.parents for output in outputs):
            continue
        if not any(part.startswith(".") for part in path.relative_to(project.project_dir).parts):
            inputs.append(path)
    return inputs


def manifest_is_current(project: DbtProject | None = None) -> bool:
    """Whether ``manifest.json`` loads and is newer than every file ``dbt parse`` reads."""
    project = project or dbt_project
    if manifest_problem(project.manifest_path) is not None:
        return False
    written = project.manifest_path.stat().st_mtime
    return all(path.stat().st_mtime <= written for path in _parse_inputs(project))


def manifest_problem(path: Path | None = None) -> str | None:
    """Why dbt's ``manifest.json`` (default: this project's) cannot be used, or None when it parses.

    A parse killed mid-write leaves it truncated.
    """
    try:
        manifest = json.loads((path or dbt_project.manifest_path).read_bytes())
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as error:
        return f"unreadable: {str(error).splitlines()[0]}"
    if not isinstance(manifest, dict) or "nodes" not in manifest:
        return "not a dbt manifest"
    return None


# Under `dagster dev` (its code location and every run worker it starts): parse if the project changed.
LoopwiseDbtProjectPreparer().prepare_if_dev(dbt_project)
