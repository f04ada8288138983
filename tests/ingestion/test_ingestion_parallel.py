"""Parallel extraction of Klaviyo event windows: same rows as serial, a shared backoff, and a
failed window that leaves the incremental cursor where it was."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from ingestion_test_helpers import sandbox_settings, table_snapshot
from test_ingestion_http import CannedAdapter

from ingestion import make_pipeline, run_source
from ingestion.config import RetryPolicy
from ingestion.http import RetryingSession, SharedBackoff
from ingestion.windows import Window, day_windows, fetch_windows

EVENTS_ONLY = ["events"]


def _events_requests(server: Any, since: int = 0) -> int:
    return sum(1 for _, path, _ in server.request_log[since:] if path.endswith("/api/events"))


def test_day_windows_cover_the_range_without_gaps_and_end_open() -> None:
    start = datetime(2026, 1, 5, 13, 30, tzinfo=UTC)
    windows = day_windows(start, datetime(2026, 1, 8, tzinfo=UTC))
    assert windows == [
        Window(start, datetime(2026, 1, 6, tzinfo=UTC)),
        Window(datetime(2026, 1, 6, tzinfo=UTC), datetime(2026, 1, 7, tzinfo=UTC)),
        Window(datetime(2026, 1, 7, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC)),
        Window(datetime(2026, 1, 8, tzinfo=UTC), None),
    ]
    assert day_windows(start, start) == [Window(start, None)]


def test_fetch_windows_yields_every_item_and_raises_the_first_error() -> None:
    windows = [Window(datetime(2026, 1, day, tzinfo=UTC)) for day in range(1, 11)]

    def fetch(window: Window) -> list[int]:
        return [window.start.day * 100 + n for n in range(5)]

    serial = sorted(fetch_windows(windows, fetch, workers=1))
    assert sorted(fetch_windows(windows, fetch, workers=4)) == serial
    assert len(serial) == 50

    def failing(window: Window) -> list[int]:
        if window.start.day == 6:
            raise RuntimeError("vendor gave up")
        return fetch(window)

    with pytest.raises(RuntimeError, match="vendor gave up") as raised:
        list(fetch_windows(windows, failing, workers=4))
    assert any("2026-01-06" in note for note in raised.value.__notes__)
    workers_alive = [t for t in threading.enumerate() if t.name.startswith("window-worker")]
    assert not workers_alive, "workers still running after the failure"


def test_a_429_seen_by_one_worker_pauses_the_others() -> None:
    """Worker A is throttled (Retry-After: 2); worker B's next request waits for that pause."""
    now = {"t": 100.0}
    gate_sleeps: list[float] = []

    def gate_sleep(seconds: float) -> None:
        gate_sleeps.append(seconds)
        now["t"] += seconds

    backoff = SharedBackoff(clock=lambda: now["t"], sleep=gate_sleep)
    policy = RetryPolicy(backoff_base_seconds=0.01)
    sent_at: dict[str, list[float]] = {"a": [], "b": []}

    def session(name: str, answers: list[object]) -> RetryingSession:
        adapter = CannedAdapter(answers)
        original = adapter.send

        def send(request, **kwargs):  # type: ignore[no-untyped-def]
            sent_at[name].append(now["t"])
            return original(request, **kwargs)

        adapter.send = send  # type: ignore[method-assign]
        worker = RetryingSession("klaviyo", policy, sleep=lambda _: None, backoff=backoff)
        worker.mount("http://", adapter)
        return worker

    a = session("a", [(429, {"Retry-After": "2"}, {}), (200, {}, {"data": []})])
    b = session("b", [(200, {}, {"data": []}), (200, {}, {"data": []})])
    assert b.get("http://vendor/api/events").status_code == 200  # before the 429: no wait
    assert a.get("http://vendor/api/events").status_code == 200  # throttled once, then served
    assert b.get("http://vendor/api/events").status_code == 200
    assert sent_at["b"][0] == 100.0
    assert sent_at["b"][1] >= 102.0, "B did not wait for the pause A was told to take"
    assert sum(gate_sleeps) >= 2.0
    assert backoff.waited_seconds >= 2.0


