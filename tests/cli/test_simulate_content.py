"""``loopwise simulate``'s content-choice scores against the sandbox truth, on a warehouse whose
assignments and affinities are built from that truth (so the right answer is known by hand: the
angle factor is 1.35 on the contact's true angle and 0.85 off it, on opens and on clicks alike)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from decision_engine.store import ensure_results_table
from loopwise.simulate_content import content_report, recovery
from sandbox import World, WorldSpec, ids
from sandbox.world import events as ev
from sandbox.world.email_plan import Campaign

ANGLES = ("case_study", "how_to", "comparison", "promotion")  # Loopwise's ids, the sandbox's order
UNIFORM = (1.35**2 + 3 * 0.85**2) / 4  # a uniformly drawn angle: on the true one a quarter of the time


@pytest.fixture(scope="module")
def world() -> World:
    return World(WorldSpec.preset("tiny", clean=True))


def _campaign(world: World) -> Campaign:
    return next(c for c in world.plan.campaigns if not c.is_ab and c.send_ts > world.clock_ts)


def _recipients(world: World, camp: Campaign, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(contacts, true angle at the send, expected clicks per send without any angle effect)."""
    who, _ = ev.campaign_audience(world.email_ctx, camp)
    who = who[world.contacts.created_ts[who] < world.clock_ts][:n]
    late = camp.send_ts >= world.email_ctx.drift_ts
    truth = (world.contacts.affinity_late if late else world.contacts.affinity)[who]
    msg = world.plan.messages[camp.messages[0]]
    p_open, p_click, _ = ev.send_probabilities(world.email_ctx, who, camp.send_ts, msg, -1)
    assert p_open.max() * 1.35 < 0.95 and p_click.max() * 1.35 < 0.9  # no clipping: the hand sums hold
    return who, truth, p_open * p_click


def _write_assignments(path: Path, world: World, camp: Campaign, who: np.ndarray, angles: np.ndarray) -> None:
    con = duckdb.connect(str(path))
    ensure_results_table(con, "content_assignments")
    at = datetime(2026, 4, 1, tzinfo=UTC)
    seed = world.spec.seed
    rows = [
        (ids.profile_id(seed, int(i)), camp.campaign_id, "personalized", ANGLES[int(a)], at)
        for i, a in zip(who, angles, strict=True)
    ]
    stale = (
        rows[0][0],
        camp.campaign_id,
        "personalized",
        ANGLES[(int(angles[0]) + 1) % 4],
        at - timedelta(1),
    )
    control = (ids.profile_id(seed, int(who[-1]) + 1), camp.campaign_id, "control", "promotion", at)
    con.executemany(
        "insert into results.content_assignments (klaviyo_profile_id, campaign_id, arm, angle, assigned_at) "
        "values (?, ?, ?, ?, ?)",
        [*rows, stale, control],
    )
    con.close()


def test_true_lift_is_the_oracles_when_every_angle_is_the_truth(world: World, tmp_path: Path) -> None:
    camp = _campaign(world)
    who, truth, _ = _recipients(world, camp)
    _write_assignments(tmp_path / "w.duckdb", world, camp, who, truth)
    report = content_report(world, tmp_path / "w.duckdb")
    assert report["campaigns"] == 1 and report["recipients_by_arm"] == {
        "control": 1,
        "personalized": len(who),
    }
    assert report["true_lift"] == pytest.approx(1.35**2 / UNIFORM - 1, abs=1e-4)  # every contact alike
    assert report["oracle_lift"] == report["true_lift"] and report["oracle_share_captured"] == 1.0


def test_true_lift_weighs_right_and_wrong_angles_by_each_contacts_clicks(
    world: World, tmp_path: Path
) -> None:
    camp = _campaign(world)
    who, truth, clicks = _recipients(world, camp)
    right = np.arange(len(who)) % 3 == 0
    angles = np.where(right, truth, (truth + 1) % 4)
    _write_assignments(tmp_path / "w.duckdb", world, camp, who, angles)
    report = content_report(world, tmp_path / "w.duckdb")
    factor = np.where(right, 1.35**2, 0.85**2)
    expected = (clicks * factor).sum() / (clicks * UNIFORM).sum() - 1
    assert report["true_lift"] == pytest.approx(expected, abs=1e-4)
    assert 0 < report["true_lift"] < report["oracle_lift"]  # a third right beats chance's quarter
    assert report["oracle_share_captured"] == pytest.approx(
        report["true_lift"] / report["oracle_lift"], abs=1e-3
    )


def test_recovery_counts_contacts_with_three_clicks_whose_best_angle_is_planted(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    ensure_results_table(con, "content_affinity")
    c = world.contacts
    assert world.clock_ts >= world.email_ctx.drift_ts
    n = 240
    truth = c.affinity_late[:n]
    preferred = np.where(np.arange(n) % 4 == 0, (truth + 2) % 4, truth)
    rows = []
    for i in range(n):
        contact_id = hashlib.sha256(c.email(i).encode()).hexdigest()
        for a in range(4):
            score = 0.3 if a == preferred[i] else 0.1 + 0.01 * a
            clicks = 1 if (i < 180 and a < 3) else 0  # 3 clicks over three angles for the first 180
            rows.append((date(2026, 4, 2), contact_id, ANGLES[a], score, clicks))
            rows.append((date(2026, 3, 1), contact_id, ANGLES[a], 0.3 if a == truth[i] else 0.0, 9))  # older
    con.executemany(
        "insert into results.content_affinity (analysis_date, contact_id, angle, engagement_score, n_clicks) "
        "values (?, ?, ?, ?, ?)",
        rows,
    )
    con.close()
    got = recovery(world, path)
    assert got["contacts"] == 180 and got["chance"] == 0.25
    assert got["preferred_is_true"] == pytest.approx(0.75, abs=1e-4)


def test_the_newest_click_lift_of_the_personalized_arm_is_the_measured_one(
    world: World, tmp_path: Path
) -> None:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    ensure_results_table(con, "content_lift")
    con.executemany(
        "insert into results.content_lift (analysis_date, metric, arm, relative_lift, ci_lower, ci_upper, sends) "
        "values (?, ?, ?, ?, ?, ?, ?)",
        [
            (date(2026, 4, 1), "click_rate", "personalized", 0.5, 0.1, 0.9, 10),
            (date(2026, 4, 2), "click_rate", "personalized", 0.12, -0.03, 0.27, 900),
            (date(2026, 4, 2), "human_open_rate", "personalized", 0.04, 0.0, 0.08, 900),
            (date(2026, 4, 2), "click_rate", "control", None, None, None, 100),
        ],
    )
    con.close()
    report = content_report(world, path)
    assert (report["measured_lift"], report["measured_ci95"], report["sends"]) == (0.12, [-0.03, 0.27], 900)


def test_a_warehouse_without_content_choice_reports_nulls(world: World, tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    for warehouse in (path, tmp_path / "missing.duckdb"):
        report = content_report(world, warehouse)
        assert report["campaigns"] == 0 and report["recipients_by_arm"] == {}
        assert report["true_lift"] is None and report["measured_lift"] is None
        assert report["recovery"] == {"contacts": 0, "preferred_is_true": None, "chance": 0.25}
