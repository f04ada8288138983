"""The one ``DbtProject`` of the code location.

The manifest is built by ``dbt parse`` when ``dagster dev`` loads the code
(``prepare_if_dev``) and by :func:`prepare_manifest`, which ``loopwise demo`` and the test
session call; importing this module never runs dbt.
"""

from __future__ import annotations

from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()


def prepare_manifest() -> Path:
    """Parse the dbt project into ``target/manifest.json`` (a few seconds; no warehouse needed)."""
    dbt_project.preparer.prepare(dbt_project)
    return dbt_project.manifest_path
