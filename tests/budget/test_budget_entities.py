"""Budgets per controllable entity (Meta ad set / CBO campaign, Google campaign budget)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
from budget_worlds import make_world

from core.results_schema import column_names
from decision_engine.budget import BudgetSettings, proposed_actions, recommend_budgets
from decision_engine.budget.entities import EntityDraws, EntityResponse, build_units
from decision_engine.budget.run import run_budget_recommendations
from loopwise.cli import main

NOW = datetime(2031, 5, 4, 6, 30, tzinfo=UTC)
ENTITY_OF = {
    "ad000": ("adset", "as1"),
    "ad001": ("adset", "as1"),
    "ad002": ("adset", "as2"),
    "ad003": ("campaign_budget", "cb1"),
    "ad004": ("campaign_budget", "cb1"),
    "ad005": ("campaign", "cbo1"),
}
STATED = {"as1": 1.10, "as2": 0.95, "cb1": 1.20, "cbo1": 1.0}  # stated budget / recent spend


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    frame = make_world(3, n_campaigns=2, ads_per_campaign=3, days=40).history
    kinds = frame["ad_id"].map(lambda ad: ENTITY_OF[ad][0])
    return frame.assign(
        budget_entity_type=kinds, budget_entity_id=frame["ad_id"].map(lambda ad: ENTITY_OF[ad][1])
    )


def _dim(history: pd.DataFrame) -> pd.DataFrame:
    """The vendors' budgets: a multiple of each entity's spend over the last 7 days (spend != budget)."""
    dates = sorted(history["date"].unique())[-7:]
    recent = history[history["date"].isin(dates)].groupby(
        ["platform", "budget_entity_type", "budget_entity_id"]
    )
    dim = (recent["spend"].sum() / 7).rename("daily_budget").reset_index()
    dim["daily_budget"] = (dim["daily_budget"] * dim["budget_entity_id"].map(STATED)).round(2)
    return dim.assign(
        budget_entity_name=dim["budget_entity_id"].str.upper(),
        currency="USD",
        explicitly_shared=dim["budget_entity_id"] == "cb1",
        status="ACTIVE",
    )


def test_entity_response_is_the_sum_of_its_ads_curves(history):
    result = recommend_budgets(history, budget_entities=_dim(history))
    units, _ = build_units(result.history, _dim(history))
    response = EntityResponse(result.model, units)
    budget = units.table["current_budget"].to_numpy() * np.linspace(0.7, 1.4, len(units.table))
    ads = result.history.ads.reset_index(drop=True)
    recent = ads["current_daily_spend"].to_numpy()
    expected = np.zeros(len(units.table))
    draws = EntityDraws(result.draws, response)
    expected_draws = np.zeros((result.draws.rho.shape[0], len(units.table)))
    for u, entity in enumerate(units.table["budget_entity_id"]):
        members = (ads["budget_entity_id"] == entity).to_numpy()
        spend = np.where(members, recent / recent[members].sum() * budget[u], 0.0)
        expected[u] = result.model.expected_revenue(spend)[members].sum()
        expected_draws[:, u] = result.draws.revenue(spend)[:, members].sum(axis=1)
    assert response.expected_revenue(budget) == pytest.approx(expected, rel=1e-12)
    assert draws.revenue(budget) == pytest.approx(expected_draws, rel=1e-12)
    grid = np.stack([budget, 2 * budget], axis=1)
    assert response.expected_revenue(grid)[:, 0] == pytest.approx(expected, rel=1e-12)
    step = 1e-4 * budget
    numeric = (response.expected_revenue(budget + step) - response.expected_revenue(budget - step)) / (
        2 * step
    )
    assert response.marginal_revenue(budget) == pytest.approx(numeric, rel=1e-5)


def test_entity_budgets_keep_the_sum_caps_and_floor(history):
    dim = _dim(history)
    floor = 0.97 * dim["daily_budget"].min()
    result = recommend_budgets(
        history, BudgetSettings(max_change=0.1, min_daily_budget=floor), budget_entities=dim
    )
    entities = result.entities.set_index("budget_entity_id")
    assert set(entities.index) == {"as1", "as2", "cb1", "cbo1"}
    current = dim.set_index("budget_entity_id")["daily_budget"]
    assert entities["current_daily_budget"].to_numpy() == pytest.approx(current[entities.index].to_numpy())
    assert entities["recommended_daily_budget"].sum() == pytest.approx(current.sum(), rel=1e-9)
    assert result.total_daily_budget == pytest.approx(current.sum(), rel=1e-9)
    assert (entities["change_pct"].abs() <= 0.1 + 1e-9).all()
    assert (entities["recommended_daily_budget"] >= floor - 1e-9).all()
    assert not result.kept_current and entities["change_pct"].abs().max() > 0.01  # something moved
    ads = result.recommendations.set_index("ad_id")
    assert ads["recommended_daily_budget"].sum() == pytest.approx(current.sum(), rel=1e-9)
    for ad, (kind, entity) in ENTITY_OF.items():
        assert ads.loc[ad, "budget_entity_type"] == kind and ads.loc[ad, "budget_entity_id"] == entity
        assert (
            ads.loc[ad, "entity_recommended_daily_budget"] == entities.loc[entity, "recommended_daily_budget"]
        )
    assert entities.loc["cbo1", "ads"] == 1 and entities.loc["as1", "ads"] == 2
    assert 'Ad set "AS1" (as1), ads ad000, ad001' in entities.loc["as1", "reason"]
    assert entities.loc["cb1", "reason"].startswith('Shared campaign budget "CB1" (cb1)')


@pytest.mark.parametrize("frozen", [["as1"], ["google"]])
def test_frozen_entities_keep_their_budget_and_are_reported(history, frozen):
    result = recommend_budgets(
        history, BudgetSettings(max_change=0.2), budget_entities=_dim(history), frozen=frozen
    )
    entities = result.entities
    hit = entities["budget_entity_id"].isin(frozen) | entities["platform"].isin(frozen)
    assert hit.any()
    assert (entities.loc[hit, "recommended_daily_budget"] == entities.loc[hit, "current_daily_budget"]).all()
    assert (entities.loc[hit, "reason_code"] == "frozen_by_policy").all()
    assert not entities.loc[hit, "auto_apply_allowed"].any()
    targets = {action.target_id for action in proposed_actions(result)}
    assert not targets & set(entities.loc[hit, "budget_entity_id"])
    assert entities["recommended_daily_budget"].sum() == pytest.approx(entities["current_daily_budget"].sum())


def test_idle_entity_keeps_its_budget_without_auto_apply(history):
    last_week = history["date"] >= sorted(history["date"].unique())[-8]
    idle = history["budget_entity_id"].eq("as2") & last_week
    quiet = history.assign(
        spend=history["spend"].mask(idle, 0.0),
        revenue=history["revenue"].mask(idle, 0.0),
        conversions=history["conversions"].mask(idle, 0),
    )
    result = recommend_budgets(quiet, budget_entities=_dim(history))
    row = result.entities.set_index("budget_entity_id").loc["as2"]
    assert row["reason_code"] == "no_recent_spend" and not row["auto_apply_allowed"]
    assert row["recommended_daily_budget"] == row["current_daily_budget"]


def test_ads_without_an_entity_stay_per_ad(history):
    partial = history.assign(budget_entity_id=history["budget_entity_id"].mask(history["ad_id"] == "ad002"))
    result = recommend_budgets(partial, BudgetSettings(max_change=0.3), budget_entities=_dim(history))
    assert "as2" not in set(result.entities["budget_entity_id"])
    assert any("no known budget entity" in issue for issue in result.issues)
    ad = result.recommendations.set_index("ad_id").loc["ad002"]
    assert pd.isna(ad["budget_entity_id"]) and np.isnan(ad["entity_recommended_daily_budget"])
    for action in proposed_actions(result):
        assert action.target_id in {"as1", "cb1", "cbo1", "ad002"}


def test_an_ad_without_an_entity_is_budgeted_from_its_recent_spend(history):
    """No platform has an ad-level budget: an ad whose entity is unknown has its recent daily spend
    (the mean of the last 7 dates) as today's budget, and its move is advice for a human that no
    vendor write can carry out."""
    from decision_engine.execution import write_target
    from decision_engine.governance import ActionRow
    from decision_engine.policy import Policy

    partial = history.assign(budget_entity_id=history["budget_entity_id"].mask(history["ad_id"] == "ad002"))
    result = recommend_budgets(partial, BudgetSettings(max_change=0.3), budget_entities=_dim(history))
    last_week = sorted(history["date"].unique())[-7:]
    spent = history[(history["ad_id"] == "ad002") & history["date"].isin(last_week)]["spend"].sum() / 7
    ad = result.recommendations.set_index("ad_id").loc["ad002"]
    assert ad["current_daily_spend"] == pytest.approx(spent)
    (action,) = [a for a in proposed_actions(result) if a.target_id == "ad002"]
    assert action.payload["current_daily_budget"] == pytest.approx(spent, abs=0.005)
    assert not action.auto_apply_allowed and "entity_type" not in action.payload
    row = ActionRow("a1", "set_daily_budget", action.platform, "ad002", action.payload, False)
    with pytest.raises(ValueError, match="never on an ad"):
        write_target(None, row, Policy())


def test_no_action_for_moves_below_the_hold_threshold(history):
    result = recommend_budgets(history, BudgetSettings(max_change=0.002), budget_entities=_dim(history))
    assert result.entities["change_pct"].abs().max() <= 0.002 + 1e-9
    assert proposed_actions(result) == []


def _mart(history: pd.DataFrame) -> pd.DataFrame:
    mart = history.rename(columns={"date": "date_day", "revenue": "conversions_value"})
    return mart.assign(date_day=pd.to_datetime(mart["date_day"]).dt.date, currency="USD")


@pytest.fixture()
def warehouse(tmp_path, history):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema marts")
    con.register("mart", _mart(history))
    con.execute("create table marts.fct_ad_performance_daily as select * from mart")
    yield con
    con.close()


def test_run_without_the_entity_table_keeps_per_ad_behaviour(warehouse):
    run = run_budget_recommendations(warehouse, BudgetSettings(), NOW)
    assert run.result.entities is None and run.entity_frame.empty
    assert warehouse.execute("select count(*) from results.budget_entity_recommendations").fetchone()[0] == 0
    written = warehouse.execute("select * from results.budget_recommendations").df()
    assert written["budget_entity_id"].isna().all()
    ads = set(written["ad_id"])
    assert run.actions and all(
        a.target_id in ads and set(a.payload) == {"daily_budget", "currency", "current_daily_budget"}
        for a in run.actions
    )


def test_run_writes_entities_and_absolute_entity_actions(warehouse, history):
    dim = _dim(history)
    warehouse.execute("create table marts.dim_budget_entities as select * from dim")
    run = run_budget_recommendations(
        warehouse, BudgetSettings(max_change=0.5), NOW, max_change=0.15, frozen=["cbo1"]
    )
    entities = warehouse.execute("select * from results.budget_entity_recommendations").df()
    assert list(entities.columns) == column_names("budget_entity_recommendations")
    assert len(entities) == 4 and set(entities["budget_entity_id"]) == {"as1", "as2", "cb1", "cbo1"}
    assert (entities["change_pct"].abs() <= 0.15 + 1e-9).all()
    assert entities.set_index("budget_entity_id").loc["cbo1", "reason_code"] == "frozen_by_policy"
    assert run.metadata["budget_entities"] == 4
    written = warehouse.execute("select * from results.budget_recommendations").df()
    assert len(written) == 6 and written["budget_entity_id"].notna().all()
    actions = warehouse.execute("select * from results.actions").df()
    assert len(actions) == len(run.actions) > 0
    by_id = entities.set_index("budget_entity_id")
    budgets = dim.set_index("budget_entity_id")
    for row in actions.itertuples():
        payload = json.loads(row.payload)
        entity = by_id.loc[row.target_id]
        assert row.platform == entity["platform"] and row.target_id != "cbo1"
        # rounded to a cent toward the current budget, so rounding never takes a move past its cap
        recommended, current = entity["recommended_daily_budget"], entity["current_daily_budget"]
        assert abs(payload["daily_budget"] - recommended) < 0.01
        assert abs(payload["daily_budget"] - current) <= abs(recommended - current) + 1e-9
        assert payload["daily_budget"] == round(payload["daily_budget"], 2)
        assert payload["current_daily_budget"] == budgets.loc[row.target_id, "daily_budget"]
        assert payload["entity_type"] == entity["budget_entity_type"] and payload["currency"] == "USD"
        assert payload["explicitly_shared"] == (row.target_id == "cb1")
        evidence = json.loads(row.evidence)
        assert {ad["ad_id"] for ad in evidence["ads"]} == {
            a for a, (_, e) in ENTITY_OF.items() if e == row.target_id
        }
        assert row.reason == entity["reason"]


def test_cli_recommends_per_ad_set_with_an_adset_id_column(history, tmp_path, capsys):
    export = history.drop(columns=["budget_entity_type", "budget_entity_id"])
    export["adset_id"] = export["ad_id"].map(lambda ad: ENTITY_OF[ad][1])
    path = tmp_path / "ads.csv"
    export.to_csv(path, index=False)
    assert main(["budget", "recommend", str(path), "--format", "json", "--max-change", "0.2"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {row["budget_entity_id"] for row in payload["entities"]} == {"as1", "as2", "cb1", "cbo1"}
    for row in payload["recommendations"]:
        assert row["budget_entity_type"] == "adset" and row["budget_entity_id"] == ENTITY_OF[row["ad_id"]][1]
    current = {row["budget_entity_id"]: row["current_daily_budget"] for row in payload["entities"]}
    spend = {}
    for row in payload["recommendations"]:
        spend[row["budget_entity_id"]] = spend.get(row["budget_entity_id"], 0.0) + row["current_daily_spend"]
    assert current == pytest.approx(spend)  # no daily_budget column: the sum of the ads' current spend
    assert all(abs(row["change_pct"]) <= 0.2 + 1e-9 for row in payload["entities"])
    total = sum(row["recommended_daily_budget"] for row in payload["entities"])
    assert total == pytest.approx(payload["total_daily_budget"], abs=1e-6)


def test_cli_daily_budget_column_sets_the_current_budget(history, tmp_path, capsys):
    export = history.drop(columns=["budget_entity_type", "budget_entity_id"])
    export["adset_id"] = export["ad_id"].map(lambda ad: ENTITY_OF[ad][1])
    export["daily_budget"] = export["adset_id"].map({"as1": 300.0, "as2": 120.0, "cb1": 250.0, "cbo1": 80.0})
    path = tmp_path / "ads.csv"
    export.to_csv(path, index=False)
    assert main(["budget", "recommend", str(path), "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    current = {row["budget_entity_id"]: row["current_daily_budget"] for row in payload["entities"]}
    assert current == {"as1": 300.0, "as2": 120.0, "cb1": 250.0, "cbo1": 80.0}
    assert payload["total_daily_budget"] == pytest.approx(750.0)
    last_day = (export["ad_id"] == "ad000") & (export["date"] == export["date"].max())
    export.loc[last_day, "daily_budget"] = 999.0  # two budgets for ad set as1 on its last day
    export.to_csv(path, index=False)
    assert main(["budget", "recommend", str(path)]) == 2
    err = capsys.readouterr().err
    assert "different daily_budget" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cents_round_toward_the_current_budget():
    from decision_engine.budget.report import cents_toward

    assert cents_toward(727.1000000000001, 661.0) == 727.1  # already on a cent: unchanged
    assert cents_toward(727.109, 661.0) == 727.1  # an increase rounds down
    assert cents_toward(594.891, 661.0) == 594.9  # a decrease rounds up
    assert cents_toward(594.9, 661.0) == 594.9


def test_moves_that_apply_alone_stay_balanced_when_one_waits_for_a_human(history):
    # as2's ads spend without revenue: too little evidence to move it alone, and the engine cuts it
    silent = history.assign(revenue=np.where(history["budget_entity_id"] == "as2", 0.0, history["revenue"]))
    if "conversions" in silent.columns:
        silent["conversions"] = np.where(silent["budget_entity_id"] == "as2", 0, silent["conversions"])
    result = recommend_budgets(
        silent, BudgetSettings(max_change=0.3, risk_aversion=0.0), budget_entities=_dim(history)
    )
    rows = result.entities.set_index("budget_entity_id")
    move = rows["recommended_daily_budget"] - rows["current_daily_budget"]
    assert move["as2"] < -0.01, "the silent ad set is cut"
    assert not rows.loc["as2", "auto_apply_allowed"]
    assert "awaits_approval" in list(rows.loc["as2", "reason_flags"])
    assert "waits for a human" in rows.loc["as2", "reason"]
    alone = rows["auto_apply_allowed"].to_numpy(bool)
    assert alone.any() and (move[alone].abs() > 0.01).any(), "the others still move"
    assert abs(move[alone].sum()) < 0.01, "what applies on its own keeps the account total"


def test_shared_budgets_are_held_when_the_policy_refuses_them(history):
    refused = recommend_budgets(
        history, BudgetSettings(max_change=0.3, allow_shared_budgets=False), budget_entities=_dim(history)
    ).entities.set_index("budget_entity_id")
    assert refused.loc["cb1", "recommended_daily_budget"] == pytest.approx(
        refused.loc["cb1", "current_daily_budget"]
    )
    assert refused.loc["cb1", "reason_code"] == "frozen_by_policy"


def test_moves_beyond_the_auto_limit_are_a_second_proposal_for_a_human(history):
    dim = _dim(history)
    auto = recommend_budgets(history, BudgetSettings(max_change=0.05), budget_entities=dim)
    both = recommend_budgets(
        history, BudgetSettings(max_change=0.05, approval_max_change=0.3), budget_entities=dim
    )
    wide = recommend_budgets(history, BudgetSettings(max_change=0.3), budget_entities=dim)
    rows = both.entities.set_index("budget_entity_id")
    # what applies on its own is unchanged by the extensions
    assert rows["recommended_daily_budget"].to_numpy() == pytest.approx(
        auto.entities.set_index("budget_entity_id")["recommended_daily_budget"].to_numpy()
    )
    current = rows["current_daily_budget"]
    extended = rows["extended_daily_budget"].dropna()
    assert len(extended) >= 1, "the 30% allocation moves some entity beyond 5%"
    wide_rows = wide.entities.set_index("budget_entity_id")
    for entity, target in extended.items():
        applied = rows.loc[entity, "recommended_daily_budget"] - current[entity]
        wanted = target - current[entity]
        assert abs(wanted) > 0.05 * current[entity], "only moves beyond the auto cap"
        assert abs(wanted) <= 0.3 * current[entity] + 1e-6
        assert abs(applied) < 0.01 or np.sign(wanted) == np.sign(applied)
        assert target == pytest.approx(wide_rows.loc[entity, "recommended_daily_budget"], rel=1e-9)
    actions = proposed_actions(both)
    kinds = [(a.action_type, a.target_id) for a in actions]
    for entity in extended.index:
        assert ("extend_daily_budget", entity) in kinds
    extension = next(a for a in actions if a.action_type == "extend_daily_budget")
    assert not extension.auto_apply_allowed and extension.reason_code == "beyond_auto_limit"
    assert "needs your approval" in extension.reason
    assert extension.payload["current_daily_budget"] == pytest.approx(current[extension.target_id], abs=0.005)
    assert extension.action_id(both.analysis_date) != next(
        a for a in actions if a.action_type == "set_daily_budget"
    ).action_id(both.analysis_date)
    # without the wider cap nothing beyond the auto cap is proposed
    assert all(a.action_type == "set_daily_budget" for a in proposed_actions(auto))


@pytest.mark.parametrize(
    ("objective", "words"),
    [
        ("platform_revenue", "in platform-attributed revenue"),
        ("customer_value", "in expected customer value"),
    ],
)
def test_entity_reasons_name_the_objective_their_returns_are_in(history, objective, words):
    result = recommend_budgets(
        history, BudgetSettings(max_change=0.1, objective=objective), budget_entities=_dim(history)
    )
    entities = result.entities.set_index("budget_entity_id")
    returns = entities[entities["reason_code"].str.startswith(("increase", "decrease", "hold", "kept"))]
    assert len(returns) >= 2 and returns["reason"].str.contains(words, regex=False).all()
    ads = result.recommendations
    assert (
        ads.loc[ads["budget_entity_id"].isin(returns.index), "reason"].str.contains(words, regex=False).all()
    )


def test_entity_evidence_carries_the_90_percent_intervals_the_decision_log_judges(history):
    """The intervals in each move's evidence, recomputed from the per-ad posterior draws by hand."""
    dim = _dim(history)
    result = recommend_budgets(history, BudgetSettings(max_change=0.3), budget_entities=dim)
    ads = result.history.ads.reset_index(drop=True)
    recent = ads["current_daily_spend"].to_numpy()
    evaluation = (
        result.draws
    )  # the draws moves are evaluated with (draw 0, which explores, is not among them)
    moves = [a for a in proposed_actions(result) if a.action_type == "set_daily_budget"]
    assert moves
    for action in moves:
        members = (ads["budget_entity_id"] == action.target_id).to_numpy()
        share = np.where(members, recent / recent[members].sum(), 0.0)
        current, target = action.payload["current_daily_budget"], action.evidence["change_pct"] + 1
        entity = result.entities.set_index("budget_entity_id").loc[action.target_id]
        at_current = evaluation.revenue(share * entity["current_daily_budget"])[:, members].sum(axis=1)
        at_target = evaluation.revenue(share * entity["recommended_daily_budget"])[:, members].sum(axis=1)
        evidence = action.evidence
        assert evidence["revenue_interval_level"] == 0.9
        assert evidence["expected_daily_revenue_current_interval"] == pytest.approx(
            np.percentile(at_current, [5, 95]), rel=1e-5
        )
        assert evidence["expected_revenue_change_interval"] == pytest.approx(
            np.percentile(at_target / at_current - 1, [5, 95]), rel=1e-5, abs=1e-6
        )
        low, high = evidence["expected_revenue_change_interval"]
        point = (
            evidence["expected_daily_revenue_recommended"] / evidence["expected_daily_revenue_current"] - 1
        )
        assert low <= point <= high and np.sign(point) == np.sign(target - 1)
        assert current == pytest.approx(entity["current_daily_budget"], abs=0.005)
        assert evidence["revenue_measure"] == "platform_revenue"


