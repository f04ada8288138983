"""Run a job of the Loopwise code location in this process, the way ``loopwise demo`` and the tests do.

The run is a run of the code location's job, as if launched from the Dagster UI: it is created
in the instance with the job's origin in the workspace (``workspace.yaml``, location ``loopwise``)
and the job's own snapshot, then executed here with the job's in-process executor. So the UI
lists it under the job's runs and "Re-execute" sees the same version. In-process execution (one
process for the whole run) keeps a run's start-up cost to one Python import and means one
DuckDB writer at a time by construction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.settings import REPO_ROOT, LoopwisePaths, export_paths
from loopwise.recovery import liveness_tags, run_lock, wait_for_pools

DAGSTER_YAML = """\
# Written by loopwise. Every DuckDB writer runs in one pool with a limit of 1.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


# The code location `loopwise dev` (dagster dev) serves, and the module and attribute it loads.
WORKSPACE_FILE = REPO_ROOT / "workspace.yaml"
CODE_LOCATION = "loopwise"
DEFINITIONS_MODULE = "orchestration.definitions"
DEFINITIONS_ATTRIBUTE = "defs"


def prepare_environment(paths: LoopwisePaths) -> None:
    """Point every component at ``paths`` and give Dagster an instance directory."""
    paths.home.mkdir(parents=True, exist_ok=True)
    dagster_home = export_paths(paths)
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)


def prepare_dbt() -> Path:
    from orchestration.defs.transform.project import prepare_manifest

    return prepare_manifest()


def _instance_directory(instance: Any) -> Path | None:
    try:
        return Path(instance.root_directory)
    except (AttributeError, TypeError):
        return None


@dataclass
class RunSummary:
    run_id: str
    success: bool
    elapsed_s: float
    materialized: list[str] = field(default_factory=list)
    check_results: dict[str, bool] = field(default_factory=dict)
    check_severities: dict[str, str] = field(default_factory=dict)
    failed_steps: list[str] = field(default_factory=list)
    # step key -> one line saying why it failed (loopwise.errors.failure_line): what the summary prints
    step_errors: dict[str, str] = field(default_factory=dict)
    asset_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_job(
    job_name: str = "daily_refresh",
    instance: Any = None,
    raise_on_error: bool = False,
    log_level: str = "DEBUG",
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> RunSummary:
    """Execute ``job_name`` from the code location in this process, with ``run_config`` and
    ``tags`` as a sensor's run request gives them (the ``notify`` job after ``incident_pager``).

    A step failure is logged as one line on the console (the code location's console logger,
    ``orchestration/console_log.py``); ``loopwise demo``'s summary says why each step failed.
    """
    import dagster as dg

    started = time.perf_counter()
    job = code_location_job(job_name)
    own_instance = instance is None
    if own_instance:
        from core.settings import load_paths

        prepare_environment(load_paths())
        instance = dg.DagsterInstance.get()
    try:
        # Crash recovery (loopwise/recovery.py): one run per instance at a time; runs whose
        # process is gone are marked failed and their pool slots freed before this one starts.
        with run_lock(_instance_directory(instance)):
            wait_for_pools(instance)
            result = execute_code_location_run(
                job,
                instance,
                run_config={
                    **(run_config or {}),
                    "loggers": {"console": {"config": {"log_level": log_level}}},
                },
                tags={**(tags or {}), **liveness_tags()},
                raise_on_error=raise_on_error,
            )
        summary = RunSummary(
            run_id=result.run_id, success=result.success, elapsed_s=time.perf_counter() - started
        )
        for event in result.all_events:
            if event.is_step_materialization:
                materialization = event.step_materialization_data.materialization
                key = materialization.asset_key.to_user_string()
                summary.materialized.append(key)
                summary.asset_metadata[key] = {k: v.value for k, v in materialization.metadata.items()}
            elif event.event_type_value == "ASSET_CHECK_EVALUATION":
                evaluation = event.event_specific_data
                name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                summary.check_results[name] = bool(evaluation.passed)
                summary.check_severities[name] = evaluation.severity.value
            elif event.is_step_failure:
                summary.failed_steps.append(event.step_key or "?")
                summary.step_errors[event.step_key or "?"] = _failure_line(event)
        return summary
    finally:
        if own_instance:
            instance.dispose()


def code_location_job(job_name: str) -> Any:
    """The job as the code location defines it (``orchestration.definitions.defs``), reconstructable."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    repository = ReconstructableRepository.for_module(
        DEFINITIONS_MODULE, DEFINITIONS_ATTRIBUTE, working_directory=str(REPO_ROOT)
    )
    return repository.get_reconstructable_job(job_name)


def code_location_origin(job_name: str) -> Any:
    """Where the UI finds ``job_name``: the ``loopwise`` location of ``workspace.yaml``, its one repository."""
    from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME
    from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    origins = WorkspaceFileTarget(paths=[str(WORKSPACE_FILE)]).create_origins()
    location = next(origin for origin in origins if origin.location_name == CODE_LOCATION)
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME), job_name)


def execute_code_location_run(
    job: Any, instance: Any, run_config: dict[str, Any], tags: dict[str, str], raise_on_error: bool
) -> Any:
    """Create the run as a launch from the UI would (the job's origin and snapshot) and execute it
    in this process with the job's executor (in-process)."""
    from dagster._core.execution.api import execute_run

    definition = job.get_definition()
    run = instance.create_run_for_job(
        job_def=definition,
        run_config=run_config,
        tags={**definition.run_tags, **tags},
        job_code_origin=job.get_python_origin(),
        remote_job_origin=code_location_origin(definition.name),
    )
    return execute_run(job, run, instance, raise_on_error=raise_on_error)


def _failure_line(event: Any) -> str:
    """Why a step failed, in one line, unwrapped from dlt's "check your credentials" text."""
    from loopwise.errors import failure_line

    data = event.step_failure_data
    return failure_line(getattr(data, "error", None) if data is not None else None)
