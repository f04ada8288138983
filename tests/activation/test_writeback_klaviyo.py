"""KlaviyoWriter against a real SandboxServer: rollouts, profile properties, flow status, retries, secrets."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from writeback_vendors import KLAVIYO_KEY as KEY
from writeback_vendors import KlaviyoSettings as Settings

from activation.writeback.base import WriteError, WriteRequest
from activation.writeback.klaviyo import KlaviyoWriter
from sandbox import FaultConfig, SandboxServer, World
from sandbox.world.email_plan import Campaign

DAY = 86400


class LosesFirstAnswer(requests.Session):
    """Delivers every request, but drops the first answer to URLs containing ``lose``."""

    def __init__(self, lose: str) -> None:
        super().__init__()
        self.lose = lose
        self.sent: list[str] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        self.sent.append(f"{method} {url}")
        if self.lose in url and self.sent.count(f"{method} {url}") == 1:
            raise requests.ConnectionError("connection reset before the answer arrived")
        return response


def _writer(
    srv: SandboxServer, sleeps: list[float], session: requests.Session | None = None
) -> KlaviyoWriter:
    return KlaviyoWriter(Settings(srv.vendor_base_urls["klaviyo"]), session, sleep=sleeps.append)


def _pending_ab(world: World) -> Campaign:
    return next(
        c
        for c in world.plan.campaigns
        if c.is_ab and not c.is_aa and c.rollout_ts > world.clock_ts and c.send_ts < world.clock_ts + 5 * DAY
    )


def _rollout(world: World, camp: Campaign, variant: int = 1) -> WriteRequest:
    msg = world.plan.messages[camp.messages[variant]]
    context = {
        "subject": msg.subject,
        "preview_text": msg.preview_text,
        "from_email": "news@loopwise.example",
        "from_label": "Loopwise",
        "label": msg.label,
    }
    return WriteRequest(
        "act-1", "klaviyo", "campaign", camp.campaign_id, "winner_message_id", msg.message_id, context=context
    )


def _actions(world: World) -> list[str]:
    return [w["action"] for w in world.writes]


def test_rollout_executes_once_when_the_send_answer_is_lost(world: World, server: SandboxServer) -> None:
    camp = _pending_ab(world)
    request = _rollout(world, camp)
    sleeps: list[float] = []
    session = LosesFirstAnswer("/api/campaign-send-jobs")
    result = _writer(server, sleeps, session).write(request, dry_run=False)
    assert result.status == "executed", result.error
    assert result.before is None and result.after == request.value
    assert _actions(world) == ["create_campaign", "set_campaign_winner", "send_campaign"]
    assert sum("campaign-send-jobs" in s for s in session.sent) == 1  # re-read, not re-sent
    assert len(sleeps) == 1
    again = _writer(server, sleeps).write(request, dry_run=False)
    assert again.status == "noop" and len(world.writes) == 3


def test_throttled_rollout_waits_retry_after_and_rolls_out_once(world: World) -> None:
    camp = _pending_ab(world)
    sleeps: list[float] = []
    faults = FaultConfig(rate_limit_every=2, retry_after_seconds=3)
    with SandboxServer(world, faults=faults) as srv:
        result = _writer(srv, sleeps).write(_rollout(world, camp), dry_run=False)
    assert result.status == "executed", result.error
    assert sleeps and set(sleeps) == {3.0}
    assert _actions(world) == ["create_campaign", "set_campaign_winner", "send_campaign"]


def test_attempts_are_bounded(world: World) -> None:
    sleeps: list[float] = []
    with SandboxServer(world, faults=FaultConfig(rate_limit_every=1)) as srv:
        result = _writer(srv, sleeps).write(_rollout(world, _pending_ab(world)), dry_run=False)
    assert result.status == "failed" and result.retryable and "429" in result.error
    assert "\n" not in result.error and result.vendor_request_id
    assert len(sleeps) == 3 and world.writes == []


def test_dry_run_validates_and_changes_nothing(world: World, server: SandboxServer) -> None:
    camp = _pending_ab(world)
    result = _writer(server, []).write(_rollout(world, camp), dry_run=True)
    assert result.status == "validated" and result.before is None
    assert result.request["body"]["data"]["attributes"]["audiences"]["included"] == [
        f"ab-remainder-{camp.campaign_id}"
    ]
    assert world.writes == []
    profile = WriteRequest(
        "a", "klaviyo", "profile", _profile_id(server), "properties.loopwise_send_hour", 14
    )
    assert _writer(server, []).write(profile, dry_run=True).status == "validated"
    assert world.writes == []


def test_vendor_refusals_become_failed_results(world: World, server: SandboxServer) -> None:
    camp = _pending_ab(world)
    wrong = _rollout(world, camp)
    wrong = WriteRequest(**{**wrong.__dict__, "context": {**wrong.context, "subject": "not a variant"}})
    result = _writer(server, []).write(wrong, dry_run=False)
    assert result.status == "failed" and not result.retryable and "not a variant" in result.error
    assert result.response["status_code"] == 400 and world.writes == []
    rolled = next(c for c in world.plan.campaigns if c.is_ab and c.rollout_ts < world.clock_ts)
    other = next(v for v, m in enumerate(rolled.messages) if m != world.campaign_winner(rolled))
    late = _writer(server, []).write(_rollout(world, rolled, other), dry_run=False)
    assert late.status == "failed" and "already rolled out" in late.error and not late.retryable
    missing = WriteRequest("a", "klaviyo", "flow", "nope", "status", "draft")
    gone = _writer(server, []).write(missing, dry_run=False)
    assert gone.status == "failed" and "404" in gone.error and not gone.retryable
    assert world.writes == []


def _profile_id(srv: SandboxServer) -> str:
    headers = {"Authorization": f"Klaviyo-API-Key {KEY}", "revision": "2026-10-15"}
    r = requests.get(srv.vendor_base_urls["klaviyo"] + "/api/profiles", headers=headers, timeout=30)
    return r.json()["data"][3]["id"]


def test_profile_property_and_flow_status(world: World, server: SandboxServer) -> None:
    writer = _writer(server, [])
    pid = _profile_id(server)
    prop = WriteRequest("a", "klaviyo", "profile", pid, "properties.loopwise_send_hour", 14)
    result = writer.write(prop, dry_run=False)
    assert (result.status, result.before, result.after) == ("executed", None, 14)
    assert writer.read(prop) == 14 and writer.write(prop, dry_run=False).status == "noop"
    assert world.profile_properties(pid) == {"loopwise_send_hour": 14}
    flow = world.plan.flows[0]
    status = WriteRequest("b", "klaviyo", "flow", flow.flow_id, "status", "draft")
    result = writer.write(status, dry_run=False)
    assert (result.status, result.before, result.after) == ("executed", "live", "draft")
    assert world.flow_status(flow) == "draft"
    assert _actions(world) == ["set_profile_property", "set_flow_status"]
    with pytest.raises(WriteError):
        writer.write(WriteRequest("c", "klaviyo", "flow", flow.flow_id, "status", "paused"), dry_run=False)
    with pytest.raises(WriteError):
        writer.write(WriteRequest("c", "klaviyo", "campaign", "x", "winner_message_id", "m"), dry_run=True)


def test_secrets_never_recorded(world: World, server: SandboxServer) -> None:
    writer = _writer(server, [])
    results = [
        writer.write(_rollout(world, _pending_ab(world)), dry_run=True),
        writer.write(
            WriteRequest("b", "klaviyo", "flow", world.plan.flows[0].flow_id, "status", "manual"),
            dry_run=False,
        ),
        writer.write(WriteRequest("c", "klaviyo", "flow", "nope", "status", "live"), dry_run=False),
    ]
    assert KEY not in repr(writer)
    for result in results:
        assert KEY not in json.dumps([result.request, result.response, result.error]) and KEY not in repr(
            result
        )
    assert results[1].status == "executed" and results[2].status == "failed"


class LosesFirstCreate(requests.Session):
    """Klaviyo creates the campaign, but the answer to the first ``POST /api/campaigns`` never arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.creates = 0

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        if method == "POST" and url.endswith("/api/campaigns"):
            self.creates += 1
            if self.creates == 1:
                raise requests.ConnectionError("connection reset before the answer arrived")
        return response