def test_an_extension_is_predicted_over_the_whole_move_to_its_budget(history):
    dim = _dim(history)
    both = recommend_budgets(
        history, BudgetSettings(max_change=0.05, approval_max_change=0.3), budget_entities=dim
    )
    actions = proposed_actions(both)
    extensions = [a for a in actions if a.action_type == "extend_daily_budget"]
    assert extensions
    for extension in extensions:
        evidence = extension.evidence
        entity = both.entities.set_index("budget_entity_id").loc[extension.target_id]
        response = EntityResponse(both.model, build_units(both.history, dim)[0])
        units = response.units.table.reset_index(drop=True)
        budgets = units["current_budget"].to_numpy(float).copy()
        budgets[(units["budget_entity_id"] == extension.target_id).to_numpy()] = entity[
            "extended_daily_budget"
        ]
        expected = response.expected_revenue(budgets)[
            (units["budget_entity_id"] == extension.target_id).to_numpy()
        ]
        assert evidence["expected_daily_revenue_extended"] == pytest.approx(float(expected[0]), rel=1e-5)
        point = evidence["expected_daily_revenue_extended"] / evidence["expected_daily_revenue_current"] - 1
        low, high = evidence["expected_revenue_change_interval"]
        assert low <= point <= high
        own = next(
            (
                a
                for a in actions
                if a.action_type == "set_daily_budget" and a.target_id == extension.target_id
            ),
            None,
        )
        if own is not None:  # the extension predicts its whole, larger move, not the move that applies alone
            facts = own.evidence
            own_point = (
                facts["expected_daily_revenue_recommended"] / facts["expected_daily_revenue_current"] - 1
            )
            assert abs(point) > abs(own_point)
