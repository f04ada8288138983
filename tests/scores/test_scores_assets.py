"""The scores' Dagster assets and checks, materialized in-process on a small warehouse built here:
simulated BG/NBD customers as orders, and a CRM funnel with deals and email sends."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from core.results_schema import column_names
from orchestration.defs.scores.definitions import build_definitions
from orchestration.resources import WarehouseResource
from tests.scores.test_lead_scores import START, synthetic_history


def _orders(n: int = 600, seed: int = 2) -> pd.DataFrame:
    g = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        first = g.uniform(0, 300)
        rate, stop = g.gamma(0.8, 1 / 25), g.beta(1.0, 4.0)
        t = first
        while t < 540:
            rows.append((f"c{i}", pd.Timestamp(START) + pd.Timedelta(days=t), round(g.gamma(3, 20), 2)))
            if t > first and g.random() < stop:
                break
            t += g.exponential(1 / rate)
    return pd.DataFrame(rows, columns=["contact_id", "ordered_at", "order_value"])


@pytest.fixture()
def warehouse(tmp_path) -> str:
    path = str(tmp_path / "warehouse.duckdb")
    crm, _ = synthetic_history(n=3000)
    con = duckdb.connect(path)
    con.execute("create schema marts")
    orders = _orders()
    transitions = crm.transitions.assign(hubspot_contact_id=crm.transitions["contact_id"].str[1:])
    sends = crm.sends.assign(is_human_opened=False)
    deals = crm.deals.assign(hubspot_contact_id=crm.deals["contact_id"].str[1:])
    for name, frame in [("fct_orders", orders), ("fct_crm_funnel", transitions), ("fct_email_sends", sends),
                        ("fct_deals", deals)]:  # fmt: skip
        con.register("frame", frame)
        con.execute(f"create table marts.{name} as select * from frame")
        con.unregister("frame")
    con.close()
    return path


def test_scores_materialize_with_passing_checks(warehouse):
    defs = build_definitions([])
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks], resources={"warehouse": WarehouseResource(path=warehouse)}
    )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {"score_ranges", "calibration_on_latest_matured_window"}
    assert all(e.passed for e in evaluations), [e.metadata for e in evaluations if not e.passed]
    con = duckdb.connect(warehouse, read_only=True)
    for table in ("customer_value", "churn_risk", "lead_scores", "score_models"):
        columns = [row[0] for row in con.execute(f"describe results.{table}").fetchall()]
        assert columns == column_names(table)
    statuses = dict(con.execute("select score, status from results.score_models").fetchall())
    assert statuses == {"customer_value": "scored", "churn_risk": "scored", "lead_scores": "scored"}
    customers = con.execute("select count(*) from results.customer_value").fetchone()[0]
    assert customers == 600
    last_order = con.execute("select max(ordered_at)::date from marts.fct_orders").fetchone()[0]
    assert con.execute("select distinct analysis_date from results.customer_value").fetchall() == [
        (last_order,)
    ]
    lead_date = con.execute("select distinct analysis_date from results.lead_scores").fetchone()[0]
    assert lead_date > last_order - timedelta(days=30)


def test_a_score_without_enough_data_is_recorded_not_fatal(tmp_path):
    path = str(tmp_path / "warehouse.duckdb")
    con = duckdb.connect(path)
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_orders (contact_id varchar, ordered_at timestamp, order_value double)"
    )
    con.execute("insert into marts.fct_orders values ('only', '2024-01-01', 10), ('only', '2024-02-01', 12)")
    con.execute("create table marts.fct_crm_funnel (contact_id varchar, hubspot_contact_id varchar, "
                "to_stage varchar, transitioned_at timestamp, analytics_source varchar)")  # fmt: skip
    con.execute("create table marts.fct_email_sends (contact_id varchar, sent_at timestamp, is_delivered boolean, "
                "is_human_opened boolean, first_opened_at timestamp, first_clicked_at timestamp)")  # fmt: skip
    con.execute(
        "create table marts.fct_deals (contact_id varchar, hubspot_contact_id varchar, created_at timestamp)"
    )
    con.close()
    defs = build_definitions([])
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks], resources={"warehouse": WarehouseResource(path=path)}
    )
    assert result.success
    con = duckdb.connect(path, read_only=True)
    notes = dict(
        con.execute("select score, note from results.score_models where status = 'not_scored'").fetchall()
    )
    assert "1 customer(s)" in notes["customer_value"]
    assert "no CRM lifecycle history" in notes["lead_scores"]
    assert con.execute("select count(*) from results.customer_value").fetchone()[0] == 0