def test_parallel_windows_load_exactly_the_serial_rows(
    shared_server: Any, tiny_spec: Any, tmp_path: Path
) -> None:
    loaded = {}
    requests_made = {}
    for workers in (1, 4):
        settings = sandbox_settings(shared_server, tiny_spec, klaviyo_events_workers=workers)
        mark = len(shared_server.request_log)
        path = tmp_path / f"w{workers}.duckdb"
        run_source("klaviyo", path, settings, pipelines_dir=tmp_path / f"dlt{workers}", resources=EVENTS_ONLY)
        requests_made[workers] = _events_requests(shared_server, mark)
        loaded[workers] = table_snapshot(path, "raw_klaviyo")
    assert requests_made[4] > requests_made[1], "the parallel run did not split the range"
    assert len(loaded[1]["events"]) > 1000
    assert loaded[1]["quarantine"], "the tiny world's malformed events should be quarantined"
    assert loaded[4] == loaded[1]


def test_parallel_windows_under_rate_limits_load_every_row(
    sandbox: Any, tiny_spec: Any, clean_load: dict[str, Any], tmp_path: Path
) -> None:
    world = sandbox.World(tiny_spec)
    faults = sandbox.FaultConfig(rate_limit_every=15, retry_after_seconds=1, vendors=("klaviyo",))
    with sandbox.SandboxServer(world, faults=faults) as server:
        settings = sandbox_settings(server, tiny_spec, klaviyo_events_workers=4)
        path = tmp_path / "w.duckdb"
        run_source("klaviyo", path, settings, pipelines_dir=tmp_path / "dlt", resources=EVENTS_ONLY)
        throttled = sum(1 for _, p, status in server.request_log if status == 429)
    assert throttled > 0
    loaded = table_snapshot(path, "raw_klaviyo")
    clean = clean_load["snapshots"]["raw_klaviyo"]
    assert loaded["events"] == clean["events"]


def _cursor(path: Path, pipelines_dir: Path) -> Any:
    state = make_pipeline("klaviyo", path, pipelines_dir).state
    return state["sources"]["klaviyo"]["resources"]["events"]["incremental"]["occurred_at"]["last_value"]


