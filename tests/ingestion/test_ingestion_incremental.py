"""Incremental loading (only new/late data on the second run) and convergence after a
run killed mid-extract or mid-load: the warehouse equals a clean, uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from ingestion_source_runner import settings_to_json
from ingestion_test_helpers import sandbox_settings, table_snapshot

from ingestion import SOURCES, make_pipeline, run_source

RUNNER = Path(__file__).with_name("ingestion_source_runner.py")
REPO = Path(__file__).resolve().parents[2]


def _event_filters(server: Any, since_index: int) -> list[str]:
    return [path for _, path, _ in server.request_log[since_index:] if "/api/events" in path]


def test_second_run_loads_only_new_and_late_data(sandbox: Any, tiny_spec: Any, tmp_path: Path) -> None:
    world = sandbox.World(tiny_spec)
    with sandbox.SandboxServer(world) as server:
        settings = sandbox_settings(server, tiny_spec)
        incremental_db, pipelines_dir = tmp_path / "incremental.duckdb", tmp_path / "dlt"
        first = {
            name: run_source(name, incremental_db, settings, pipelines_dir=pipelines_dir)[1]
            for name in SOURCES
        }
        world.advance(days=3)
        mark = len(server.request_log)
        second = {
            name: run_source(name, incremental_db, settings, pipelines_dir=pipelines_dir)[1]
            for name in SOURCES
        }
        # the second run asked only for recent events (3-day lookback), so it read far fewer rows
        assert _event_filters(server, mark), "no events request on the second run"
        assert 0 < second["klaviyo"].row_counts["events"] < first["klaviyo"].row_counts["events"]
        assert (
            0
            < second["meta_ads"].row_counts["ad_insights_daily"]
            < first["meta_ads"].row_counts["ad_insights_daily"]
        )
        assert (
            second["google_ads"].row_counts["ad_group_ad_daily"]
            < first["google_ads"].row_counts["ad_group_ad_daily"]
        )
        # ... and the result equals one full run over the advanced world (late data included)
        fresh_db = tmp_path / "fresh.duckdb"
        for name in SOURCES:
            run_source(name, fresh_db, settings, pipelines_dir=tmp_path / "dlt_fresh")
    for name in SOURCES:
        dataset = f"raw_{name}"
        incremental, fresh = table_snapshot(incremental_db, dataset), table_snapshot(fresh_db, dataset)
        assert {t: len(r) for t, r in incremental.items()} == {t: len(r) for t, r in fresh.items()}, dataset
        assert incremental == fresh, dataset


def _spawn(arguments: dict[str, Any]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RUNTIME__DLTHUB_TELEMETRY": "false"}
    return subprocess.Popen(
        [sys.executable, str(RUNNER), json.dumps(arguments)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("kill", ["mid-extract", "during-load"])
def test_killed_run_then_rerun_equals_clean_run(
    kill: str, tiny_spec: Any, shared_server: Any, clean_load: dict[str, Any], tmp_path: Path
) -> None:
    name = "klaviyo"
    settings = sandbox_settings(shared_server, tiny_spec)
    killed_db, pipelines_dir = tmp_path / "killed.duckdb", tmp_path / "dlt"
    arguments = {
        "name": name,
        "duckdb_path": str(killed_db),
        "pipelines_dir": str(pipelines_dir),
        "settings": settings_to_json(settings),
        "mode": {
            "mid-extract": "run",
            "after-normalize": "kill-after-normalize",
            "during-load": "kill-during-load",
        }[kill],
        "statements": 29,  # of ~33 SQL statements in a tiny Klaviyo load: some tables merged, others not
    }
    mark = len(shared_server.request_log)
    process = _spawn(arguments)
    if kill == "mid-extract":
        deadline = time.monotonic() + 60
        while (
            len(shared_server.request_log) < mark + 8
            and process.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, stderr.decode()[-2000:]

    if kill == "during-load":  # the package is still pending: the re-run must finish it
        assert make_pipeline(name, killed_db, pipelines_dir).has_pending_data
    _, stats = run_source(name, killed_db, settings, pipelines_dir=pipelines_dir)
    killed, clean = table_snapshot(killed_db, f"raw_{name}"), clean_load["snapshots"][f"raw_{name}"]
    assert {t: len(r) for t, r in killed.items()} == {t: len(r) for t, r in clean.items()}
    assert killed == clean
    assert stats.row_counts["events"] > 0


def test_hubspot_search_pages_past_the_result_cap(sandbox: Any, tiny_spec: Any, tmp_path: Path) -> None:
    """With a cap of 100 results per query and pages of 40, the walk must restart from the
    last seen timestamp (twice) and still load every contact exactly once."""
    from dataclasses import replace

    spec = replace(tiny_spec, hubspot_search_cap=100)
    world = sandbox.World(spec)
    with sandbox.SandboxServer(world) as server:
        settings = sandbox_settings(server, spec, hubspot_search_cap=100, hubspot_page_size=40)
        _, stats = run_source(
            "hubspot", tmp_path / "w.duckdb", settings, pipelines_dir=tmp_path / "dlt", resources=["contacts"]
        )
        searches = [status for _, path, status in server.request_log if path.endswith("/contacts/search")]
    from sandbox.truth import build_truth

    expected = build_truth(world)["record_counts"]["hubspot.contacts"]
    assert expected > 100
    assert searches and set(searches) == {200}  # never ran into the vendor's 400
    assert len(searches) >= expected // 40 + 1
    snapshot = table_snapshot(tmp_path / "w.duckdb", "raw_hubspot")
    quarantined = sum(1 for row in snapshot.get("quarantine", []) if row[1] == "contacts")
    assert len(snapshot["contacts"]) + quarantined == expected