def _rollout_campaigns(server: SandboxServer, action_id: str) -> list[dict[str, Any]]:
    """Every campaign whose name carries the action's marker, as Klaviyo lists them."""
    response = requests.get(
        f"{server.vendor_base_urls['klaviyo']}/api/campaigns",
        headers={"Authorization": f"Klaviyo-API-Key {KEY}", "revision": "2026-10-15"},
        params={"filter": f"equals(messages.channel,'email'),contains(name,'[loopwise {action_id}]')"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_lost_create_answer_reuses_the_draft_within_one_write(world: World, server: SandboxServer) -> None:
    request = _rollout(world, _pending_ab(world))
    session = LosesFirstCreate()
    result = _writer(server, [], session).write(request, dry_run=False)
    assert result.status == "executed", result.error
    assert session.creates == 1  # the retry found the draft instead of creating a second one
    (campaign,) = _rollout_campaigns(server, request.action_id)
    assert result.request["reused_campaign_id"] == campaign["id"]
    assert campaign["attributes"]["name"].endswith("- winner rollout [loopwise act-1]")
    assert _actions(world) == ["create_campaign", "set_campaign_winner", "send_campaign"]


def test_a_retried_action_reuses_the_draft_a_lost_answer_left(world: World, server: SandboxServer) -> None:
    """The run that lost the answer gives up (one attempt); the action's retry in a later run sends
    the draft it finds instead of creating a second: exactly one campaign exists at the end."""
    request = _rollout(world, _pending_ab(world))
    first = KlaviyoWriter(Settings(server.vendor_base_urls["klaviyo"]), LosesFirstCreate(), max_attempts=1)
    lost = first.write(request, dry_run=False)
    assert lost.status == "failed" and lost.retryable and "no response" in lost.error
    (draft,) = _rollout_campaigns(server, request.action_id)
    assert draft["attributes"]["status"] == "Draft" and _actions(world) == ["create_campaign"]

    retried = _writer(server, []).write(request, dry_run=False)
    assert retried.status == "executed", retried.error
    assert retried.request["reused_campaign_id"] == draft["id"]
    (campaign,) = _rollout_campaigns(server, request.action_id)
    assert campaign["id"] == draft["id"] and campaign["attributes"]["status"] == "Scheduled"
    assert _actions(world) == ["create_campaign", "set_campaign_winner", "send_campaign"]
    assert _writer(server, []).write(request, dry_run=False).status == "noop"


def test_each_action_looks_up_only_its_own_rollout(world: World, server: SandboxServer) -> None:
    """An unrelated campaign (another action's marker) is never reused."""
    camp = _pending_ab(world)
    other = _rollout(world, camp)
    mine = WriteRequest(
        "act-2",
        other.platform,
        other.entity_type,
        other.entity_id,
        other.field,
        other.value,
        context=other.context,
    )
    first = KlaviyoWriter(Settings(server.vendor_base_urls["klaviyo"]), LosesFirstCreate(), max_attempts=1)
    assert first.write(other, dry_run=False).status == "failed"  # leaves act-1's draft
    result = _writer(server, []).write(mine, dry_run=False)
    assert result.status == "executed", result.error
    assert "reused_campaign_id" not in result.request
    assert len(_rollout_campaigns(server, "act-1")) == 1 and len(_rollout_campaigns(server, "act-2")) == 1


def test_an_action_id_that_cannot_be_quoted_is_refused(world: World, server: SandboxServer) -> None:
    bad = _rollout(world, _pending_ab(world))
    bad = WriteRequest(
        "a'b", bad.platform, bad.entity_type, bad.entity_id, bad.field, bad.value, context=bad.context
    )
    with pytest.raises(WriteError, match="cannot name a rollout campaign"):
        _writer(server, []).write(bad, dry_run=False)
    assert world.writes == []
