"""World spec, determinism, persistence and ground truth (no HTTP)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from sandbox import World, WorldSpec, WriteError
from sandbox.truth import build_truth, expected_conversions, optimal_allocation, write_truth


def test_presets_and_yaml_overrides(tmp_path: Path) -> None:
    assert (
        WorldSpec.preset("tiny").n_contacts
        < WorldSpec.preset("demo").n_contacts
        < WorldSpec.preset("large").n_contacts
    )
    path = tmp_path / "world.yaml"
    path.write_text(
        "preset: tiny\nseed: 7\ndays: 20\nstart_date: 2026-03-02\nmalformed_rate: 0.0\n"
        "api_keys: {klaviyo: other}\n"
    )
    spec = WorldSpec.from_yaml(path)
    assert (spec.n_contacts, spec.seed, spec.days, str(spec.start_date)) == (300, 7, 20, "2026-03-02")
    assert spec.api_keys["klaviyo"] == "other" and spec.api_keys["hubspot"] == "sandbox-hubspot-token"
    path.write_text("bogus_field: 1\n")
    with pytest.raises(ValueError, match="bogus_field"):
        WorldSpec.from_yaml(path)


def test_tiny_world_builds_fast_and_is_deterministic() -> None:
    t = time.perf_counter()
    a = World(WorldSpec.preset("tiny"))
    assert time.perf_counter() - t < 2.0
    b = World(WorldSpec.preset("tiny"))
    for day in (0, 10, 29):
        ea, eb = a.visible_events(day), b.visible_events(day)
        assert (
            np.array_equal(ea.key, eb.key) and np.array_equal(ea.ts, eb.ts) and np.array_equal(ea.aux, eb.aux)
        )
    c = World(WorldSpec.preset("tiny", seed=43))
    assert not np.array_equal(a.visible_events(10).ts, c.visible_events(10).ts)


def test_any_day_regenerates_alone(tiny_world: World) -> None:
    fresh = World(WorldSpec.preset("tiny"))
    late = fresh.visible_events(20)  # no earlier day generated first
    assert np.array_equal(late.key, tiny_world.visible_events(20).key)


def test_world_has_the_required_ingredients(tiny_world: World, truth: dict) -> None:
    c = tiny_world.contacts
    assert c.holdout.mean() == pytest.approx(0.05, abs=0.04)
    assert len(set(c.tz.tolist())) >= 5
    camps = truth["campaigns"]
    assert any(x["is_ab"] and x["is_aa"] for x in camps) or any(x["is_ab"] for x in camps)
    assert any(len(x["variants"]) >= 2 for x in camps)
    flow = truth["flows"][0]
    assert len(flow["steps"]) == 4 and sum(s["is_split"] for s in flow["steps"]) == 1
    kinds = {i["kind"] for i in truth["incidents"]}
    assert kinds == {
        "tracking_outage",
        "deliverability_drop",
        "broken_landing_page",
        "runaway_spend",
        "crm_sync_stall",
    }
    roas = [
        expected_conversions(a, a["initial_daily_budget"])
        * a["value_per_conversion"]
        / a["initial_daily_budget"]
        for a in truth["ad_curves"]
    ]
    assert 4 < max(roas) / min(roas) < 12
    for a in truth["ad_curves"]:  # concave: diminishing returns
        x = np.array([10.0, 50.0, 100.0, 200.0])
        y = expected_conversions(a, x)
        assert np.all(np.diff(y) > 0) and np.all(np.diff(np.diff(y) / np.diff(x)) < 0)
    alloc = optimal_allocation(truth["ad_curves"], 500.0, steps=200)
    assert sum(alloc.values()) == pytest.approx(500.0)
    holdout = truth["global_holdout"]
    assert holdout["holdout_contacts"] > 0 and holdout["true_incremental_orders_per_contact"] > 0
    assert truth["record_counts"]["klaviyo.events.Opened Email"] > 0


def test_clean_world_has_no_incidents_or_mess() -> None:
    w = World(WorldSpec.preset("tiny", clean=True))
    t = build_truth(w)
    assert t["incidents"] == [] and t["malformed"] == [] and t["duplicates"] == []


def test_save_load_round_trip(tmp_path: Path) -> None:
    w = World(WorldSpec.preset("tiny"))
    entity = w.budget_entities("meta")[0]
    w.set_entity_budget("meta", entity.entity_id, 321.0)
    w.advance(3)
    path = w.save_state(tmp_path)
    back = World.load_state(tmp_path)
    assert back.clock_day == w.clock_day == 33 and back.writes == w.writes
    assert json.loads(path.read_text())["spec"]["seed"] == 42
    assert np.array_equal(back.ad_day("meta", 31).spend, w.ad_day("meta", 31).spend)
    assert build_truth(back, include_records=False) == build_truth(w, include_records=False)


def test_writes_are_validated() -> None:
    w = World(WorldSpec.preset("tiny"))
    with pytest.raises(WriteError):
        w.set_entity_budget("meta", "nope", 10)
    sent = next(c for c in w.plan.campaigns if c.is_ab and c.rollout_ts < w.clock_ts)
    with pytest.raises(WriteError, match="rolled out"):
        w.set_campaign_winner(sent.campaign_id, w.plan.messages[sent.messages[1]].message_id)
    with pytest.raises(ValueError):
        w.advance(10_000)


def test_write_truth(tmp_path: Path, tiny_world: World) -> None:
    paths = write_truth(tiny_world, tmp_path / "truth")
    names = {p.name for p in paths}
    assert {
        "campaigns.json",
        "ad_curves.json",
        "incidents.json",
        "malformed.json",
        "global_holdout.json",
    } <= names


def test_state_json_encodes_each_write_once_and_equals_json_dumps(monkeypatch) -> None:
    """The server saves after every write: the log's writes are encoded once and reused. The text
    is json.dumps of state() whatever happened to the log since the last save."""
    w = World(WorldSpec.preset("tiny"))

    def dumped() -> str:
        return json.dumps(w.state(), sort_keys=True, separators=(",", ":"))

    assert w.state_json() == dumped()
    entities = w.budget_entities("meta")
    w.set_entity_budget("meta", entities[0].entity_id, 321.0)
    assert w.state_json() == dumped()
    encoded: list[object] = []
    real = json.JSONEncoder.encode
    monkeypatch.setattr(json.JSONEncoder, "encode", lambda self, o: encoded.append(o) or real(self, o))
    w.set_entity_budget("meta", entities[0].entity_id, 123.0)
    w.advance(2)
    assert w.state_json() == dumped()
    assert sum(1 for o in encoded if isinstance(o, dict) and "seq" in o) == 1  # only the new write
    # a log replaced by a shorter one, then by one as long but of other records: encoded anew
    first = w.writes[:1]
    w.writes = first
    assert w.state_json() == dumped()
    w.writes = [dict(first[0], value=999.0)]
    assert w.state_json() == dumped()
