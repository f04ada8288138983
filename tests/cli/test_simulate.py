"""``loopwise simulate``: the independent policy check, the harness with a fake daily run, bad input,
and (slow) one real daily run on the tiny world."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from core.settings import LoopwisePaths, load_paths
from decision_engine.policy import Policy, parse_policy
from loopwise.cli import main
from loopwise.simulate import (
    BudgetEntityFacts,
    SimulationSettings,
    check_writes,
    decision_log_calibration,
    is_page,
    loopwise_test_outcomes,
    simulate,
    sweep_schedule,
)
from sandbox import STATE_FILE, World, WorldSpec, create_sandbox_world

START = date(2026, 1, 5)
ENTITIES = {
    ("meta", "111"): BudgetEntityFacts(100.0),
    ("meta", "222"): BudgetEntityFacts(200.0),
    ("google_ads", "g1"): BudgetEntityFacts(50.0, explicitly_shared=True),
}
SEED = 91  # tests only; the simulate benchmark's seeds are never used here


def _write(seq: int, day: int, vendor: str, target: str, value: Any, action: str = "set_budget") -> dict:
    return {
        "seq": seq,
        "clock_day": day,
        "vendor": vendor,
        "action": action,
        "target": target,
        "value": value,
    }


def _policy(text: str = "") -> Policy:
    return parse_policy(text)


def test_a_log_within_the_policy_has_no_violations() -> None:
    writes = [_write(0, 30, "meta", "111", 110.0), _write(1, 31, "meta", "111", 121.0)]
    assert check_writes(writes, ENTITIES, _policy(), START) == []


def test_a_move_beyond_the_cap_is_caught_even_in_two_steps_of_one_day() -> None:
    one_big = [_write(0, 30, "meta", "111", 125.0)]
    assert len(check_writes(one_big, ENTITIES, _policy(), START)) == 1
    two_small = [_write(0, 30, "meta", "111", 115.0), _write(1, 30, "meta", "111", 130.0)]
    found = check_writes(two_small, ENTITIES, _policy(), START)
    assert len(found) == 1 and "100 -> 130" in found[0]
    rounding = [_write(0, 30, "meta", "111", 120.01)]  # one cent of rounding is allowed
    assert check_writes(rounding, ENTITIES, _policy(), START) == []


@pytest.mark.parametrize(
    ("policy", "write", "words"),
    [
        ("budget: {min_daily_budget: 95.0}", _write(0, 30, "meta", "111", 90.0), "below the minimum"),
        ("budget: {frozen: [meta_ads]}", _write(0, 30, "meta", "111", 105.0), "frozen"),
        ("budget: {frozen: ['222']}", _write(0, 30, "meta", "222", 205.0), "frozen"),
        ("blackout_dates: ['2026-02-04']", _write(0, 30, "meta", "111", 105.0), "blackout"),
        ("autonomy: 'off'", _write(0, 30, "klaviyo", "c1", "m2", "set_campaign_winner"), "autonomy is off"),
        ("", _write(0, 30, "google_ads", "g1", 52.0), "shared"),
        ("budget: {max_total_daily_budget: 305.0}", _write(0, 30, "meta", "222", 210.0), "account total"),
    ],
)
def test_each_hard_limit_is_caught(policy: str, write: dict, words: str) -> None:
    found = check_writes([write], ENTITIES, _policy(policy), START)
    assert len(found) == 1 and words in found[0]


def test_a_page_is_an_open_critical_marketing_incident() -> None:
    page = {"status": "open", "severity": "critical", "data_incident": False}
    assert is_page(page)
    assert not is_page({**page, "status": "resolved"})
    assert not is_page({**page, "severity": "warning"})
    assert not is_page({**page, "data_incident": True})


class FakePipeline:
    """A daily run that moves one Meta budget by ``change`` and reports one critical incident."""

    def __init__(self, change: float, incident: dict[str, Any]) -> None:
        self.change, self.incident, self.runs, self.sweep_days = change, incident, 0, []

    def prepare(self, home: Path, spec: WorldSpec) -> LoopwisePaths:
        paths = load_paths(home)
        create_sandbox_world(paths.sandbox_dir, spec)
        return paths

    def run(self, paths: LoopwisePaths) -> list[dict[str, Any]]:
        self.runs += 1
        world = World.load_state(paths.sandbox_dir / STATE_FILE)
        entity = world.budget_entities("meta")[0].entity_id
        budget = world.entity_budgets("meta", world.clock_day)[entity]
        world.set_entity_budget("meta", entity, budget * (1 + self.change))
        world.save_state(paths.sandbox_dir / STATE_FILE)
        return [self.incident]

    def sweep(self, paths: LoopwisePaths) -> None:
        self.sweep_days.append(World.load_state(paths.sandbox_dir / STATE_FILE).clock_day)


INCIDENT = {
    "incident_id": "inc-1",
    "incident_type": "esp_tracking",
    "status": "open",
    "severity": "critical",
    "scope": "email",
    "entities": ["email"],
    "window_start": "2026-02-20T00:00:00",
    "window_end": "2026-02-21T00:00:00",
}


def _settings(weeks: int = 2, subjects_every_days: int = 1, **policy: Any) -> SimulationSettings:
    text = "\n".join(f"{k}: {v}" for k, v in policy.items())
    return SimulationSettings(seed=SEED, weeks=weeks, policy=_policy(text), policy_file=Path("policy.yaml"),
                              preset="tiny", every_days=7, subjects_every_days=subjects_every_days)  # fmt: skip


def test_the_harness_scores_what_the_run_wrote(tmp_path: Path) -> None:
    pipeline = FakePipeline(0.05, INCIDENT)
    result = simulate(_settings(), tmp_path, pipeline)
    assert pipeline.runs == 2
    # the test-subjects job on every day between the two weekly runs, each on its own world day
    assert pipeline.sweep_days == [d for d in range(30, 44) if d not in (30, 37)]  # tiny: 30 days of history
    writes = result["vendor_writes"]
    assert [w["day"] for w in writes] == ["2026-02-04", "2026-02-11"]  # tiny: 30 days of history
    assert writes[0]["after"] == pytest.approx(writes[0]["before"] * 1.05, abs=0.01)
    assert result["policy_violations"] == 0
    assert result["revenue_loopwise"] != result["revenue_static"]
    assert result["revenue_oracle"] > result["revenue_static"]
    expected = (result["revenue_loopwise"] - result["revenue_static"]) / (
        result["revenue_oracle"] - result["revenue_static"]
    )
    assert result["lift_capture"] == pytest.approx(expected, abs=1e-3)
    assert result["actions"] == dict.fromkeys(result["actions"], 0)  # no warehouse: nothing proposed
    assert result["experiments_launched"] == 0 and result["realized_vs_predicted"] is None
    assert result["decision_log_calibration"] is None  # no warehouse: nothing predicted or measured
    assert result["false_pages"] == 1  # the tiny world's incidents all lie before the window
    json.dumps(result, allow_nan=False)


def test_the_test_subjects_job_runs_on_the_days_between_runs() -> None:
    assert sweep_schedule(10, 24, [10, 17], 1) == [11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23]
    assert sweep_schedule(10, 24, [10, 17], 3) == [13, 16, 19, 22]
    assert sweep_schedule(10, 24, [10, 17], 0) == []
    assert sweep_schedule(10, 24, list(range(10, 24)), 1) == []  # a daily pipeline needs no sweep


def test_the_harness_counts_writes_outside_the_policy(tmp_path: Path) -> None:
    result = simulate(_settings(), tmp_path, FakePipeline(0.5, INCIDENT))
    assert result["policy_violations"] == 2


def test_the_oracle_follows_the_kill_switch(tmp_path: Path) -> None:
    result = simulate(_settings(1, autonomy="'off'"), tmp_path, FakePipeline(0.05, INCIDENT))
    assert result["revenue_oracle"] == result["revenue_static"]
    assert result["lift_capture"] is None
    assert result["policy_violations"] == 1  # the fake wrote anyway


def test_the_tests_report_gives_each_launch_its_decision_and_true_effect(tmp_path: Path) -> None:
    import duckdb

    from decision_engine.store import ensure_results_table
    from sandbox.truth import subject_style_effects

    world = World(WorldSpec.preset("tiny", seed=SEED))
    effects = {k: v["open"] * v["click"] for k, v in subject_style_effects(world).items()}
    warehouse = tmp_path / "warehouse.duckdb"
    templates = {"lw-question-20260201": "{subject}?", "lw-inside-20260201": "{subject} (inside)"}
    with duckdb.connect(str(warehouse)) as con:
        ensure_results_table(con, "experiment_decisions")
        con.execute(
            "create table results.actions (action_type varchar, target_id varchar, status varchar, payload varchar)"
        )
        for test_id, template in templates.items():
            con.execute("insert into results.actions values ('launch_experiment', ?, 'executed', ?)",
                        [test_id, json.dumps({"test_id": test_id, "subject_template": template})])  # fmt: skip
        con.execute("insert into results.actions values ('rollout_winner', 'loopwise:lw-question-20260201', "
                    "'executed', ?)", [json.dumps({"test_id": "lw-question-20260201"})])  # fmt: skip
        looks = [("lw-question-20260201", "2026-02-10", "continue"), ("lw-question-20260201", "2026-02-17", "ship"),
                 ("lw-question-20260201:holdback", "2026-02-24", "report"),
                 ("lw-inside-20260201", "2026-02-24", "keep_control")]  # fmt: skip
        for test_id, day, decision in looks:
            con.execute("insert into results.experiment_decisions (analysis_date, experiment_id, decision) "
                        "values (?, ?, ?)", [day, f"loopwise:{test_id}", decision])  # fmt: skip
    result = loopwise_test_outcomes(world, warehouse, ["{subject}?", "Quick read: {subject}"])
    assert [(t["test_id"], t["decision"], t["shipped"]) for t in result["tests"]] == [
        ("lw-inside-20260201", "keep_control", False),
        ("lw-question-20260201", "ship", True),
    ]
    assert result["tests"][1]["true_click_effect"] == pytest.approx(effects["question"], abs=1e-4)
    assert result["winner_in_library"] == (max(effects["question"], effects["quick_read"]) > 1.0)
    assert loopwise_test_outcomes(world, tmp_path / "none.duckdb", []) == {
        "tests": [],
        "winner_in_library": False,
    }


def test_the_calibration_fields_come_from_the_decision_log(tmp_path: Path) -> None:
    import duckdb

    from decision_engine.store import ensure_results_table

    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_results_table(con, "decision_log")
        rows = [("as_predicted", 0.05, 0.06)] * 8 + [
            ("worse", 0.05, -0.2),
            ("better", 0.05, 0.3),
            ("pending", 0.05, None),
        ]
        for i, (verdict, predicted, realized) in enumerate(rows):
            con.execute(
                "insert into results.decision_log (action_id, verdict, predicted_impact, realized_impact) "
                "values (?, ?, ?, ?)",
                [f"a{i}", verdict, predicted, realized],
            )
    result = decision_log_calibration(warehouse)
    assert result["calibration"] == pytest.approx(0.8)  # 8 of the 10 judged changes
    assert result["realized_vs_predicted"] == pytest.approx((8 * 0.06 - 0.2 + 0.3) / (10 * 0.05))
    assert decision_log_calibration(tmp_path / "none.duckdb")["calibration"] is None


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--preset", "huge"], 2, "unknown preset"),
        (["--weeks", "0"], 2, "--weeks must be at least 1"),
        (["--preset", "tiny", "--weeks", "9"], 2, "beyond"),
        (["--every-days", "0"], 2, "--every-days"),
        (["--subjects-every-days", "-1"], 2, "--subjects-every-days"),
        (["--policy", "/nonexistent/policy.yaml"], 1, "file not found"),
    ],
)
def test_bad_input_is_one_line(args: list[str], code: int, words: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["simulate", *args]) == code
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and words in err


@pytest.mark.slow
def test_one_real_daily_run_on_the_tiny_world(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    home = tmp_path / "home"
    code = main(["simulate", "--preset", "tiny", "--weeks", "1", "--seed", str(SEED), "--home", str(home),
                 "--format", "json"])  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["policy_violations"] == 0
    assert set(result["actions"]) >= {"proposed", "auto_approved", "pending_approval", "executed"}
    assert result["revenue_oracle"] > result["revenue_static"] > 0
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        # the real engines ran on the ingested world: one recommendation per budget entity
        entities = con.execute("select count(*) from results.budget_entity_recommendations").fetchall()[0][0]
    assert entities > 0
