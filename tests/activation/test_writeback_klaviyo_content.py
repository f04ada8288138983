"""KlaviyoWriter's content choice (``campaign_content``) against a real SandboxServer: each
recipient's angle in a per-campaign property, then the message's preview text as a conditional
template; a resumed write is a noop, a failed import leaves the message as it was."""

from __future__ import annotations

from typing import Any

import requests
from writeback_vendors import KlaviyoSettings as Settings

from activation.writeback.base import WriteRequest
from activation.writeback.klaviyo import KlaviyoWriter
from decision_engine.personalization.content_choice import content_template
from decision_engine.policy import load_policy
from sandbox import SandboxServer, World, ids
from sandbox.world.email_plan import Message


class LoseOnce(requests.Session):
    """Delivers every request, but drops the first answer to a PATCH of a campaign message."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        if method == "PATCH" and "/campaign-messages/" in url and not self.lost:
            self.lost = True
            raise requests.ConnectionError("connection reset before the answer arrived")
        return response


def _upcoming_message(world: World) -> tuple[str, Message]:
    camp = next(c for c in world.plan.campaigns if c.created_ts <= world.clock_ts < c.send_ts)
    return camp.campaign_id, world.plan.messages[camp.messages[0]]


def _request(world: World, campaign_id: str, message: Message, profiles: dict[str, str]) -> WriteRequest:
    template = content_template(campaign_id, load_policy().content_choice, "Pricing", "case study | Pricing")
    assignments = {pid: {"contact_id": pid, "arm": "personalized", "angle": a} for pid, a in profiles.items()}
    context = {"property": f"lw_angle_{campaign_id}", "assignments": assignments, "campaign_id": campaign_id}
    return WriteRequest(
        "act-1", "klaviyo", "campaign_content", message.message_id, "preview_text", template, None, context
    )


def _profiles(world: World, n: int = 40) -> dict[str, str]:
    angles = ("case_study", "how_to", "comparison", "promotion")
    c = world.contacts
    visible = [i for i in range(c.n) if c.created_ts[i] < world.clock_ts][:n]
    return {ids.profile_id(world.spec.seed, i): angles[k % 4] for k, i in enumerate(visible)}


def test_sets_every_angle_then_the_template_and_a_rerun_is_a_noop(
    world: World, server: SandboxServer
) -> None:
    campaign_id, message = _upcoming_message(world)
    profiles = _profiles(world)
    request = _request(world, campaign_id, message, profiles)
    writer = KlaviyoWriter(Settings(server.vendor_base_urls["klaviyo"]), sleep=lambda _s: None)
    before = writer.read(request)
    assert before != request.value
    result = writer.write(request, dry_run=False)
    assert result.status == "executed", result.error
    assert result.after == request.value == writer.read(request)
    assert result.request["profiles_per_angle"] == {
        "case_study": 10,
        "comparison": 10,
        "how_to": 10,
        "promotion": 10,
    }
    assert all(world.profile_properties(p)[f"lw_angle_{campaign_id}"] == a for p, a in profiles.items())
    again = writer.write(request, dry_run=False)
    assert again.status == "noop"
    imports = [w for w in world.writes if w["action"] == "import_profiles"]
    assert len(imports) == 1  # the rerun imported nothing


def test_a_lost_answer_to_the_patch_is_confirmed_by_a_read(world: World, server: SandboxServer) -> None:
    campaign_id, message = _upcoming_message(world)
    request = _request(world, campaign_id, message, _profiles(world, 8))
    session = LoseOnce()
    writer = KlaviyoWriter(Settings(server.vendor_base_urls["klaviyo"]), session, sleep=lambda _s: None)
    result = writer.write(request, dry_run=False)
    assert session.lost and result.status == "executed", result.error
    assert writer.read(request) == request.value


def test_a_profile_that_fails_leaves_the_message_as_it_was(world: World, server: SandboxServer) -> None:
    campaign_id, message = _upcoming_message(world)
    profiles = {**_profiles(world, 8), "01NOTAPROFILE0000000000000": "how_to"}
    request = _request(world, campaign_id, message, profiles)
    writer = KlaviyoWriter(Settings(server.vendor_base_urls["klaviyo"]), sleep=lambda _s: None)
    before = writer.read(request)
    result = writer.write(request, dry_run=False)
    assert result.status == "failed" and result.retryable
    assert "1 of 9 profiles were not set" in result.error
    assert writer.read(request) == before  # no template shows an angle nobody holds
    dry = writer.write(_request(world, campaign_id, message, _profiles(world, 8)), dry_run=True)
    assert dry.status == "validated" and writer.read(request) == before
