"""decision_engine.store writes the results contract with its declared types."""

from datetime import UTC, date, datetime

import duckdb
import pandas as pd
import pytest

from core.results_schema import RESULTS_TABLES, column_names
from decision_engine.actions import ProposedAction, write_actions
from decision_engine.store import write_results


def _decision(experiment_id: str, decision: str, target: str | None, day: str) -> dict:
    return {
        "analysis_timestamp": pd.Timestamp(datetime(2026, 5, 2, 6, tzinfo=UTC)),
        "analysis_date": pd.Timestamp(day),
        "experiment_id": experiment_id,
        "decision": decision,
        "target_variant": target,
        "primary_metric": "click_rate",
        "srm_flag": False,
        "contaminated_units": 0,
        "explanation": "text",
    }


def _types(con, table: str) -> dict[str, str]:
    return dict(
        con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'results' and table_name = ?",
            [table],
        ).fetchall()
    )


def test_a_ship_after_a_run_without_one_is_written(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    first = pd.DataFrame([_decision("e1", "continue", None, "2026-05-01")])
    write_results(con, "experiment_decisions", first, replace_where=("analysis_date",))
    declared = {c.name: c.type for c in RESULTS_TABLES["experiment_decisions"]}
    assert _types(con, "experiment_decisions")["target_variant"] == declared["target_variant"] == "VARCHAR"
    second = pd.DataFrame([_decision("e1", "ship", "B", "2026-05-02")])
    write_results(con, "experiment_decisions", second, replace_where=("analysis_date",))
    rows = con.execute(
        "select analysis_date, decision, target_variant from results.experiment_decisions order by 1"
    ).fetchall()
    assert rows == [(date(2026, 5, 1), "continue", None), (date(2026, 5, 2), "ship", "B")]


def test_every_declared_column_has_its_declared_type_from_the_first_write(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for table in RESULTS_TABLES:
        write_results(con, table, pd.DataFrame(columns=[]), replace_where=())
        declared = {
            c.name: c.type.replace("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE") for c in RESULTS_TABLES[table]
        }
        assert _types(con, table) == declared, table
        assert column_names(table) == list(_types(con, table))


def test_a_column_typed_null_by_an_older_release_gets_its_declared_type(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema results")
    con.execute(
        "create table results.experiment_decisions as "
        "select date '2026-05-01' as analysis_date, 'e1' as experiment_id, null as target_variant"
    )
    assert _types(con, "experiment_decisions")["target_variant"] == '"NULL"'
    write_results(
        con,
        "experiment_decisions",
        pd.DataFrame([_decision("e1", "ship", "B", "2026-05-02")]),
        replace_where=("analysis_date",),
    )
    assert _types(con, "experiment_decisions")["target_variant"] == "VARCHAR"
    assert con.execute("select count(*) from results.experiment_decisions").fetchone()[0] == 2


def test_an_analysis_date_stored_as_a_timestamp_by_an_older_release_becomes_a_date(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema results")
    con.execute(
        "create table results.experiment_decisions as "
        "select timestamp '2026-05-01 00:00:00' as analysis_date, 'e1' as experiment_id"
    )
    write_results(
        con,
        "experiment_decisions",
        pd.DataFrame([_decision("e1", "ship", "B", "2026-05-02")]),
        replace_where=("analysis_date",),
    )
    declared = {
        c.name: c.type.replace("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE")
        for c in RESULTS_TABLES["experiment_decisions"]
    }
    assert _types(con, "experiment_decisions") == declared
    rows = con.execute("select analysis_date from results.experiment_decisions order by 1").fetchall()
    assert rows == [(date(2026, 5, 1),), (date(2026, 5, 2),)]


def test_an_undeclared_column_or_table_is_refused(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(ValueError, match="not in the results contract"):
        write_results(con, "actions", pd.DataFrame({"surprise": [1]}))
    with pytest.raises(KeyError, match="not in the results contract"):
        write_results(con, "mystery", pd.DataFrame({"a": [1]}))


def test_write_actions_replaces_the_same_days_proposals(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_actions(con, [], datetime(2026, 5, 2, 6, tzinfo=UTC), date(2026, 5, 1))
    assert con.execute("select count(*) from results.actions").fetchone()[0] == 0  # created, empty
    action = ProposedAction(
        source="budget",
        action_type="set_daily_budget",
        platform="meta_ads",
        target_id="ad1",
        payload={"daily_budget": 12.5, "currency": "USD"},
        reason="Increase",
        auto_apply_allowed=True,
        reason_code="increase_high_marginal_roas",
    )
    stamp = datetime(2026, 5, 2, 6, tzinfo=UTC)
    assert write_actions(con, [action], stamp, date(2026, 5, 1)) == 1
    assert write_actions(con, [action], stamp, date(2026, 5, 1)) == 1
    assert write_actions(con, [action], stamp, date(2026, 5, 2)) == 1
    assert write_actions(con, [], stamp, date(2026, 5, 2)) == 0  # replaces nothing
    rows = con.execute(
        "select analysis_date, target_id, reason_code, status from results.actions order by 1"
    ).fetchall()
    assert rows == [
        (date(2026, 5, 1), "ad1", "increase_high_marginal_roas", "proposed"),
        (date(2026, 5, 2), "ad1", "increase_high_marginal_roas", "proposed"),
    ]
