"""Runs made by ``loopwise demo`` (``loopwise.runner.run_job``) are runs of the code location's jobs:
the UI lists them under the job (its Runs tab filters on the job name and the code location's
repository label) with the job snapshot the code location reports, so "Re-execute" sees the
same version."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG


@pytest.fixture(scope="module")
def code_location_jobs(pipeline_home) -> dict[str, tuple[str, str]]:
    """job name -> (snapshot id, repository label) as ``dagster dev`` sees them: the workspace
    loaded from ``workspace.yaml`` through its own code server process."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    from loopwise.runner import CODE_LOCATION, WORKSPACE_FILE

    target = WorkspaceFileTarget(paths=[str(WORKSPACE_FILE)])
    with WorkspaceProcessContext(pipeline_home.instance, target) as context:
        location = context.create_request_context().get_code_location(CODE_LOCATION)
        (repository,) = location.get_repositories().values()
        return {
            job.name: (job.identifying_job_snapshot_id, job.get_remote_origin().repository_origin.get_label())
            for job in repository.get_all_jobs()
        }


def test_the_daily_run_is_listed_under_the_job_with_its_snapshot(pipeline_home, code_location_jobs) -> None:
    snapshot_id, label = code_location_jobs["daily_refresh"]
    runs = pipeline_home.instance.get_runs(
        filters=dg.RunsFilter(job_name="daily_refresh", tags={REPOSITORY_LABEL_TAG: label})
    )
    run = next(run for run in runs if run.run_id == pipeline_home.first_run.run_id)
    assert run.job_snapshot_id == snapshot_id
    assert run.remote_job_origin is not None
    assert run.remote_job_origin.location_name == "loopwise"
    assert run.is_success


def test_a_job_executed_the_old_way_would_not_match(pipeline_home, code_location_jobs) -> None:
    """What the demo did before: ``execute_in_process`` runs an ephemeral copy of the job (another
    executor and IO manager), whose snapshot differs from the code location's."""
    from orchestration.definitions import build_defs

    job = build_defs().resolve_job_def("daily_refresh")
    ephemeral = job.as_ephemeral_job(resource_defs={}, input_values={})
    assert job.get_job_snapshot_id() == code_location_jobs["daily_refresh"][0]
    assert ephemeral.get_job_snapshot_id() != code_location_jobs["daily_refresh"][0]
