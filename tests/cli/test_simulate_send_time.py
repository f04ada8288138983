"""``loopwise simulate``'s send-time scores against the sandbox truth, on a warehouse whose
assignments and profiles are built from that truth (so the right answer is known)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import duckdb
import numpy as np
import pytest

from decision_engine.store import ensure_results_table
from loopwise.simulate_send_time import circular_distance, recovery, send_time_report, true_lifts
from sandbox import World, WorldSpec, ids
from sandbox.world.events import hour_factor


@pytest.fixture(scope="module")
def world() -> World:
    return World(WorldSpec.preset("tiny", clean=True))


def _assignments(world: World, hours_of: str, n: int = 200):
    import pandas as pd

    day = world.clock_day + 3
    when = datetime.fromtimestamp(world.start_ts + day * 86_400, UTC).replace(hour=15)
    late = world.start_ts + day * 86_400 >= world.email_ctx.drift_ts
    pref = (world.contacts.pref_hour_late if late else world.contacts.pref_hour)[:n]
    control = 11
    personal = {"truth": np.round(pref) % 24, "control": np.full(n, control)}[hours_of]
    rows = [
        {
            "klaviyo_profile_id": ids.profile_id(world.spec.seed, i),
            "parent_campaign_id": "camp",
            "arm": "personalized",
            "scheduled_local_hour": int(personal[i]),
            "scheduled_at": when,
        }
        for i in range(n)
    ]
    rows.append({**rows[0], "arm": "control", "scheduled_local_hour": control})
    return pd.DataFrame(rows), pref, control


def test_true_lift_is_the_oracles_when_every_hour_is_the_truth(world):
    frame, pref, control = _assignments(world, "truth")
    got = true_lifts(world, frame)
    base = world.contacts.open_base[: len(pref)]
    at_control = (base * hour_factor(np.full(len(pref), control), pref)).sum()
    at_rounded = (base * hour_factor(np.round(pref) % 24, pref)).sum()
    assert got["true_lift"] == pytest.approx(at_rounded / at_control - 1, abs=1e-4)
    assert got["oracle_lift"] > 0.2 and got["oracle_share_captured"] == pytest.approx(
        got["true_lift"] / got["oracle_lift"], abs=1e-3
    )
    assert got["oracle_share_captured"] > 0.95  # rounding to whole hours costs almost nothing


def test_true_lift_is_zero_when_personalized_hours_are_the_controls(world):
    frame, _, _ = _assignments(world, "control")
    got = true_lifts(world, frame)
    assert got["true_lift"] == pytest.approx(0.0, abs=1e-9) and got["oracle_share_captured"] == pytest.approx(
        0.0
    )


def test_recovery_counts_contacts_with_ten_opens_within_two_hours(world, tmp_path):
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    ensure_results_table(con, "send_time_profiles")
    c = world.contacts
    n = 300
    truth = c.pref_hour_late[:n]
    chosen = np.where(np.arange(n) % 3 == 0, (np.round(truth) + 12) % 24, np.round(truth) % 24).astype(int)
    for i in range(n):
        contact_id = hashlib.sha256(c.email(i).encode()).hexdigest()
        con.execute(
            "insert into results.send_time_profiles (analysis_date, contact_id, chosen_local_hour, n_opens, "
            "account_best_local_hour) values (?, ?, ?, ?, ?)",
            [datetime(2026, 4, 1).date(), contact_id, int(chosen[i]), 12 if i < 200 else 3, 11],
        )
    con.close()
    got = recovery(world, path)
    expected = (circular_distance(chosen[:200], truth[:200]) <= 2).mean()
    assert got["contacts"] == 200 and got["within_2h"] == pytest.approx(expected, abs=1e-4)
    assert 0.6 < got["within_2h"] < 0.72


def test_a_warehouse_without_send_times_reports_nulls(world, tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    report = send_time_report(world, path)
    assert report["campaigns"] == 0 and report["true_lift"] is None and report["measured_lift"] is None
    assert report["recovery"]["within_2h"] is None
