"""fct_flow_journeys against the sandbox's own flow mechanics on a small world.

The world is served over HTTP, loaded by the Klaviyo and HubSpot sources, and built by dbt; the
truth (sandbox.truth.flow_journeys) comes from the world's hidden state: who triggered each flow,
the flow's drop-off draws, bad addresses and each contact's exit. The record mess (duplicates,
malformed and late events) is switched off so that every send the world made is in the data.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from dbt_build_result import DbtBuild, dbt_failures, invoke_dbt

from ingestion.config import RetryPolicy, SourceSettings

FAST_RETRY = RetryPolicy(
    timeout_seconds=5.0,
    max_attempts=8,
    backoff_base_seconds=0.05,
    backoff_max_seconds=1.0,
    max_total_backoff_seconds=30.0,
)


def _settings(server: Any, spec: Any) -> SourceSettings:
    urls, keys = server.vendor_base_urls, spec.api_keys
    return SourceSettings(
        klaviyo_api_key=keys["klaviyo"],
        klaviyo_base_url=urls["klaviyo"],
        hubspot_access_token=keys["hubspot"],
        hubspot_base_url=urls["hubspot"],
        start_date=spec.start_date,
        retry=FAST_RETRY,
    )


@pytest.fixture(scope="module")
def flow_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import sandbox
    from ingestion import run_source
    from sandbox.truth import flow_journeys

    spec = dataclasses.replace(
        sandbox.WorldSpec.preset("tiny"),
        n_contacts=1500,
        days=45,
        duplicate_rate=0.0,
        malformed_rate=0.0,
        late_event_share=0.0,
        unexpected_field_rate=0.0,
    )
    world = sandbox.World(spec)
    root = tmp_path_factory.mktemp("flow_journeys")
    path = root / "warehouse.duckdb"
    with sandbox.SandboxServer(world) as server:
        settings = _settings(server, spec)
        for name in ("klaviyo", "hubspot"):
            run_source(name, path, settings, pipelines_dir=root / "dlt")
    result = invoke_dbt(
        path, root, ["build", "--select", "+fct_flow_journeys", "--indirect-selection", "cautious"]
    )
    build = DbtBuild(path, result.success, dbt_failures(result))
    assert build.success, build.failures
    mart = build.query_dicts(
        "select klaviyo_profile_id, flow_id, entry_ts, last_step, exit_reason, is_converted "
        "from marts.fct_flow_journeys"
    )
    return {"truth": flow_journeys(world), "mart": mart, "build": build}


def _key(profile_id: str, flow_id: str, entry: datetime) -> tuple[str, str, str]:
    return profile_id, flow_id, entry.strftime("%Y-%m-%dT%H:00:00")


def _truth_by_key(truth: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(row["profile_id"], row["flow_id"], row["entry_hour"][:19]): row for row in truth}


def test_the_mart_has_exactly_the_worlds_journeys(flow_world: dict[str, Any]) -> None:
    truth = _truth_by_key(flow_world["truth"])
    mart = {_key(r["klaviyo_profile_id"], r["flow_id"], r["entry_ts"]): r for r in flow_world["mart"]}
    assert len(truth) > 300
    assert set(mart) == set(truth)
    assert {k: r["last_step"] for k, r in mart.items()} == {k: r["last_step"] for k, r in truth.items()}


def test_exit_reason_counts_per_flow_and_step_equal_the_truth(flow_world: dict[str, Any]) -> None:
    """The world has no conversion exit: a converted journey is one the flow dropped after an order."""

    def counts(rows: list[dict]) -> Counter:
        dropped = {"converted": "filtered_out"}
        return Counter(
            (row["flow_id"], row["last_step"], dropped.get(row["exit_reason"], row["exit_reason"]))
            for row in rows
        )

    truth = counts(flow_world["truth"])
    mart = counts(flow_world["mart"])
    assert mart == truth
    reasons = {reason for _, _, reason in truth}
    assert {"completed_all_steps", "filtered_out", "still_waiting", "bounced", "unsubscribed"} <= reasons
    assert all(row["is_converted"] for row in flow_world["mart"] if row["exit_reason"] == "converted")


def test_journeys_still_waiting_are_never_counted_as_dropped(flow_world: dict[str, Any]) -> None:
    truth = _truth_by_key(flow_world["truth"])
    waiting = [
        r
        for r in flow_world["mart"]
        if truth[_key(r["klaviyo_profile_id"], r["flow_id"], r["entry_ts"])]["exit_reason"] == "still_waiting"
    ]
    assert len(waiting) > 20
    assert {r["exit_reason"] for r in waiting} == {"still_waiting"}
