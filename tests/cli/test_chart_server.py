"""The chart server ``loopwise dev`` starts, and the previews and chart links the UI shows."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from core.chart_server import start_chart_server
from orchestration.previews import chart_links, chart_url, markdown_table, preview


@pytest.fixture
def served(tmp_path):
    reports = tmp_path / "reports"
    (reports / "budget").mkdir(parents=True)
    (reports / "budget" / "budget_curves.html").write_text("<html>curves</html>")
    (tmp_path / "secret.txt").write_text("not a chart")
    server = start_chart_server(reports, port=0)
    try:
        yield server, reports, tmp_path
    finally:
        server.shutdown()
        server.server_close()


def _get(server, path: str, method: str = "GET") -> tuple[int, bytes]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=5)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_serves_charts_read_only_from_localhost(served) -> None:
    server, _reports, _home = served
    assert server.server_address[0] == "127.0.0.1"
    assert _get(server, "/budget/budget_curves.html") == (200, b"<html>curves</html>")
    assert _get(server, "/budget/budget_curves.html", "POST")[0] == 501
    assert _get(server, "/budget/budget_curves.html", "PUT")[0] == 501


def test_serves_nothing_outside_the_reports_directory(served) -> None:
    server, reports, home = served
    assert _get(server, "/../secret.txt")[0] == 404
    assert _get(server, "/budget/../../secret.txt")[0] == 404
    assert _get(server, "/%2e%2e/secret.txt")[0] == 404
    (reports / "link.txt").symlink_to(home / "secret.txt")
    assert _get(server, "/link.txt")[0] == 404
    assert _get(server, "/")[0] == 404  # no listings
    assert _get(server, "/budget/")[0] == 404


def test_chart_links_point_at_the_server(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LOOPWISE_CHARTS_URL", "http://127.0.0.1:4100/")
    reports = tmp_path / "reports"
    chart = reports / "experiments" / "lift_campaign_ab:c1.html"
    assert chart_url(chart, reports) == "http://127.0.0.1:4100/experiments/lift_campaign_ab:c1.html"
    links = chart_links([chart], reports).value
    assert "[lift_campaign_ab:c1](http://127.0.0.1:4100/experiments/lift_campaign_ab:c1.html)" in links
    assert "No charts" in chart_links([], reports).value


def test_markdown_table_escapes_cells_and_says_what_it_leaves_out() -> None:
    table = markdown_table(
        ["entity", "value", "day"], [("a|b", 1234.5, date(2026, 5, 1)), ("c", None, None)], total=7
    )
    lines = table.splitlines()
    assert lines[0] == "| entity | value | day |"
    assert lines[2] == "| a\\|b | 1,234.50 | 2026-05-01 |"
    assert lines[3] == "| c |  |  |"
    assert lines[-1] == "_2 of 7 rows._"
    assert markdown_table(["a"], []) == "_No rows in the latest analysis._"


def test_preview_shows_the_latest_analysis_biggest_moves_first(tmp_path) -> None:
    from datetime import UTC, datetime

    import pandas as pd

    from decision_engine.store import write_results

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    old, new = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 2, tzinfo=UTC)
    for stamp, moves in (
        (old, [("stale", 1.0, 999.0)]),
        (new, [("small", 100.0, 101.0), ("big", 100.0, 120.0)]),
    ):
        frame = pd.DataFrame(
            [{"platform": "meta_ads", "ad_id": ad, "current_daily_spend": current,
              "recommended_daily_budget": recommended, "analysis_timestamp": stamp, "analysis_date": stamp.date()}
             for ad, current, recommended in moves]
        )  # fmt: skip
        write_results(con, "budget_recommendations", frame, replace_where=("analysis_date",))
    rows = [line for line in preview(con, "budget_recommendations").value.splitlines() if "meta_ads" in line]
    con.close()
    assert [row.split(" | ")[2] for row in rows] == ["big", "small"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux-only")
def test_the_server_process_stops_when_its_parent_dies(tmp_path) -> None:
    """``loopwise dev`` execs into ``dagster dev``; the chart server must not outlive it."""
    script = (
        "import sys, time; from pathlib import Path; from loopwise.commands.demo import start_chart_server_process; "
        f"start_chart_server_process(Path({str(tmp_path)!r}), 0); print('started', flush=True); time.sleep(30)"
    )
    repo = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=repo, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "started"
        children = _children(parent.pid)
        assert children, "no chart server child"
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(
        Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in children
    ):
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in children)


def _children(pid: int) -> list[int]:
    for _ in range(50):
        found = Path(f"/proc/{pid}/task/{pid}/children")
        if found.exists() and found.read_text().split():
            return [int(child) for child in found.read_text().split()]
        time.sleep(0.1)
    return []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return True
