"""``run_experiment_analysis``: one experiments run against a small warehouse, without Dagster."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from core.results_schema import column_names
from decision_engine.actions import ProposedAction
from decision_engine.experiments import DecisionReason, ExperimentRunConfig, NoteCode, run_experiment_analysis
from decision_engine.experiments.simulation import synthetic_exposures

NOW = datetime(2026, 1, 20, 6, 30, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    exposures = pd.concat(
        [
            synthetic_exposures(
                {"A": 15000, "B": 15000}, experiment_id="winner", lifts={"B": {"is_clicked": 1.35}}, seed=10
            ),
            synthetic_exposures({"A": 15000, "B": 15000}, experiment_id="flat", seed=13),
            synthetic_exposures({"A": 300}, experiment_id="single", seed=1),
            synthetic_exposures(
                {"holdout": 1000, "treatment": 9000},
                experiment_id="global_holdout",
                control="holdout",
                seed=32,
            ).assign(experiment_type="global_holdout"),
        ],
        ignore_index=True,
    )
    rng = np.random.default_rng(0)
    contacts = pd.DataFrame(
        {
            "contact_id": [f"c{i}" for i in range(2000)],
            "is_subscribed": rng.random(2000) < 0.9,
            "is_in_global_holdout": np.arange(2000) % 10 == 0,
        }
    )
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.register("exposures_frame", exposures)
    con.register("contacts_frame", contacts)
    con.execute("create table marts.fct_experiment_exposures as select * from exposures_frame")
    con.execute("create table marts.dim_contacts as select * from contacts_frame")
    con.unregister("exposures_frame")
    con.unregister("contacts_frame")
    return con


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> tuple[duckdb.DuckDBPyConnection, Path]:
    tmp = tmp_path_factory.mktemp("experiments_run")
    return _warehouse(tmp / "warehouse.duckdb"), tmp / "reports"


@pytest.fixture(scope="module")
def run(warehouse):
    con, reports = warehouse
    return run_experiment_analysis(con, ExperimentRunConfig(), NOW, report_dir=reports)


def test_frames_and_decisions(run) -> None:
    assert list(run.results.columns) == column_names("experiment_results")
    assert list(run.decisions.columns) == column_names("experiment_decisions")
    assert list(run.allocations.columns) == column_names("experiment_allocations")
    assert run.analysis_timestamp == NOW and run.experiments == 4
    last_day = run.results["analysis_date"].max().date()
    assert run.data_date == last_day
    by_id = run.decisions.set_index("experiment_id")
    assert by_id["decision"].to_dict() == {
        "flat": "keep_control",
        "global_holdout": "report",
        "single": "continue",
        "winner": "ship",
    }
    assert by_id["reason_code"].to_dict() == {
        "flat": DecisionReason.PLANNED_SAMPLE_REACHED,
        "global_holdout": DecisionReason.PROGRAM_TOO_LITTLE_DATA,
        "single": DecisionReason.NOT_ANALYSABLE,
        "winner": DecisionReason.PRIMARY_BETTER,
    }
    assert by_id.loc["winner", "target_variant"] == "B"
    assert by_id.drop(index="winner")["target_variant"].isna().all()
    assert all(type(d) is date for d in run.decisions["analysis_date"])
    assert by_id.loc["winner", "analysis_date"] == last_day
    single = run.results[run.results["experiment_id"] == "single"]
    assert all(codes == [NoteCode.SINGLE_ARM] for codes in single["note_codes"])
    assert (run.results["note"] == "").eq(run.results["note_codes"].map(len) == 0).all()
    assert run.headline == "4 experiments: 1 continue, 1 keep_control, 1 report, 1 ship"
    assert run.decision_counts == {"continue": 1, "keep_control": 1, "report": 1, "ship": 1}
    assert run.examples == [by_id.loc["winner", "explanation"]]
    assert run.contaminated_units == 0
    assert len(run.charts) == 1 and Path(run.charts[0]).exists()


def test_actions(run) -> None:
    assert len(run.actions) == 1
    action = run.actions[0]
    assert isinstance(action, ProposedAction)
    explanation = run.decisions.set_index("experiment_id").loc["winner", "explanation"]
    assert (action.source, action.action_type, action.platform, action.target_id) == (
        "experiments",
        "rollout_winner",
        "klaviyo",
        "winner",
    )
    assert action.payload == {"winner_variant": "B"} and action.reason == explanation
    assert action.reason_code == "primary_better" and action.auto_apply_allowed is False
    assert action.evidence["metric"] == "click_rate"


def test_results_tables_are_written(warehouse, run) -> None:
    con, _ = warehouse
    for table, frame in (
        ("experiment_results", run.results),
        ("experiment_decisions", run.decisions),
        ("experiment_allocations", run.allocations),
    ):
        assert con.execute(f"select count(*) from results.{table}").fetchone()[0] == len(frame) > 0, table
    types = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns where table_schema = 'results' "
            "and table_name = 'experiment_decisions'"
        ).fetchall()
    )
    assert types["target_variant"] == "VARCHAR" and types["analysis_date"] == "DATE"
    written = con.execute(
        "select experiment_id, target_variant, reason_code, analysis_date from results.experiment_decisions "
        "order by 1"
    ).fetchall()
    assert written[-1] == ("winner", "B", "primary_better", run.data_date)
    codes = con.execute(
        "select note_codes from results.experiment_results where experiment_id = 'single' limit 1"
    ).fetchone()[0]
    assert codes == ["single_arm"]
    actions = con.execute(
        "select source, target_id, reason_code, analysis_date, payload from results.actions"
    ).fetchall()
    assert [row[:4] for row in actions] == [("experiments", "winner", "primary_better", run.data_date)]
    assert json.loads(actions[0][4]) == {"winner_variant": "B"}


def test_a_rerun_replaces_its_rows(warehouse, run) -> None:
    con, _ = warehouse
    again = run_experiment_analysis(con, ExperimentRunConfig(), NOW)
    assert again.charts == []
    assert con.execute("select count(*) from results.experiment_results").fetchone()[0] == len(run.results)
    assert con.execute("select count(*) from results.experiment_decisions").fetchone()[0] == 4
    assert con.execute("select count(*) from results.actions").fetchone()[0] == 1


def test_one_proposed_action_class_in_the_repository() -> None:
    sources = [
        path
        for folder in ("core", "decision_engine", "orchestration", "loopwise", "sandbox", "activation")
        if (REPO / folder).exists()
        for path in (REPO / folder).rglob("*.py")
    ]
    defining = [str(p.relative_to(REPO)) for p in sources if "class ProposedAction" in p.read_text()]
    assert defining == ["decision_engine/actions.py"]


def test_the_asset_holds_no_sql_and_builds_no_actions() -> None:
    text = (REPO / "orchestration/defs/experiments/definitions.py").read_text().lower()
    assert "select " not in text and "proposedaction" not in text and "write_results" not in text


def test_every_code_is_documented_in_the_contract() -> None:
    from core.results_schema import table_columns

    notes = {c.name: c.description for c in table_columns("experiment_results")}["note_codes"]
    reasons = {c.name: c.description for c in table_columns("experiment_decisions")}["reason_code"]
    assert all(code.value in notes for code in NoteCode)
    assert all(code.value in reasons for code in DecisionReason)
