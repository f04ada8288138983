"""KlaviyoWriter's calls for Loopwise's own tests, against a real SandboxServer: a property on many
profiles in bulk import jobs, and a campaign message's subject. Retries, waits and secrets as for
the client's other writes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from writeback_vendors import KLAVIYO_KEY as KEY
from writeback_vendors import KlaviyoSettings as Settings

from activation.writeback.base import WriteError
from activation.writeback.klaviyo import KlaviyoWriter
from sandbox import FaultConfig, SandboxServer, World, ids
from sandbox.world.email_plan import Message

DAY = 86400
ARM = "lw_arm_quick_read"


class Session(requests.Session):
    """Delivers every request; drops the first answer to a URL containing ``lose`` (with the method
    ``lose_method``), and shows every import job as still processing when ``stuck``."""

    def __init__(self, lose: str = "", lose_method: str = "POST", stuck: bool = False) -> None:
        super().__init__()
        self.lose, self.lose_method, self.stuck = lose, lose_method, stuck
        self.sent: list[str] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        self.sent.append(f"{method} {url}")
        first = self.sent.count(f"{method} {url}") == 1
        if self.lose and self.lose in url and method == self.lose_method and first:
            raise requests.ConnectionError("connection reset before the answer arrived")
        if self.stuck and method == "GET" and "/profile-bulk-import-jobs/" in url:
            body = response.json()
            body["data"]["attributes"]["status"] = "processing"
            response._content = json.dumps(body).encode()
        return response


def _writer(
    srv: SandboxServer, sleeps: list[float], session: requests.Session | None = None
) -> KlaviyoWriter:
    return KlaviyoWriter(Settings(srv.vendor_base_urls["klaviyo"]), session, sleep=sleeps.append)


def _arms(world: World) -> dict[str, str]:
    c = world.contacts
    visible = [i for i in range(c.n) if c.created_ts[i] < world.clock_ts]
    return {ids.profile_id(world.spec.seed, i): "variant" if i % 2 else "control" for i in visible}


def _imports(world: World) -> list[dict[str, Any]]:
    return [w for w in world.writes if w["action"] == "import_profiles"]


def _upcoming_message(world: World) -> Message:
    camp = next(c for c in world.plan.campaigns if c.created_ts <= world.clock_ts < c.send_ts)
    return world.plan.messages[camp.messages[0]]


# ---- bulk_set_profile_property ----------------------------------------------------------------------
def test_bulk_property_in_chunks_with_per_profile_failures(world: World, server: SandboxServer) -> None:
    arms = _arms(world)
    assignments = {**arms, "01NOTAPROFILE0000000000000": "variant"}
    sleeps: list[float] = []
    result = _writer(server, sleeps).bulk_set_profile_property(assignments, ARM, chunk_size=100)
    assert result.status == "executed", result.error
    chunks = -(-len(assignments) // 100)
    assert len(result.jobs) == len(_imports(world)) == chunks
    assert result.completed == len(arms)
    assert list(result.failed_profiles) == ["01NOTAPROFILE0000000000000"]
    assert "not found" in result.failed_profiles["01NOTAPROFILE0000000000000"]
    assert all(world.profile_properties(p) == {ARM: arm} for p, arm in arms.items())
    # every job was submitted before the first poll, and all answered "processing" once, then
    # "complete": one wait for all of them, not one per job
    assert len(sleeps) == 1 and chunks > 1
    assert [w["target"] for w in _imports(world)] == result.jobs
    assert [r["profiles"] for r in result.requests] == [
        min(100, len(assignments) - 100 * k) for k in range(chunks)
    ]
    assert KEY not in repr(result)


def test_bulk_property_uses_jobs_of_ten_thousand_and_reads_every_error_page(
    world: World, server: SandboxServer
) -> None:
    arms = _arms(world)
    unknown = {f"01UNKNOWN{k:017d}": "variant" for k in range(10_050 - len(arms))}
    result = _writer(server, []).bulk_set_profile_property({**arms, **unknown}, ARM)
    assert result.status == "executed", result.error
    assert [r["profiles"] for r in result.requests] == [10_000, 50]
    assert [w["total"] for w in _imports(world)] == [10_000, 50]
    assert result.completed == len(arms) and set(result.failed_profiles) == set(unknown)  # > 100 pages
    with pytest.raises(WriteError):
        _writer_for_nothing().bulk_set_profile_property({"p": "x"}, ARM, chunk_size=10_001)
    with pytest.raises(WriteError):
        _writer_for_nothing().bulk_set_profile_property({"p": None}, ARM)


def _writer_for_nothing() -> KlaviyoWriter:
    return KlaviyoWriter(Settings("http://127.0.0.1:9"), sleep=lambda _: None)


def test_bulk_property_dry_run_sends_nothing(world: World, server: SandboxServer) -> None:
    result = _writer(server, []).bulk_set_profile_property(_arms(world), ARM, dry_run=True, chunk_size=50)
    assert result.status == "validated" and result.jobs == [] and world.writes == []
    assert sum(r["profiles"] for r in result.requests) == len(_arms(world))


def test_bulk_property_waits_retry_after_when_throttled(world: World) -> None:
    sleeps: list[float] = []
    with SandboxServer(world, faults=FaultConfig(rate_limit_every=2, retry_after_seconds=3)) as srv:
        result = _writer(srv, sleeps).bulk_set_profile_property(_arms(world), ARM, chunk_size=100)
    assert result.status == "executed", result.error
    assert 3.0 in sleeps
    assert len(_imports(world)) == len(result.jobs)  # a throttled submit created nothing


def test_bulk_property_resends_a_job_whose_answer_was_lost(world: World, server: SandboxServer) -> None:
    session = Session(lose="/api/profile-bulk-import-jobs")
    result = _writer(server, [], session).bulk_set_profile_property(_arms(world), ARM)
    assert result.status == "executed", result.error
    assert len(_imports(world)) == 2 and len(result.jobs) == 1  # the resent job set the same values
    assert all(world.profile_properties(p) == {ARM: arm} for p, arm in _arms(world).items())


def test_bulk_property_waits_a_bounded_time_for_a_job(world: World, server: SandboxServer) -> None:
    sleeps: list[float] = []
    result = _writer(server, sleeps, Session(stuck=True)).bulk_set_profile_property(
        _arms(world), ARM, chunk_size=100, poll_seconds=5, max_poll_seconds=20
    )
    assert result.status == "failed" and result.retryable
    chunks = -(-len(_arms(world)) // 100)
    assert "still processing after 20 s" in result.error and f"and {chunks - 1} more jobs" in result.error
    # polled after 0.5 s, then waits doubling up to poll_seconds; bounded in all, not per job
    assert sleeps == [0.5, 1, 2, 4, 5, 5, 2.5]
    assert len(result.jobs) == chunks and result.unsent == 0 and result.completed == 0


def test_bulk_property_attempts_are_bounded(world: World) -> None:
    sleeps: list[float] = []
    with SandboxServer(world, faults=FaultConfig(rate_limit_every=1)) as srv:
        result = _writer(srv, sleeps).bulk_set_profile_property(_arms(world), ARM)
    assert result.status == "failed" and result.retryable and "429" in result.error
    assert len(sleeps) == 3 and world.writes == [] and KEY not in result.error


# ---- set_campaign_subject ------------------------------------------------------------------------------
def test_campaign_subject_is_read_written_read_back_then_noop(world: World, server: SandboxServer) -> None:
    msg = _upcoming_message(world)
    template = f"{{% if person|lookup:'{ARM}' == 'variant' %}}Quick read: {msg.subject}{{% else %}}{msg.subject}{{% endif %}}"
    writer = _writer(server, [])
    dry = writer.set_campaign_subject(msg.message_id, template, dry_run=True)
    assert dry.status == "validated" and dry.before == msg.subject and world.writes == []
    result = writer.set_campaign_subject(msg.message_id, template, action_id="act-7")
    assert result.status == "executed", result.error
    assert (result.before, result.after) == (msg.subject, template)
    assert result.request["method"] == "PATCH"
    assert result.request["body"]["data"]["attributes"] == {"definition": {"content": {"subject": template}}}
    assert KEY not in json.dumps(result.request) and KEY not in repr(writer)
    # the reply echoes the message, sender address included: the action log (read by BI) withholds it
    content = result.response["body"]["data"]["attributes"]["content"]
    assert content["subject"] == template and content["from_email"] == "<email address withheld>"
    assert "@" not in json.dumps(result.response)
    again = writer.set_campaign_subject(msg.message_id, template)
    assert again.status == "noop" and len(world.writes) == 1


def test_campaign_subject_after_a_lost_answer_is_not_resent(world: World, server: SandboxServer) -> None:
    msg = _upcoming_message(world)
    session = Session(lose="/api/campaign-messages/", lose_method="PATCH")
    sleeps: list[float] = []
    result = _writer(server, sleeps, session).set_campaign_subject(
        msg.message_id, f"Quick read: {msg.subject}"
    )
    assert result.status == "executed", result.error
    assert sum(s.startswith("PATCH") for s in session.sent) == 1 and len(world.writes) == 1


@pytest.mark.parametrize("case", ["sent", "template", "unknown"])
def test_campaign_subject_refusals_are_final(world: World, server: SandboxServer, case: str) -> None:
    if case == "sent":
        camp = next(c for c in world.plan.campaigns if c.send_ts <= world.clock_ts)
        message_id, subject, detail = (
            world.plan.messages[camp.messages[0]].message_id,
            "New",
            "already been sent",
        )
    elif case == "template":
        message_id, subject, detail = (
            _upcoming_message(world).message_id,
            "Hi {{ first_name }}",
            "person|lookup",
        )
    else:
        message_id, subject, detail = "nope", "New", "HTTP 404"
    result = _writer(server, []).set_campaign_subject(message_id, subject)
    assert result.status == "failed" and not result.retryable and detail in result.error
    assert world.writes == []


def _bulk_request(arms: dict[str, str], value: dict[str, int] | None = None) -> Any:
    from activation.writeback.base import WriteRequest

    counts: dict[str, int] = {}
    for arm in arms.values():
        counts[arm] = counts.get(arm, 0) + 1
    assignments = {pid: {"contact_id": f"c-{pid}", "arm": arm} for pid, arm in arms.items()}
    return WriteRequest("act-launch-1", "klaviyo", "profile_property_bulk", ARM, ARM,
                        value if value is not None else dict(sorted(counts.items())), None,
                        {"test_id": "lw-quick_read-20260405", "assignments": assignments})  # fmt: skip


def test_the_executor_path_sets_a_tests_arms_and_reads_back_the_profiles_per_arm(world, server) -> None:
    """write() with entity type profile_property_bulk (what the vendor port sends for a launch):
    every profile holds its arm afterwards, and the read-back is the jobs' profiles per arm."""
    arms = _arms(world)
    writer = _writer(server, [])
    request = _bulk_request(arms)
    assert writer.read(request) is None  # no cheap read of a property across every profile
    result = writer.write(request, dry_run=False)
    assert result.status == "executed", result.error
    assert result.after == request.value and sum(result.after.values()) == len(arms)
    assert all(world.profile_properties(pid)[ARM] == arm for pid, arm in arms.items())
    assert "Authorization" not in json.dumps(result.request) and KEY not in json.dumps(result.request)


def test_a_bulk_write_with_a_missing_profile_fails_retryably_and_a_dry_run_writes_nothing(
    world, server
) -> None:
    arms = {**_arms(world), ids.profile_id(world.spec.seed, world.contacts.n + 5): "control"}
    writer = _writer(server, [])
    dry = writer.write(_bulk_request(arms), dry_run=True)
    assert dry.status == "validated" and not _imports(world)
    result = writer.write(_bulk_request(arms), dry_run=False)
    assert result.status == "failed" and result.retryable
    assert result.error is not None and result.error.startswith("1 of ")


def test_a_bulk_write_without_assignments_is_refused_before_any_call(world, server) -> None:
    from activation.writeback.base import WriteRequest

    writer = _writer(server, [])
    bare = WriteRequest("act-1", "klaviyo", "profile_property_bulk", ARM, ARM, {"control": 1}, None, {})
    with pytest.raises(WriteError, match="assignments"):
        writer.write(bare, dry_run=False)
    assert not _imports(world)