def test_a_failed_window_leaves_the_cursor_and_the_rerun_converges(
    sandbox: Any, tiny_spec: Any, tmp_path: Path
) -> None:
    from dlt.pipeline.exceptions import PipelineStepFailed

    from sandbox.vendors.base import Response

    world = sandbox.World(tiny_spec)
    with sandbox.SandboxServer(world) as server:
        settings = sandbox_settings(server, tiny_spec, klaviyo_events_workers=4)
        path, pipelines_dir = tmp_path / "w.duckdb", tmp_path / "dlt"
        run_source("klaviyo", path, settings, pipelines_dir=pipelines_dir, resources=EVENTS_ONLY)
        cursor_before = _cursor(path, pipelines_dir)
        events_before = table_snapshot(path, "raw_klaviyo")["events"]

        world.advance(days=5)
        day = world.clock.date().fromordinal(world.clock.date().toordinal() - 2)
        broken = f"less-than(datetime,{day.isoformat()}T00:00:00+00:00)"  # the window ending there
        original = server.dispatch

        def failing(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Any:
            if "/api/events" in raw_path and broken in unquote_plus(raw_path):
                return Response(503, {"errors": [{"detail": "unavailable"}]})
            return original(method, raw_path, headers, body)

        server.dispatch = failing
        with pytest.raises(PipelineStepFailed, match="503"):
            run_source("klaviyo", path, settings, pipelines_dir=pipelines_dir, resources=EVENTS_ONLY)
        failed = [p for _, p, status in server.request_log if status == 503]
        assert failed, "the broken window was never requested"
        assert _cursor(path, pipelines_dir) == cursor_before
        assert table_snapshot(path, "raw_klaviyo")["events"] == events_before  # nothing half-loaded

        server.dispatch = original
        run_source("klaviyo", path, settings, pipelines_dir=pipelines_dir, resources=EVENTS_ONLY)
        assert _cursor(path, pipelines_dir) > cursor_before
        fresh = tmp_path / "fresh.duckdb"
        run_source("klaviyo", fresh, settings, pipelines_dir=tmp_path / "dlt_fresh", resources=EVENTS_ONLY)
    assert table_snapshot(path, "raw_klaviyo") == table_snapshot(fresh, "raw_klaviyo")


def test_settings_read_the_worker_count_from_the_environment() -> None:
    from ingestion.config import SourceSettings

    assert SourceSettings().klaviyo_events_workers == 4
    settings = SourceSettings.from_env({"SOURCES__KLAVIYO__EVENTS_WORKERS": "2"})
    assert settings.klaviyo_events_workers == 2
    assert SourceSettings.from_env({"SOURCES__KLAVIYO__EVENTS_WORKERS": "0"}).klaviyo_events_workers == 1


def test_day_windows_load_each_event_once_without_dlts_own_dedup(
    shared_server: Any, tiny_spec: Any, tmp_path: Path
) -> None:
    """With day windows the events resource drops repeats itself, so the merge dlt runs has no
    ROW_NUMBER() pass (the hint `events_hints` sets); every repeat the world serves still loads once.
    The resource also sets dlt's row id, so dlt imports its files without rewriting them."""
    import duckdb

    from sandbox.truth import build_truth

    repeated = {
        d["record_id"]
        for d in build_truth(shared_server.world)["duplicates"]
        if (d["vendor"], d["resource"]) == ("klaviyo", "events")
    }
    assert len(repeated) > 5, "the tiny world should serve some events twice"
    settings = sandbox_settings(shared_server, tiny_spec, klaviyo_events_workers=4)
    path, pipelines = tmp_path / "w.duckdb", tmp_path / "dlt"
    run_source("klaviyo", path, settings, pipelines_dir=pipelines, resources=EVENTS_ONLY)
    merges = [sql.read_text() for sql in pipelines.glob("*/load/loaded/*/completed_jobs/events.*.sql")]
    assert merges and not any("ROW_NUMBER" in sql.upper() for sql in merges)
    with duckdb.connect(str(path), read_only=True) as con:
        rows, distinct = con.execute(
            "select count(*), count(distinct event_id) from raw_klaviyo.events"
        ).fetchone()
        loaded_repeats = con.execute(
            "select count(*) from raw_klaviyo.events where event_id in (select unnest(?))", [sorted(repeated)]
        ).fetchone()[0]
        unlabelled = con.execute(
            "select count(*) from raw_klaviyo.events where _dlt_id is distinct from event_id"
        ).fetchone()[0]
    assert rows == distinct
    assert loaded_repeats == len(repeated)
    assert unlabelled == 0, "each event's dlt row id is its event_id (ingestion.validation.with_row_ids)"


def test_first_of_each_key_keeps_the_first_row_of_each_key_across_tables() -> None:
    import pyarrow as pa

    from ingestion.validation import first_of_each_key

    quarantined = {"reason": "bad"}
    items = [
        pa.table({"id": ["a", "b", "a"], "n": [1, 2, 3]}),
        quarantined,
        pa.table({"id": ["b", "b"], "n": [4, 5]}),
        pa.table({"id": ["c", "a"], "n": [6, 7]}),
    ]
    out = list(first_of_each_key(items, "id"))
    assert out[1] is quarantined
    tables = [item for item in out if isinstance(item, pa.Table)]
    assert [t.to_pydict() for t in tables] == [{"id": ["a", "b"], "n": [1, 2]}, {"id": ["c"], "n": [6]}]
