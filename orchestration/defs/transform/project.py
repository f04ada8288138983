"""The one ``DbtProject`` of the code location.

The manifest is built by ``dbt parse`` when ``dagster dev`` loads the code
(``prepare_if_dev``) and by :func:`prepare_manifest`, which ``loopwise demo`` and the test
session call; importing this module never runs dbt.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"
# The dbt installed beside this interpreter (the project's virtualenv), whatever PATH says.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()


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
