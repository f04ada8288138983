"""``loopwise actions``: list, show, approve, reject on a real warehouse; bad input is one line."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import duckdb
import pytest

from decision_engine.actions import ProposedAction, write_actions
from decision_engine.policy import Policy
from decision_engine.queue import govern
from loopwise.cli import main

NOW = datetime.now(UTC)


def _budget(target: str, new: float) -> ProposedAction:
    return ProposedAction(
        source="budget",
        action_type="set_daily_budget",
        platform="meta_ads",
        target_id=target,
        payload={
            "daily_budget": new,
            "current_daily_budget": 100.0,
            "currency": "USD",
            "entity_type": "adset",
        },
        reason="Higher marginal return",
        auto_apply_allowed=True,
    )


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("LOOPWISE_WAREHOUSE_PATH", raising=False)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    write_actions(con, [_budget("adset1", 105.0), _budget("adset2", 115.0)], NOW, date(2026, 5, 1))
    govern(con, Policy(), NOW)
    con.close()
    return tmp_path


def _ids(home) -> dict[str, str]:
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        return dict(con.execute("select target_id, action_id from results.actions").fetchall())
    finally:
        con.close()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_the_queue_as_a_table_and_as_json(home, capsys):
    code, out, _ = _run(capsys, "actions", "list", "--home", str(home))
    assert code == 0
    assert "auto_approved" in out and "pending_approval" in out and "budget 100 -> 115 USD" in out
    code, out, _ = _run(capsys, "actions", "list", "--home", str(home), "--status", "pending_approval",
                        "--format", "json")  # fmt: skip
    listed = json.loads(out)["actions"]
    assert [a["target_id"] for a in listed] == ["adset2"]
    assert listed[0]["policy_reason_code"] == "above_auto_approve"


def test_approve_then_show_prints_the_verdict_and_events(home, capsys):
    pending = _ids(home)["adset2"]
    code, out, _ = _run(capsys, "actions", "approve", pending, "--by", "ana", "--home", str(home))
    assert (code, out.strip()) == (0, f"{pending}: approved by ana")
    code, out, _ = _run(capsys, "actions", "show", pending, "--home", str(home))
    assert code == 0
    assert "verdict:  pending_approval (above_auto_approve)" in out
    assert "pending_approval -> approved by ana" in out


def test_reject_records_the_reason(home, capsys):
    pending = _ids(home)["adset2"]
    code, out, _ = _run(capsys, "actions", "reject", pending, "--by", "ana", "--reason", "sale week",
                        "--home", str(home))  # fmt: skip
    assert code == 0
    _, out, _ = _run(capsys, "actions", "show", pending, "--home", str(home), "--format", "json")
    assert json.loads(out)["action"]["status_reason"] == "sale week"


@pytest.mark.parametrize(
    ("argv", "code", "mention"),
    [
        (["approve", "nope", "--by", "ana"], 2, "no action with id 'nope'"),
        (["approve", "{adset2}", "--by", " "], 2, "--by NAME must not be empty"),
        (["reject", "{adset2}", "--by", "ana", "--reason", ""], 2, "--reason TEXT is required"),
        (["show", "nope"], 2, "no action with id"),
    ],
)
def test_bad_input_is_one_line(home, capsys, argv, code, mention):
    ids = _ids(home)
    argv = [arg.format(**ids) for arg in argv]
    exit_code, _, err = _run(capsys, "actions", *argv, "--home", str(home))
    assert exit_code == code
    assert err.count("\n") == 1 and mention in err and "Traceback" not in err


def test_a_missing_warehouse_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LOOPWISE_WAREHOUSE_PATH", raising=False)
    code, _, err = _run(capsys, "actions", "list", "--home", str(tmp_path / "nowhere"))
    assert code == 1
    assert err.startswith("loopwise: error: no warehouse at ") and err.count("\n") == 1
    assert not (tmp_path / "nowhere").exists()  # nothing created by looking
