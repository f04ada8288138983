"""Run the Loopwise Dagster job in-process, the way ``loopwise demo`` and the tests do.

In-process execution (one process for the whole run) keeps a run's start-up cost to one
Python import and means one DuckDB writer at a time by construction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.settings import LoopwisePaths, export_paths
from loopwise.recovery import liveness_tags, run_lock, wait_for_pools

DAGSTER_YAML = """\
# Written by loopwise. Every DuckDB writer runs in one pool with a limit of 1.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


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
    brief_failures: bool = False,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> RunSummary:
    """Execute ``job_name`` from the code location in this process, with ``run_config`` and
    ``tags`` as a sensor's run request gives them (the ``notify`` job after ``incident_pager``).

    ``brief_failures`` logs a step failure as one line on the console (``loopwise demo``: the
    summary then says why each step failed).
    """
    import dagster as dg

    from orchestration.definitions import build_defs

    started = time.perf_counter()
    defs = build_defs()
    job = defs.resolve_job_def(job_name)
    if brief_failures:
        from loopwise.console_log import brief_console_logger

        job = job.with_logger_defs({"console": brief_console_logger})
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
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=raise_on_error,
                run_config={
                    **(run_config or {}),
                    "loggers": {"console": {"config": {"log_level": log_level}}},
                },
                tags={**(tags or {}), **liveness_tags()},
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


def _failure_line(event: Any) -> str:
    """Why a step failed, in one line, unwrapped from dlt's "check your credentials" text."""
    from loopwise.errors import failure_line

    data = event.step_failure_data
    return failure_line(getattr(data, "error", None) if data is not None else None)
