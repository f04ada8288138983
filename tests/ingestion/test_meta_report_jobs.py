"""Meta insights over long ranges come from an asynchronous report job, with the same rows.

The first load reads the whole history: one report job (POST, status reads until "Job Completed",
then its rows paged) instead of a synchronous request per 31-day window. A failed job falls back
to the windows; a job that never completes fails the load with a clear error; daily runs (the
last 7 days) stay synchronous.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from ingestion_test_helpers import sandbox_settings, table_snapshot

from ingestion import meta_ads, run_source
from ingestion.http import VendorAPIError


@pytest.fixture(scope="module")
def world_spec(sandbox: Any) -> Any:
    return sandbox.WorldSpec.preset("tiny", days=75)  # history longer than two 31-day windows


def _serve(sandbox: Any, spec: Any, **faults: Any) -> Any:
    return sandbox.SandboxServer(
        sandbox.World(spec), faults=sandbox.FaultConfig(**faults) if faults else None
    )


def _settings(server: Any, spec: Any, **overrides: Any) -> Any:
    clock = server.world.clock
    return sandbox_settings(
        server, spec, end_date=(clock - timedelta(days=1)).date(), observed_on=clock.date(), **overrides
    )


def _insight_calls(server: Any) -> dict[str, int]:
    calls = {"job_start": 0, "job_status": 0, "job_rows": 0, "sync": 0}
    for method, path, status in server.request_log:
        if "/insights" in path and "/act_" in path:
            calls["job_start" if method == "POST" else "sync"] += status == 200
        elif path.rstrip("/").endswith("/insights"):
            calls["job_rows"] += status == 200
        elif path.rstrip("/").split("/")[-1].isdigit() and method == "GET" and "/meta/" in path:
            calls["job_status"] += status == 200
    return calls


def _load_insights(settings: Any, directory: Any, name: str) -> None:
    """Load Meta's insights into ``<directory>/<name>.duckdb`` with a pipeline of that name."""
    run_source(
        "meta_ads",
        directory / f"{name}.duckdb",
        settings,
        pipelines_dir=directory / f"dlt_{name}",
        resources=["ad_insights_daily"],
    )


def _insights(path: Any) -> list[tuple[Any, ...]]:
    return table_snapshot(path, "raw_meta_ads")["ad_insights_daily"]


def test_the_first_load_reads_one_report_job_and_gets_the_windows_rows(
    sandbox: Any, world_spec: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(meta_ads, "PAGE_LIMIT", 50)  # the job's rows come in several pages
    with _serve(sandbox, world_spec) as server:
        settings = _settings(server, world_spec)
        _load_insights(settings, tmp_path, "job")
        calls = _insight_calls(server)
        assert calls["job_start"] == 1 and calls["job_status"] == 2 and calls["job_rows"] >= 2
        assert calls["sync"] == 0

        server.request_log.clear()
        with monkeypatch.context() as sync_only:  # the same range in synchronous 31-day windows
            sync_only.setattr(meta_ads, "WINDOW_DAYS", 31)
            sync_only.setattr(meta_ads, "run_report_job", lambda *args, **kwargs: None)
            _load_insights(settings, tmp_path, "sync")
        assert _insight_calls(server)["sync"] >= 3  # 75 days: three windows at least
        rows = _insights(tmp_path / "job.duckdb")
        assert len(rows) > 0 and rows == _insights(tmp_path / "sync.duckdb")

        server.request_log.clear()  # the next run re-reads the last 7 days: synchronous
        _load_insights(settings, tmp_path, "job")
        calls = _insight_calls(server)
        assert calls["job_start"] == 0 and calls["sync"] >= 1


def test_a_failed_report_job_falls_back_to_windows(
    sandbox: Any, world_spec: Any, tmp_path: Any, caplog: Any
) -> None:
    with _serve(sandbox, world_spec, meta_report_job_failure_rate=1.0) as server:
        settings = _settings(server, world_spec)
        with caplog.at_level("WARNING", logger="ingestion.meta_ads"):
            _load_insights(settings, tmp_path, "w")
        calls = _insight_calls(server)
        assert calls["job_start"] == 1 and calls["job_rows"] == 0 and calls["sync"] >= 3
        assert "ended 'Job Failed'; reading 31-day windows instead" in caplog.text
        assert len(_insights(tmp_path / "w.duckdb")) > 0


def test_a_report_job_that_does_not_complete_in_time_fails_with_a_clear_error(
    sandbox: Any, world_spec: Any
) -> None:
    with _serve(sandbox, world_spec) as server:
        settings = _settings(
            server, world_spec, meta_report_timeout_seconds=0.0, meta_report_poll_seconds=0.0
        )
        client = meta_ads.meta_client(settings)
        with pytest.raises(
            VendorAPIError, match=r"insights report \d+ still 'Job Running' \(50%\) after 0 s"
        ):
            meta_ads.run_report_job(client, settings, settings.start_date, settings.ads_end_date())
