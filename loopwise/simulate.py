"""``loopwise simulate``: prove the loop against the sandbox's ground truth.

Three copies of one seeded world live through the same weeks of world time:

- *loopwise*: the real daily pipeline runs against it every ``every_days`` simulated days and
  changes it through the vendor APIs as the policy allows (read back from the world's state
  file, so whatever the pipeline executed is what gets scored);
- *static*: nobody touches it;
- *oracle*: on the same days, someone who knows the true curves and lifts moves budgets
  within the same caps and ships the truly best variant of every running test.

Revenue is noise-free expected ad revenue plus the email orders the world generates. The
policy is checked a second time, independently of the pipeline, by replaying the world's own
write log. The contract is in docs/architecture.md ("loopwise simulate").
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from core.settings import LoopwisePaths, policy_in_force
from decision_engine.policy import Policy
from loopwise.simulate_content import content_report
from loopwise.simulate_send_time import send_time_report
from sandbox import STATE_FILE, World, WorldSpec
from sandbox.incident_matching import PIPELINE_PLATFORMS, label_ads, page_matches, windows_overlap
from sandbox.oracle import (
    apply_oracle_subjects,
    email_order_revenue,
    expected_ad_revenue,
    oracle_budgets,
    oracle_winner,
    running_tests,
    variant_conversion_rates,
)
from sandbox.truth import subject_style_effect
from sandbox.world.ads import PLATFORMS
from sandbox.world.incidents import Incident

APPROVER = "simulate"
ACTION_STATUSES = ("proposed", "auto_approved", "pending_approval", "approved", "rejected", "expired",
                   "executed", "failed", "rolled_back")  # fmt: skip
SHIPPED = ("executed", "verified", "rolled_back")  # a rollout that reached the vendor
CENT = 0.01  # budgets are written in cents: the policy check allows one cent of rounding
ROUNDING = CENT + 1e-9  # the cent itself, plus the float error of money sums
WRITE_FIELDS = {"set_budget": "daily_budget", "set_campaign_winner": "winner_message_id"}


class Pipeline(Protocol):
    """How the harness runs Loopwise: prepare a home once, then one daily run per call."""

    def prepare(self, home: Path, spec: WorldSpec) -> LoopwisePaths:
        """A fresh home whose saved sandbox world is built from ``spec``."""

    def run(self, paths: LoopwisePaths) -> list[dict[str, Any]]:
        """One daily run against the home's saved world; the incidents its anomaly scan reported."""

    def sweep(self, paths: LoopwisePaths) -> None:
        """The between-runs job that templates newly scheduled campaigns for the running tests."""


class DailyRefresh:
    """The real pipeline: ``daily_refresh`` in-process, on a home prepared as ``loopwise demo`` does."""

    def prepare(self, home: Path, spec: WorldSpec) -> LoopwisePaths:
        from loopwise.commands.demo import prepare_home

        with _quiet():
            return prepare_home(str(home), spec.base_preset, fresh=True, spec=spec)

    def run(self, paths: LoopwisePaths) -> list[dict[str, Any]]:
        summary = _run_job("daily_refresh", "a daily run")
        return list(summary.asset_metadata.get("results/anomaly_alerts", {}).get("incidents") or [])

    def sweep(self, paths: LoopwisePaths) -> None:
        from orchestration.defs.jobs.definitions import TEST_SUBJECTS_JOB

        _run_job(TEST_SUBJECTS_JOB, "a test-subjects run")


def _run_job(job_name: str, what: str) -> Any:
    """One in-process run of ``job_name``, its progress on stderr; a failure is reported there too."""
    from loopwise.runner import run_job

    with _quiet():
        summary = run_job(job_name, log_level="WARNING")
    if not summary.success:
        failed = ", ".join(f"{step}: {why}" for step, why in summary.step_errors.items())
        print(f"loopwise simulate: {what} failed ({failed})", file=sys.stderr)
    return summary


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The pipeline's own progress lines go to stderr: stdout carries only the simulation's result."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


