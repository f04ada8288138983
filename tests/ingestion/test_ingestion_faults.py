"""Throttling, server errors and timeouts are retried (Retry-After honoured, Meta's
HTTP-400 code 17 included); secrets never reach logs or exceptions."""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ingestion_test_helpers import FAST_RETRY, sandbox_settings, table_snapshot

from ingestion import run_source

KLAVIYO_SMALL = ["metrics", "flows", "flow_actions"]


def _statuses(server: Any, vendor_prefix: str) -> list[int]:
    return [status for _, path, status in server.request_log if path.startswith(vendor_prefix)]


def _reference(clean_load: dict[str, Any], dataset: str, tables: list[str] | None = None) -> Any:
    snapshot = clean_load["snapshots"][dataset]
    return snapshot if tables is None else {t: rows for t, rows in snapshot.items() if t in tables}


def test_rate_limits_are_retried_honouring_retry_after(
    sandbox: Any, tiny_spec: Any, clean_load: dict[str, Any], tmp_path: Path
) -> None:
    faults = sandbox.FaultConfig(rate_limit_every=3, retry_after_seconds=1)
    with sandbox.SandboxServer(sandbox.World(tiny_spec), faults=faults) as server:
        settings = sandbox_settings(server, tiny_spec)
        started = time.monotonic()
        run_source(
            "klaviyo",
            tmp_path / "w.duckdb",
            settings,
            pipelines_dir=tmp_path / "dlt",
            resources=KLAVIYO_SMALL,
        )
        elapsed = time.monotonic() - started
        throttled = _statuses(server, "/klaviyo").count(429)
    assert throttled >= 2
    assert elapsed >= throttled * 1.0  # every 429 waited at least its Retry-After
    assert table_snapshot(tmp_path / "w.duckdb", "raw_klaviyo") == _reference(
        clean_load, "raw_klaviyo", KLAVIYO_SMALL
    )


def test_meta_code_17_throttling_is_retried(
    sandbox: Any, tiny_spec: Any, clean_load: dict[str, Any], tmp_path: Path
) -> None:
    faults = sandbox.FaultConfig(rate_limit_every=2)
    with sandbox.SandboxServer(sandbox.World(tiny_spec), faults=faults) as server:
        settings = sandbox_settings(server, tiny_spec)
        run_source("meta_ads", tmp_path / "w.duckdb", settings, pipelines_dir=tmp_path / "dlt")
        statuses = _statuses(server, "/meta")
    assert statuses.count(400) >= 1 and statuses[-1] == 200
    assert table_snapshot(tmp_path / "w.duckdb", "raw_meta_ads") == _reference(clean_load, "raw_meta_ads")


def test_server_errors_and_timeouts_are_retried(
    sandbox: Any, tiny_spec: Any, clean_load: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ingestion.http")
    faults = sandbox.FaultConfig(error_rate=0.25, timeout_rate=0.15, timeout_seconds=1.0)
    with sandbox.SandboxServer(sandbox.World(tiny_spec), faults=faults) as server:
        settings = sandbox_settings(server, tiny_spec, retry=replace(FAST_RETRY, timeout_seconds=0.4))
        run_source("hubspot", tmp_path / "w.duckdb", settings, pipelines_dir=tmp_path / "dlt")
        statuses = _statuses(server, "/hubspot")
    assert any(status >= 500 for status in statuses)
    assert "ReadTimeout" in caplog.text  # a stalled request timed out client-side and was retried
    assert table_snapshot(tmp_path / "w.duckdb", "raw_hubspot") == _reference(clean_load, "raw_hubspot")


def test_google_throttling_is_retried(sandbox: Any, tiny_spec: Any, tmp_path: Path) -> None:
    faults = sandbox.FaultConfig(rate_limit_every=1, retry_after_seconds=1)
    with sandbox.SandboxServer(sandbox.World(tiny_spec), faults=faults) as server:
        settings = sandbox_settings(server, tiny_spec, retry=replace(FAST_RETRY, max_attempts=2))
        with pytest.raises(
            Exception, match=r"google_ads POST /google-ads/v26/customers/\d+/googleAds:searchStream"
        ):
            run_source("google_ads", tmp_path / "w.duckdb", settings, pipelines_dir=tmp_path / "dlt")
        assert _statuses(server, "/google-ads") == [429, 429]


CANARY = "canary-7f3a9c-do-not-log"


def test_secret_canary_never_appears_in_logs_or_errors(
    sandbox: Any,
    tiny_spec: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    spec = replace(tiny_spec, api_keys={**tiny_spec.api_keys, "klaviyo": CANARY, "meta": CANARY + "-meta"})
    caplog.set_level(logging.DEBUG)
    with sandbox.SandboxServer(sandbox.World(spec), faults=sandbox.FaultConfig(rate_limit_every=5)) as server:
        settings = sandbox_settings(server, spec)
        run_source("meta_ads", tmp_path / "w.duckdb", settings, pipelines_dir=tmp_path / "dlt")
        run_source(
            "klaviyo", tmp_path / "w.duckdb", settings, pipelines_dir=tmp_path / "dlt", resources=["metrics"]
        )
        # a wrong key: the 401 error names vendor, endpoint and status, never the key
        wrong = replace(settings, klaviyo_api_key=CANARY + "-wrong", meta_access_token=CANARY + "-wrong")
        for name in ("klaviyo", "meta_ads"):
            with pytest.raises(Exception) as caught:
                run_source(name, tmp_path / "x.duckdb", wrong, pipelines_dir=tmp_path / "dlt_wrong")
            text = "".join(traceback.format_exception(caught.value))
            assert "401" in text and CANARY not in text
    captured = capfd.readouterr()
    assert caplog.records
    for text in (caplog.text, captured.out, captured.err, repr(settings), repr(wrong)):
        assert CANARY not in text
