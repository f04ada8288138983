"""The ``approve_actions`` job: approvals from the Dagster UI follow the CLI's rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from decision_engine.policy import parse_policy
from decision_engine.queue import govern
from orchestration.defs.loop.definitions import approve_actions_job
from orchestration.resources import WarehouseResource
from tests.decision_engine.queue_helpers import budget_action, queue, status, warehouse


def _pending(path: Path) -> str:
    now = datetime.now(UTC)  # outside the sandbox the queue's clock is the wall clock
    con = warehouse(path)
    (action_id,) = queue(con, budget_action("adset9", 118.0, 100.0), stamp=now)  # 18% > the 10% auto limit
    govern(con, parse_policy("version: 1\n", "policy.yaml"), now)
    assert status(con, action_id) == "pending_approval"
    con.close()
    return action_id


@pytest.fixture(autouse=True)
def _real_vendors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPWISE_SOURCES_TARGET", "vendors")


def _run(path: Path, **config: object) -> dg.ExecuteInProcessResult:
    return approve_actions_job.execute_in_process(
        run_config={"ops": {"decide_actions": {"config": config}}},
        resources={"warehouse": WarehouseResource(path=str(path))},
        raise_on_error=False,
    )


def test_the_job_approves_for_the_named_person(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    action_id = _pending(path)
    assert _run(path, action_ids=[action_id], by="dana", reason="seasonal push").success
    con = warehouse(path)
    assert status(con, action_id) == "approved"
    assert con.execute("select approved_by from results.actions").fetchall() == [("dana",)]


@pytest.mark.parametrize("ids", [["no-such-action"], []])
def test_an_unknown_action_fails_the_run_and_changes_nothing(tmp_path: Path, ids: list[str]) -> None:
    path = tmp_path / "w.duckdb"
    action_id = _pending(path)
    result = _run(path, action_ids=ids or ["x"], by="dana", decision="reject")
    assert not result.success
    assert status(warehouse(path), action_id) == "pending_approval"