@dataclass(frozen=True)
class SimulationSettings:
    seed: int
    weeks: int
    policy: Policy
    policy_file: Path
    preset: str = "demo"
    every_days: int = 7
    approve_all: bool = False
    # the test_subjects_refresh job (hourly in production) on the days between pipeline runs,
    # once per this many days; 0: never
    subjects_every_days: int = 1


def check_settings(settings: SimulationSettings) -> WorldSpec:
    """The world spec to simulate; ValueError (one line) for a preset, length or cadence it cannot run."""
    spec = WorldSpec.preset(settings.preset, seed=settings.seed)
    if settings.weeks < 1:
        raise ValueError(f"--weeks must be at least 1 (got {settings.weeks})")
    if settings.weeks * 7 > spec.max_advance_days:
        raise ValueError(
            f"--weeks {settings.weeks} is beyond the {settings.preset} world's "
            f"{spec.max_advance_days} days of future (at most {spec.max_advance_days // 7} weeks)"
        )
    if settings.every_days < 1:
        raise ValueError(f"--every-days must be at least 1 (got {settings.every_days})")
    if settings.subjects_every_days < 0:
        raise ValueError(f"--subjects-every-days must be 0 or more (got {settings.subjects_every_days})")
    return spec


def simulate(settings: SimulationSettings, home: Path, pipeline: Pipeline | None = None) -> dict[str, Any]:
    """Run the three worlds over ``settings.weeks`` weeks and score them (the JSON contract)."""
    started = time.perf_counter()
    spec = check_settings(settings)
    pipeline = pipeline or DailyRefresh()
    day_lo, day_hi = spec.days, spec.days + 7 * settings.weeks
    run_days = list(range(day_lo, day_hi, settings.every_days))
    sweep_days = sweep_schedule(day_lo, day_hi, run_days, settings.subjects_every_days)
    with policy_in_force(settings.policy_file):
        paths = pipeline.prepare(home, spec)
        pages = _run_loopwise(settings, pipeline, paths, run_days, sweep_days)
    loopwise = World.load_state(paths.sandbox_dir / STATE_FILE)
    static, oracle = World(spec), _run_oracle(spec, settings, run_days)
    revenue = {name: _revenue(w, day_lo, day_hi) for name, w in
               (("static", static), ("loopwise", loopwise), ("oracle", oracle))}  # fmt: skip
    actions = action_counts(paths.warehouse)
    planted = [i for i in loopwise.incidents if _in_window(loopwise, i, day_lo, day_hi)]
    paged, false_pages = score_pages(pages, loopwise.incidents, planted)
    predictions = decision_log_calibration(paths.warehouse)
    return {
        "seed": settings.seed,
        "weeks": settings.weeks,
        "every_days": settings.every_days,
        "subjects_every_days": settings.subjects_every_days,
        "policy": settings.policy.as_dict(),
        "revenue_static": round(revenue["static"], 2),
        "revenue_loopwise": round(revenue["loopwise"], 2),
        "revenue_oracle": round(revenue["oracle"], 2),
        "lift_capture": lift_capture(revenue["static"], revenue["loopwise"], revenue["oracle"]),
        "actions": actions,
        "policy_violations": len(policy_violations(loopwise, settings.policy)),
        "experiments_launched": experiments_launched(paths.warehouse),
        "ships": shipped_rollouts(paths.warehouse),
        "wrong_ships": len(wrong_ships(loopwise)) + len(wrong_test_ships(loopwise, paths.warehouse)),
        "decision_log_calibration": predictions["calibration"],
        "realized_vs_predicted": predictions["realized_vs_predicted"],
        "decision_log": {key: predictions.get(key) for key in DECISION_LOG_KEYS},
        **loopwise_test_outcomes(
            loopwise, paths.warehouse, [e.subject_template for e in settings.policy.experiments.library]
        ),
        "incidents_planted": len(planted),
        "incidents_paged": paged,
        "false_pages": false_pages,
        "send_time": send_time_report(loopwise, paths.warehouse),
        "content": content_report(loopwise, paths.warehouse),
        "vendor_writes": vendor_writes(loopwise),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


# ---- the three worlds ----------------------------------------------------------------------------


def sweep_schedule(day_lo: int, day_hi: int, run_days: list[int], every: int) -> list[int]:
    """The days between pipeline runs on which the test-subjects job runs (every ``every`` days
    counted from the first day; none for 0)."""
    if every <= 0:
        return []
    return [day for day in range(day_lo, day_hi, every) if day not in run_days]


def _run_loopwise(
    settings: SimulationSettings,
    pipeline: Pipeline,
    paths: LoopwisePaths,
    run_days: list[int],
    sweep_days: list[int],
) -> dict[str, dict[str, Any]]:
    """Advance the saved world to each run day and run the pipeline (and to each sweep day and run
    the test-subjects job); the pages the pipeline sent, by incident id."""
    state = paths.sandbox_dir / STATE_FILE
    pages: dict[str, dict[str, Any]] = {}
    for day in sorted({*run_days, *sweep_days}):
        world = World.load_state(state)
        if world.clock_day != day:
            world.advance(day - world.clock_day)
            world.save_state(state)
        if day in run_days:
            for incident in pipeline.run(paths):
                if is_page(incident):
                    pages.setdefault(incident["incident_id"], incident)
        else:
            pipeline.sweep(paths)
        if settings.approve_all:
            approve_pending(paths.warehouse, paths)
    return pages


def effective_max_change(policy: Policy, approve_all: bool) -> float:
    """The cap (a fraction) Loopwise's own moves live under: what its budget engine proposes
    to apply on its own (``Policy.budget_proposal_cap``); with ``approve_all`` also what it
    proposes for approval beyond that (``Policy.budget_approval_cap``), which then executes."""
    wider = policy.budget_approval_cap() if approve_all else None
    return wider if wider is not None else policy.budget_proposal_cap()


def _frozen_names(policy: Policy) -> set[str]:
    """The policy's frozen names in both spellings (the pipeline's ``meta_ads``, the sandbox's ``meta``)."""
    frozen = set(policy.budget.frozen)
    return frozen | {vendor for vendor, name in PIPELINE_PLATFORMS.items() if name in frozen}


def _may_write(policy: Policy, world: World) -> bool:
    return policy.autonomy != "off" and world.clock.date() not in policy.blackout_dates


def _run_oracle(spec: WorldSpec, settings: SimulationSettings, run_days: list[int]) -> World:
    """The world as someone who knows the truth would steer it, on the same days, under the same caps."""
    policy = settings.policy
    world = World(spec)
    frozen = _frozen_names(policy)
    if not policy.budget.allow_shared_budgets:
        frozen |= {e.entity_id for p in PLATFORMS for e in world.budget_entities(p) if e.explicitly_shared}
    for day in run_days:
        world.advance(day - world.clock_day)
        if not _may_write(policy, world):
            continue
        current = {p: world.entity_budgets(p, day) for p in PLATFORMS}
        total = sum(sum(b.values()) for b in current.values())
        cap = policy.budget.max_total_daily_budget
        budgets = oracle_budgets(
            world,
            day,
            max_change=effective_max_change(policy, settings.approve_all),
            min_budget=policy.budget.min_daily_budget,
            total=min(total, cap) if cap is not None else None,
            frozen=frozen,
            period_days=settings.every_days,
        )
        for (platform, entity_id), budget in budgets.items():
            if abs(budget - current[platform][entity_id]) >= CENT:
                world.set_entity_budget(platform, entity_id, budget)
        if policy.experiments.auto_ship and "klaviyo" not in frozen:
            for camp in running_tests(world):
                if world.manual_winner(camp) is None and camp.campaign_id not in frozen:
                    world.set_campaign_winner(camp.campaign_id, oracle_winner(world, camp))
        library = [entry.subject_template for entry in policy.experiments.library]
        if library and policy.experiments.auto_launch and "klaviyo" not in frozen:
            apply_oracle_subjects(world, library)  # the truly best approved subject, no test needed
    return world


def _revenue(world: World, day_lo: int, day_hi: int) -> float:
    return expected_ad_revenue(world, day_lo, day_hi) + email_order_revenue(world, day_lo, day_hi)


def lift_capture(static: float, loopwise: float, oracle: float) -> float | None:
    """Share of the oracle's gain over the static world that Loopwise captured; None without a gain."""
    if oracle - static <= 0:
        return None
    return round((loopwise - static) / (oracle - static), 4)


# ---- the independent policy check -----------------------------------------------------------------


@dataclass(frozen=True)
class BudgetEntityFacts:
    initial_budget: float
    explicitly_shared: bool = False


def entity_facts(world: World) -> dict[tuple[str, str], BudgetEntityFacts]:
    """Each budget entity's starting budget and whether it is explicitly shared, by (vendor, id)."""
    return {
        (p, e.entity_id): BudgetEntityFacts(e.initial_budget, e.explicitly_shared)
        for p in PLATFORMS
        for e in world.budget_entities(p)
    }


def policy_violations(world: World, policy: Policy) -> list[str]:
    """Every vendor write in ``world``'s own log that the policy forbids (see :func:`check_writes`)."""
    return check_writes(world.writes, entity_facts(world), policy, world.spec.start_date)


def check_writes(
    writes: list[dict[str, Any]],
    entities: dict[tuple[str, str], BudgetEntityFacts],
    policy: Policy,
    start_date: date,
) -> list[str]:
    """Replay a sandbox write log against the policy's hard limits; one line per violation.

    Independent of the pipeline's governance on purpose: it reads only what the vendor
    received. A budget may move at most ``max_change_pct`` (plus a cent of rounding) from its
    budget at the start of that world day, never below ``min_daily_budget``; frozen platforms
    and entities, blackout dates, shared budgets (unless allowed), an account total above
    ``max_total_daily_budget`` and any write at all under ``autonomy: off`` are violations.
    """
    budget = policy.budget
    frozen = _frozen_names(policy)
    current = {key: facts.initial_budget for key, facts in entities.items()}
    day_start: dict[tuple[str, str], float] = {}
    day = None
    found = []
    for write in sorted(writes, key=lambda w: w["seq"]):
        if write["clock_day"] != day:
            day, day_start = write["clock_day"], dict(current)
        when = start_date + timedelta(days=write["clock_day"])
        where = f"{when} {write['vendor']} {write['target']}"
        if policy.autonomy == "off":
            found.append(f"{where}: written while autonomy is off")
        if when in policy.blackout_dates:
            found.append(f"{where}: written on a blackout date")
        if write["vendor"] in frozen or write["target"] in frozen:
            found.append(f"{where}: frozen by the policy")
        if write["action"] != "set_budget":
            continue
        key = (write["vendor"], write["target"])
        new, base = float(write["value"]), day_start[key]
        if abs(new - base) > base * budget.max_change_pct / 100 + ROUNDING:
            found.append(f"{where}: {base:g} -> {new:g} moves more than {budget.max_change_pct:g}% in a day")
        if new < budget.min_daily_budget:
            found.append(f"{where}: {new:g} is below the minimum {budget.min_daily_budget:g}")
        if entities[key].explicitly_shared and not budget.allow_shared_budgets:
            found.append(f"{where}: an explicitly shared budget")
        current[key] = new
        account = sum(b for (vendor, _), b in current.items() if vendor == write["vendor"])
        if budget.max_total_daily_budget is not None and account > budget.max_total_daily_budget + ROUNDING:
            found.append(f"{where}: account total {account:g} above {budget.max_total_daily_budget:g}")
    return found


def vendor_writes(world: World) -> list[dict[str, Any]]:
    """The world's write log as the sandbox received it: date, vendor, entity, field, before, after."""
    return [
        {
            "day": (world.spec.start_date + timedelta(days=w["clock_day"])).isoformat(),
            "vendor": w["vendor"],
            "entity": w["target"],
            "field": WRITE_FIELDS.get(w["action"], w["action"]),
            "before": w.get("before"),
            "after": w["value"],
        }
        for w in world.writes
    ]


def wrong_ships(world: World) -> list[str]:
    """Campaigns whose shipped winner is truly worse than their best variant (control included)."""
    wrong = []
    for write in world.writes:
        if write["action"] == "set_campaign_winner":
            rates = variant_conversion_rates(world, write["target"])
            if rates[write["value"]] < max(rates.values()):
                wrong.append(write["target"])
    return wrong


# ---- the warehouse: actions and pages ------------------------------------------------------------


def _read(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the warehouse, or none when it or the table does not exist yet."""
    import duckdb

    if not warehouse.exists():
        return []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            return con.execute(sql).fetchall()
        except duckdb.CatalogException:
            return []


def action_counts(warehouse: Path) -> dict[str, int]:
    """How many actions ever reached each status (``results.actions`` and its event history)."""
    rows = dict(
        _read(
            warehouse,
            "select status, count(distinct action_id) from ("
            " select status, action_id from results.actions"
            " union select to_status, action_id from results.action_events) group by status",
        )
    )
    return {status: int(rows.get(status, 0)) for status in ACTION_STATUSES}


def shipped_rollouts(warehouse: Path) -> int:
    """Executed ``rollout_winner`` actions (verified and rolled back ones were executed too): a
    marketer's campaign A/B test's winner, or a Loopwise test's variant rolled out."""
    rows = _read(
        warehouse,
        f"select count(*) from results.actions where action_type = 'rollout_winner' and status in {SHIPPED}",
    )
    return int(rows[0][0]) if rows else 0


DECISION_LOG_KEYS = ("matured", "judged", "conclusive", "inside_90", "calibration_conclusive", "by_verdict")


def decision_log_calibration(warehouse: Path) -> dict[str, Any]:
    """How the pipeline's predictions held up (``decision_engine.decision_log.calibration``) as its
    last run left the decision log; all null without a warehouse or before anything matured."""
    import duckdb

    from decision_engine.decision_log import calibration

    if not warehouse.exists():
        return {"calibration": None, "realized_vs_predicted": None}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return calibration(con)


def experiments_launched(warehouse: Path) -> int:
    """Executed ``launch_experiment`` actions: tests of library content Loopwise started."""
    rows = _read(
        warehouse,
        f"select count(*) from results.actions where action_type = 'launch_experiment' and status in {SHIPPED}",
    )
    return int(rows[0][0]) if rows else 0


def shipped_test_styles(warehouse: Path) -> list[tuple[str, str]]:
    """(test id, subject template) of every Loopwise test whose rollout reached the vendor."""
    rows = _read(
        warehouse,
        "select json_extract_string(r.payload, '$.test_id'), json_extract_string(l.payload, '$.subject_template') "
        "from results.actions as r inner join results.actions as l "
        "on l.action_type = 'launch_experiment' and l.target_id = json_extract_string(r.payload, '$.test_id') "
        f"where r.action_type = 'rollout_winner' and r.status in {SHIPPED} and l.status in {SHIPPED}",
    )
    return sorted({(str(test), str(template)) for test, template in rows})


def loopwise_test_outcomes(world: World, warehouse: Path, library: list[str]) -> dict[str, Any]:
    """Each Loopwise test the run launched, with its newest decision (``results.experiment_decisions``),
    whether its rollout reached the vendor, and its style's true effect on clicks per send (the
    sandbox's truth); ``winner_in_library``: whether any approved style truly beats a plain subject."""
    launched = _read(
        warehouse,
        "select target_id, json_extract_string(payload, '$.subject_template') from results.actions "
        f"where action_type = 'launch_experiment' and status in {SHIPPED} order by target_id",
    )
    latest = dict(
        _read(
            warehouse,
            "select experiment_id, decision from results.experiment_decisions "
            "where experiment_id like 'loopwise:%' and experiment_id not like '%:holdback' qualify row_number() "
            "over (partition by experiment_id order by analysis_date desc, analysis_timestamp desc) = 1",
        )
    )
    shipped = {test_id for test_id, _ in shipped_test_styles(warehouse)}

    def effect(template: str) -> float:
        return round(subject_style_effect(world, template.replace("{subject}", "{t}")), 4)

    return {
        "tests": [
            {
                "test_id": test_id,
                "subject_template": template,
                "decision": latest.get(f"loopwise:{test_id}"),
                "shipped": test_id in shipped,
                "true_click_effect": effect(template),
            }
            for test_id, template in launched
        ],
        "winner_in_library": any(effect(template) > 1.0 for template in library),
    }


def wrong_test_ships(world: World, warehouse: Path) -> list[str]:
    """Loopwise tests that shipped a subject style whose true effect on clicks is worse than
    control's (the sandbox's hidden truth: ``sandbox.truth.subject_style_effect(world, style)``,
    the style's multiplicative click effect, the style in the sandbox's ``{t}`` spelling)."""
    return [
        test_id
        for test_id, template in shipped_test_styles(warehouse)
        if subject_style_effect(world, template.replace("{subject}", "{t}")) < 1.0
    ]


def approve_pending(warehouse: Path, paths: Any = None) -> int:
    """``--approve-all``: approve every action waiting for a human, as approver ``simulate``."""
    import duckdb

    from decision_engine.queue import QueueError, approve, list_actions
    from orchestration.resources import loop_clock

    approved = 0
    with duckdb.connect(str(warehouse)) as con:
        for record in list_actions(con, "pending_approval"):
            with contextlib.suppress(QueueError):  # lapsed since the run: it stays expired
                approve(con, record["action_id"], APPROVER, "approved by loopwise simulate --approve-all",
                        loop_clock(paths))  # fmt: skip
                approved += 1
    return approved


def is_page(incident: dict[str, Any]) -> bool:
    """What the pager sends: an open, critical incident about marketing, not about the data."""
    data = incident.get("data_incident") or incident.get("data_quality_failed")
    return incident.get("status") == "open" and incident.get("severity") == "critical" and not data


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _label_window(incident: Incident) -> tuple[datetime, datetime]:
    return datetime.fromtimestamp(incident.start_ts, UTC), datetime.fromtimestamp(incident.end_ts, UTC)


def _catches(page: dict[str, Any], label: Incident) -> bool:
    start, end = _moment(page.get("window_start")), _moment(page.get("window_end"))
    if start is None or end is None:
        return False
    matched = page_matches(label.kind, label_ads(label.affected), page["incident_type"], page.get("scope"),
                           page.get("entities") or [])  # fmt: skip
    return matched and windows_overlap(start, end, *_label_window(label))


def score_pages(
    pages: dict[str, dict[str, Any]], labels: list[Incident], planted: list[Incident]
) -> tuple[int, int]:
    """(planted incidents some page caught, pages that catch no labelled incident at all)."""
    paged = sum(any(_catches(page, label) for page in pages.values()) for label in planted)
    false_pages = sum(not any(_catches(page, label) for label in labels) for page in pages.values())
    return paged, false_pages


def _in_window(world: World, incident: Incident, day_lo: int, day_hi: int) -> bool:
    return day_lo <= world.day_of(incident.start_ts) < day_hi
