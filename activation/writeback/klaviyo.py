"""Klaviyo write client: roll out an A/B test's winner, set a profile property, set a flow's status,
set a campaign message's subject, and set one property on many profiles in bulk import jobs.

Klaviyo has no endpoint that picks an A/B winner, so a rollout is a campaign Loopwise creates
for the test's remainder list (``ab-remainder-{campaign_id}``) with the winning message's
content, then sends. Profile properties and flow status are PATCHes. Every write reads the
current value first (equal: ``noop``), and before re-sending a write after a failure it reads
again: a response lost on the way back may hide a write that was applied, and a rollout sent
twice would email the remainder twice.

Klaviyo has no idempotency keys either, so a create whose answer was lost (a timeout, a reset
connection) may still have made the campaign. The rollout campaign is therefore named after its
action (``... - winner rollout [loopwise <action id>]``), and before every create attempt (in
this run or a retried one) the client lists campaigns whose name contains that marker
(``GET /api/campaigns?filter=equals(messages.channel,'email'),contains(name,'...')``: Klaviyo
filters campaign names with ``contains`` only) and reuses the one it finds instead of creating
a second, orphaned draft.

Per-contact send times (``campaign_send_times``) are hourly clones of a campaign:
``activation.writeback.klaviyo_send_times``. Per-recipient content (``campaign_content``) is a
property per recipient and a conditional preview text: ``activation.writeback.klaviyo_content_choice``.

A campaign message's subject (``campaign_message``, field ``subject``; ``set_campaign_subject``)
is a ``PATCH /api/campaign-messages/{id}`` of ``definition.content.subject``, read first like the
others; Klaviyo refuses it once the campaign was sent. ``bulk_set_profile_property`` writes one
property to many profiles through ``POST /api/profile-bulk-import-jobs`` (at most 10,000 a job),
submitting every job before polling them together to completion within a bounded wait. A job sets absolute values, so sending
one again after a lost answer changes nothing more: it is retried like a read.

The API key is sent in a header only: it is never part of ``WriteResult.request``, an error
text or this object's ``repr``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

import requests

from activation.writeback.base import WriteError, WriteRequest, WriteResult
from activation.writeback.http import capped_wait, retry_after_seconds, send
from activation.writeback.klaviyo_content_choice import CAMPAIGN_CONTENT, ContentChoice
from activation.writeback.klaviyo_content_choice import validate as validate_content
from activation.writeback.klaviyo_send_times import SEND_TIMES, HourlySends
from activation.writeback.klaviyo_send_times import validate as validate_send_times

CONTENT_TYPE = "application/vnd.api+json"
FLOW_STATUSES = ("draft", "manual", "live")
REMAINDER_LIST = "ab-remainder-{}"
REUSED = "reused the rollout campaign an earlier attempt created"
PATHS = {
    "campaign": "/api/campaigns/{}",
    "profile": "/api/profiles/{}",
    "flow": "/api/flows/{}",
    "campaign_message": "/api/campaign-messages/{}",
}
BULK_IMPORT_JOBS = "/api/profile-bulk-import-jobs"
MESSAGE_FIELDS = ("subject", "preview_text")  # what a campaign_message write may set
PROPERTY_BULK = "profile_property_bulk"  # one property on many profiles (a Loopwise test's arms)
MAX_PROFILES_PER_JOB = 10_000  # Klaviyo's limit per bulk import job
JOB_DONE = ("complete", "cancelled")
FIRST_POLL_SECONDS = 0.5  # the first wait for import jobs; later waits double up to the poll interval


def poll_waits(poll_seconds: float, max_total_seconds: float) -> Iterator[float]:
    """The waits between rounds of polling import jobs: FIRST_POLL_SECONDS, then doubling up to
    ``poll_seconds``, the last one cut so that they add up to ``max_total_seconds``; the caller
    gives up when they are used up. Jobs of 10,000 profiles usually finish in a second or two;
    a fixed 2 s first wait cost each test launch and each send-time import 1.5 s for nothing."""
    wait, left = min(FIRST_POLL_SECONDS, poll_seconds), max_total_seconds
    while left > 0:
        yield min(wait, left)
        left -= wait
        wait = min(poll_seconds, wait * 2)


ROLLOUT_CONTEXT = ("subject", "from_email")  # what a rollout cannot do without
ROLLOUT_MARKER = "[loopwise {}]"  # in the rollout campaign's name: finds the draft a lost answer left
SAFE_ACTION_ID = re.compile(r"[A-Za-z0-9_.:-]+")  # quotable inside a filter value as it is


class KlaviyoSettings(Protocol):
    """What the client needs (``WritebackSettings`` has these; the key may be a secret wrapper)."""

    @property
    def klaviyo_base_url(self) -> str: ...

    @property
    def klaviyo_api_key(self) -> Any: ...

    @property
    def klaviyo_revision(self) -> str: ...


class KlaviyoError(Exception):
    """A read the vendor refused or never answered; ``error`` is one line, without secrets."""

    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.error_text())
        self.reply = reply


@dataclass
class _Reply:
    """One HTTP answer (status 0: none arrived). ``confirmed``: a lost answer, but a re-read saw the write."""

    status: int
    body: Any = None
    retry_after: float | None = None
    note: str = ""
    confirmed: bool = False

    @property
    def ok(self) -> bool:
        return self.confirmed or (200 <= self.status < 300 and self.body is not None)

    @property
    def transient(self) -> bool:
        """Worth another attempt: throttled, a server error, or no (readable) answer at all."""
        return not self.ok and (self.status in (0, 429) or self.status >= 500 or self.status < 300)

    def first_error(self) -> dict[str, Any]:
        errors = self.body.get("errors") if isinstance(self.body, dict) else None
        return errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}

    def error_text(self) -> str:
        err = self.first_error()
        detail = err.get("detail") or err.get("title") or self.note or "no error detail"
        code = f" {err['code']}" if err.get("code") else ""
        return " ".join(f"HTTP {self.status}{code}: {detail}".split())

    def record(self) -> dict[str, Any]:
        """The reply as the action log keeps it, email addresses withheld: Klaviyo echoes a
        message's sender (``from_email``) and a profile's email, and the log reaches BI."""
        return {"status_code": self.status, "body": _without_addresses(self.body)}


_ADDRESS = re.compile(r"[^@\s\"'<>]+@[^@\s\"'<>]+\.[^@\s\"'<>]+")
ADDRESS_WITHHELD = "<email address withheld>"


def _without_addresses(value: Any) -> Any:
    """``value`` (a decoded JSON body) with every email address in its strings replaced."""
    if isinstance(value, str):
        return _ADDRESS.sub(ADDRESS_WITHHELD, value)
    if isinstance(value, dict):
        return {key: _without_addresses(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_addresses(item) for item in value]
    return value


@dataclass
class BulkPropertyResult:
    """What ``bulk_set_profile_property`` did: ``executed`` when every job completed (some profiles
    may still have failed: ``failed_profiles``), ``validated`` on a dry run, ``failed`` when a job
    could not be submitted (later chunks are then not sent) or a job did not complete within the wait."""

    status: Literal["executed", "validated", "failed"]
    property_name: str
    jobs: list[str] = field(default_factory=list)  # ids of the jobs submitted, in chunk order
    completed: int = 0  # profiles the completed jobs set
    failed_profiles: dict[str, str] = field(default_factory=dict)  # profile id -> Klaviyo's reason
    unsent: int = 0  # profiles in chunks never submitted (after a failure)
    requests: list[dict[str, Any]] = field(default_factory=list)  # method, url, profiles: never headers
    error: str | None = None
    retryable: bool = False


def _secret(value: Any) -> str:
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal() if callable(reveal) else value)


class KlaviyoWriter:
    """``VendorWriter`` for Klaviyo: entity types ``campaign``, ``profile`` and ``flow``."""

    platform = "klaviyo"

    def __init__(
        self,
        settings: KlaviyoSettings,
        session: requests.Session | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 4,
        max_wait_seconds: float = 60.0,
        timeout_seconds: float = 30.0,
    ) -> None:
        self._base_url = settings.klaviyo_base_url.rstrip("/")
        self._revision = settings.klaviyo_revision
        self._settings = settings
        self._session = session or requests.Session()
        self._sleep = sleep
        self._max_attempts = max(1, max_attempts)
        self._max_wait = max_wait_seconds
        self._timeout = timeout_seconds

    def __repr__(self) -> str:
        return f"KlaviyoWriter(base_url={self._base_url!r}, revision={self._revision!r})"

    # ---- Loopwise's own tests: a campaign message's subject, a property on many profiles ------
    def set_campaign_subject(
        self, campaign_message_id: str, subject: str, *, action_id: str = "", dry_run: bool = False
    ) -> WriteResult:
        """Set the message's subject (plain or with conditional tags); ``noop`` when it already is."""
        request = WriteRequest(
            action_id, "klaviyo", "campaign_message", campaign_message_id, "subject", subject
        )
        return self.write(request, dry_run=dry_run)

    def bulk_set_profile_property(
        self,
        assignments: dict[str, Any],
        property: str,
        *,
        dry_run: bool = False,
        poll_seconds: float = 2.0,
        max_poll_seconds: float = 300.0,
        chunk_size: int = MAX_PROFILES_PER_JOB,
    ) -> BulkPropertyResult:
        """Set ``property`` to ``assignments[profile_id]`` on each profile, 10,000 profiles a job.

        Every chunk's job is submitted first, then the jobs are polled together (after 0.5 s, then
        waits doubling up to ``poll_seconds``) until each completes: Klaviyo runs an account's
        import jobs side by side, so a write of 200,000 profiles waits about as long as one job,
        not twenty jobs in turn. The wait is at most ``max_poll_seconds`` in all. Then each job's
        failed profiles are read from its import errors.
        """
        if not property or not isinstance(property, str):
            raise WriteError("a bulk property write needs a property name")
        if any(not isinstance(v, str | int | float | bool) for v in assignments.values()):
            raise WriteError("bulk property values must be strings, numbers or booleans (null never clears)")
        if not 1 <= chunk_size <= MAX_PROFILES_PER_JOB:
            raise WriteError(f"a bulk import job takes 1 to {MAX_PROFILES_PER_JOB} profiles")
        ids = list(assignments)
        chunks = [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]
        result = BulkPropertyResult("validated" if dry_run else "executed", property)
        for chunk in chunks:
            result.requests.append(
                {"method": "POST", "url": self._url(BULK_IMPORT_JOBS), "profiles": len(chunk)}
            )
        if dry_run:
            return result
        problem = None
        for n, chunk in enumerate(chunks):
            problem = self._submit_job(_bulk_body({pid: assignments[pid] for pid in chunk}, property), result)
            if problem is not None:
                result.unsent = sum(len(c) for c in chunks[n + 1 :])
                break
        else:
            problem = self._await_jobs(result, poll_seconds, max_poll_seconds)
        if problem is not None:
            result.status, result.error, result.retryable = "failed", problem.error_text(), problem.transient
        return result

    def _submit_job(self, body: dict[str, Any], result: BulkPropertyResult) -> _Reply | None:
        """Submit one job and record its id; the failing reply, or None."""
        reply = self._post_job(body)
        job_id = (reply.body or {}).get("data", {}).get("id") if reply.ok else None
        if not job_id:
            return reply if not reply.ok else _Reply(reply.status, note="job created without an id")
        result.jobs.append(str(job_id))
        return None

    def _await_jobs(
        self, result: BulkPropertyResult, poll_seconds: float, max_poll_seconds: float
    ) -> _Reply | None:
        """Poll the unfinished jobs of ``result`` each round until all are done, recording each done
        job's counts and failed profiles; the failing reply, or None."""
        waiting, waited, waits = list(result.jobs), 0.0, poll_waits(poll_seconds, max_poll_seconds)
        while True:
            unfinished: list[tuple[str, Any]] = []
            for job_id in waiting:
                status = self._get(f"{BULK_IMPORT_JOBS}/{job_id}")
                if not status.ok:
                    return status
                attributes = (status.body.get("data") or {}).get("attributes") or {}
                if attributes.get("status") not in JOB_DONE:
                    unfinished.append((job_id, attributes.get("status")))
                    continue
                problem = self._job_done(job_id, attributes, result)
                if problem is not None:
                    return problem
            if not unfinished:
                return None
            wait = next(waits, None)
            if wait is None:  # the bounded wait is used up
                (job_id, state), more = unfinished[0], len(unfinished) - 1
                others = f" (and {more} more job{'s' if more > 1 else ''})" if more else ""
                note = f"import job {job_id} still {state} after {waited:.0f} s{others}"
                return _Reply(0, note=note)  # transient: the jobs may still complete
            self._sleep(wait)
            waited += wait
            waiting = [job_id for job_id, _ in unfinished]

    def _job_done(self, job_id: str, attributes: dict[str, Any], result: BulkPropertyResult) -> _Reply | None:
        """Record a finished job: its completed count and failed profiles; the failing reply, or None."""
        if attributes.get("status") == "cancelled":
            return _Reply(200, note=f"import job {job_id} was cancelled")
        result.completed += int(attributes.get("completed_count") or 0)
        if int(attributes.get("failed_count") or 0):
            failed = self._import_errors(job_id)
            if isinstance(failed, _Reply):
                return failed
            result.failed_profiles.update(failed)
        return None

    def _post_job(self, body: dict[str, Any]) -> _Reply:
        """Submit a job, retrying transient failures: it sets absolute values, so a resend is harmless."""
        for attempt in range(1, self._max_attempts + 1):
            reply = self._send("POST", BULK_IMPORT_JOBS, body)
            if not reply.transient or attempt == self._max_attempts:
                return reply
            self._sleep(self._wait(reply, attempt))
        raise AssertionError("unreachable")

    def _import_errors(self, job_id: str) -> dict[str, str] | _Reply:
        """Profile id (or email) -> reason, for every profile the job failed (all pages)."""
        out: dict[str, str] = {}
        path: str | None = f"{BULK_IMPORT_JOBS}/{job_id}/import-errors?page%5Bsize%5D=100"
        while path:
            reply = self._get(path)
            if not reply.ok:
                return reply
            for error in reply.body.get("data") or []:
                attributes = error.get("attributes") or {}
                payload = attributes.get("original_payload") or {}
                who = (
                    payload.get("id")
                    or payload.get("email")
                    or (attributes.get("source") or {}).get("pointer")
                )
                out[str(who)] = " ".join(str(attributes.get("detail") or attributes.get("title")).split())
            next_url = (reply.body.get("links") or {}).get("next")
            path = next_url.removeprefix(self._base_url) if next_url else None
        return out

    # ---- VendorWriter ------------------------------------------------------------------------
    def read(self, request: WriteRequest) -> Any:
        """The current value; raises :class:`KlaviyoError` when Klaviyo does not tell.

        A property across many profiles (``profile_property_bulk``) has no read Klaviyo offers short
        of listing every profile, so it reads as unknown (``None``): the write is always sent
        (absolute values: sending it again changes nothing) and its job counts are the read-back.
        """
        _validate(request)
        if request.entity_type == PROPERTY_BULK:
            return None
        if request.entity_type == SEND_TIMES:
            return HourlySends(self).read(request)
        if request.entity_type == CAMPAIGN_CONTENT:
            return ContentChoice(self).read(request)
        return _field_value(request, self._fetch(request))

    def write(self, request: WriteRequest, *, dry_run: bool) -> WriteResult:
        _validate(request)
        if request.entity_type == PROPERTY_BULK:
            return self._write_property_bulk(request, dry_run=dry_run)
        if request.entity_type == SEND_TIMES:
            return HourlySends(self).write(request, dry_run=dry_run)
        if request.entity_type == CAMPAIGN_CONTENT:
            return ContentChoice(self).write(request, dry_run=dry_run)
        try:
            entity = self._fetch(request)
        except KlaviyoError as exc:
            return _failed(exc.reply)
        before = _field_value(request, entity)
        planned = self._planned(request, entity)
        if before == request.value:
            return WriteResult("noop", before=before, after=before, request=planned)
        problem = _rollout_problem(request, entity) if request.entity_type == "campaign" else None
        if problem:
            return WriteResult("failed", before=before, request=planned, error=problem)
        if dry_run:
            return WriteResult("validated", before=before, after=before, request=planned)
        reply = self._apply(request, planned)
        if not reply.ok:
            return _failed(reply, before=before, request=planned)
        try:
            after = self.read(request)
        except KlaviyoError as exc:
            return _failed(exc.reply, before=before, request=planned)
        if after != request.value:
            error = f"read-back shows {after!r}, not {request.value!r}"
            return WriteResult("failed", before, after, planned, reply.record(), error, retryable=True)
        return WriteResult("executed", before, after, planned, reply.record())

    def _write_property_bulk(self, request: WriteRequest, *, dry_run: bool) -> WriteResult:
        """``request.context["assignments"]`` (profile id -> ``{"arm", ...}``) as the property
        ``request.field``; executed only when every profile was set, its read-back the profiles per
        arm the jobs completed. Any failed profile fails the whole write, retryably: a later run
        sends it again (the same absolute values), so no arm is recorded that Klaviyo did not hold."""
        assignments = {pid: str(entry["arm"]) for pid, entry in request.context["assignments"].items()}
        result = self.bulk_set_profile_property(assignments, request.field, dry_run=dry_run)
        planned = {"requests": result.requests, "property": request.field}
        if result.status == "validated":
            return WriteResult("validated", request=planned)
        if result.status == "failed":
            return WriteResult("failed", request=planned, error=result.error, retryable=result.retryable)
        if result.failed_profiles:
            reasons = sorted(set(result.failed_profiles.values()))
            error = f"{len(result.failed_profiles)} of {len(assignments)} profiles were not set: {reasons[0]}"
            return WriteResult("failed", request=planned, error=error, retryable=True)
        after: dict[str, int] = {}
        for arm in assignments.values():
            after[arm] = after.get(arm, 0) + 1
        after = dict(sorted(after.items()))
        response = {"jobs": result.jobs, "completed": result.completed}
        if after != request.value:
            error = f"the jobs set {after!r}, not {request.value!r}"
            return WriteResult("failed", None, after, planned, response, error, retryable=True)
        return WriteResult("executed", None, after, planned, response)

    # ---- what is sent ------------------------------------------------------------------------
    def _planned(self, request: WriteRequest, entity: dict[str, Any]) -> dict[str, Any]:
        """The calls a write makes (method, url, body), as recorded: no headers, so no key."""
        if request.entity_type != "campaign":
            name = request.field.removeprefix("properties.")
            attrs = (
                {"status": request.value}
                if request.entity_type == "flow"
                else {"definition": {"content": {request.field: request.value}}}
                if request.entity_type == "campaign_message"
                else {"properties": {name: request.value}}
            )
            kind = "campaign-message" if request.entity_type == "campaign_message" else request.entity_type
            body = {"data": {"type": kind, "id": request.entity_id, "attributes": attrs}}
            return {
                "method": "PATCH",
                "url": self._url(PATHS[request.entity_type].format(request.entity_id)),
                "body": body,
            }
        job = {"data": {"type": "campaign-send-job", "id": "<created campaign id>"}}
        return {
            "lookup": {"method": "GET", "url": self._url(_rollout_lookup(request.action_id))},
            "method": "POST",
            "url": self._url("/api/campaigns"),
            "body": _rollout_body(request, entity),
            "then": {"method": "POST", "url": self._url("/api/campaign-send-jobs"), "body": job},
        }

    def _apply(self, request: WriteRequest, planned: dict[str, Any]) -> _Reply:
        def applied() -> bool:
            try:
                return self.read(request) == request.value
            except KlaviyoError:
                return False

        if request.entity_type != "campaign":
            path = planned["url"].removeprefix(self._base_url)
            return self._write(planned["method"], path, planned["body"], applied)
        reply = self._rollout_campaign(request.action_id, planned["body"])
        if not reply.ok:
            return reply
        if reply.note == REUSED:
            planned["reused_campaign_id"] = reply.body["data"]["id"]
        job = {"data": {"type": "campaign-send-job", "id": reply.body["data"]["id"]}}
        planned["then"]["body"] = job
        return self._write("POST", "/api/campaign-send-jobs", job, applied)

    def _rollout_campaign(self, action_id: str, body: dict[str, Any]) -> _Reply:
        """The action's rollout campaign: the one an earlier attempt made (a lost answer), else a new one."""
        name = body["data"]["attributes"]["name"]
        look = True
        for attempt in range(1, self._max_attempts + 1):
            if look:
                found = self._get(_rollout_lookup(action_id))
                if not found.ok:
                    return found
                listed = found.body.get("data") if isinstance(found.body, dict) else None
                same = [c for c in listed or [] if (c.get("attributes") or {}).get("name") == name]
                if same:
                    return _Reply(found.status, {"data": same[0]}, note=REUSED)
            reply = self._send("POST", "/api/campaigns", body)
            if not reply.transient or attempt == self._max_attempts:
                return reply
            self._sleep(self._wait(reply, attempt))
            look = reply.status != 429  # throttled: nothing was created
        raise AssertionError("unreachable")

    # ---- HTTP --------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return self._base_url + path

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> _Reply:
        headers = {
            "Authorization": f"Klaviyo-API-Key {_secret(self._settings.klaviyo_api_key)}",
            "revision": self._revision,
            "accept": CONTENT_TYPE,
            "content-type": CONTENT_TYPE,
        }
        reply = send(
            self._session,
            method,
            self._url(path),
            headers=headers,
            timeout=self._timeout,
            data=None if body is None else json.dumps(body),
        )
        if reply.status is None:  # named by type only: the text may carry the URL, never the key
            return _Reply(0, note=f"no response ({reply.transport_error})")
        readable = not isinstance(reply.body, str)
        return _Reply(
            reply.status,
            reply.body if readable else None,
            retry_after_seconds(reply.headers),
            "" if readable else "unreadable response body",
        )

    def _wait(self, reply: _Reply, attempt: int) -> float:
        return capped_wait(reply.retry_after, attempt, 1.0, self._max_wait)

    def _get(self, path: str) -> _Reply:
        for attempt in range(1, self._max_attempts + 1):
            reply = self._send("GET", path)
            if not reply.transient or attempt == self._max_attempts:
                return reply
            self._sleep(self._wait(reply, attempt))
        raise AssertionError("unreachable")

    def _write(self, method: str, path: str, body: dict[str, Any], applied: Callable[[], bool]) -> _Reply:
        """Send; after a failure other than throttling (which applies nothing), re-read before re-sending."""
        for attempt in range(1, self._max_attempts + 1):
            reply = self._send(method, path, body)
            if not reply.transient or attempt == self._max_attempts:
                return reply
            self._sleep(self._wait(reply, attempt))
            if reply.status != 429 and applied():
                return _Reply(reply.status, note=reply.note, confirmed=True)
        raise AssertionError("unreachable")

    def _fetch(self, request: WriteRequest) -> dict[str, Any]:
        reply = self._get(PATHS[request.entity_type].format(request.entity_id))
        data = reply.body.get("data") if reply.ok and isinstance(reply.body, dict) else None
        if not isinstance(data, dict):
            raise KlaviyoError(reply if not reply.ok else _Reply(reply.status, note="response without data"))
        return data


# ---- request shapes ----------------------------------------------------------------------------
def _validate(request: WriteRequest) -> None:
    """Refuse what cannot be sent at all (WriteError), before any call."""
    kind, name, value = request.entity_type, request.field, request.value
    if kind == PROPERTY_BULK and request.platform == "klaviyo":
        assignments = request.context.get("assignments")
        if not name or name != request.entity_id or not isinstance(assignments, dict) or not assignments:
            raise WriteError("a bulk property write names its property and carries context assignments")
        if any(not isinstance(e, dict) or not e.get("arm") for e in assignments.values()):
            raise WriteError("every bulk assignment needs an arm")
        return
    if kind == SEND_TIMES and request.platform == "klaviyo":
        validate_send_times(request)
        return
    if kind == CAMPAIGN_CONTENT and request.platform == "klaviyo":
        validate_content(request)
        return
    if request.platform != "klaviyo" or kind not in PATHS or not request.entity_id:
        raise WriteError(f"klaviyo cannot write {request.platform}:{kind} {request.entity_id!r}")
    if kind == "campaign":
        if name != "winner_message_id" or not isinstance(value, str) or not value:
            raise WriteError("a campaign write sets winner_message_id to a message id")
        if not SAFE_ACTION_ID.fullmatch(request.action_id):
            raise WriteError(f"action id {request.action_id!r} cannot name a rollout campaign")
        missing = [k for k in ROLLOUT_CONTEXT if not request.context.get(k)]
        if missing:
            raise WriteError(f"a winner rollout needs context {', '.join(missing)}")
    elif kind == "profile" and (not name.startswith("properties.") or name == "properties."):
        raise WriteError("a profile write sets properties.<name>")
    elif kind == "flow" and (name != "status" or value not in FLOW_STATUSES):
        raise WriteError(f"a flow write sets status to one of {', '.join(FLOW_STATUSES)}")
    elif kind == "campaign_message" and (
        name not in MESSAGE_FIELDS or not isinstance(value, str) or not value.strip()
    ):
        raise WriteError("a campaign message write sets subject or preview_text to a non-empty string")


def _field_value(request: WriteRequest, entity: dict[str, Any]) -> Any:
    attributes = entity.get("attributes") or {}
    if request.entity_type == "campaign":
        return (attributes.get("ab_test") or {}).get("winner_message_id")
    if request.entity_type == "profile":
        return (attributes.get("properties") or {}).get(request.field.removeprefix("properties."))
    if request.entity_type == "campaign_message":  # Klaviyo nests it in definition; older shapes did not
        content = (attributes.get("definition") or {}).get("content") or attributes.get("content") or {}
        return content.get(request.field)
    return attributes.get("status")


def _rollout_problem(request: WriteRequest, campaign: dict[str, Any]) -> str | None:
    """Why the vendor would refuse this rollout, known from the campaign alone (None: none)."""
    ab_test = campaign.get("attributes", {}).get("ab_test")
    if not ab_test:
        return f"campaign {request.entity_id} has no A/B test"
    if _test_end(campaign.get("attributes", {})) is None:
        return f"campaign {request.entity_id} has no send time"
    if ab_test.get("winner_message_id"):
        return f"campaign {request.entity_id} already rolled out {ab_test['winner_message_id']}"
    messages = campaign.get("relationships", {}).get("campaign-messages", {}).get("data", [])
    if request.value not in {m.get("id") for m in messages}:
        return f"message {request.value} is not a variant of campaign {request.entity_id}"
    return None


def _rollout_body(request: WriteRequest, campaign: dict[str, Any]) -> dict[str, Any]:
    """The winning message's content to the remainder list, sent when the test ends."""
    ctx = request.context
    attributes = campaign.get("attributes", {})
    content = {k: ctx.get(k, "") for k in ("subject", "preview_text", "from_email", "from_label")}
    message = {
        "type": "campaign-message",
        "attributes": {"definition": {"channel": "email", "label": ctx.get("label", ""), "content": content}},
    }
    return {
        "data": {
            "type": "campaign",
            "attributes": {
                "name": f"{attributes.get('name', request.entity_id)} - winner rollout "
                + ROLLOUT_MARKER.format(request.action_id),
                "audiences": {"included": [REMAINDER_LIST.format(request.entity_id)], "excluded": []},
                "send_strategy": {
                    "method": "static",
                    "datetime": _test_end(attributes),
                    "options": {"is_local": False},
                },
                "campaign-messages": {"data": [message]},
            },
        }
    }


def _rollout_lookup(action_id: str) -> str:
    """The campaigns whose name carries this action's marker (``contains``: Klaviyo's name operator)."""
    marker = ROLLOUT_MARKER.format(action_id)
    return "/api/campaigns?" + urlencode(
        {"filter": f"equals(messages.channel,'email'),contains(name,'{marker}')"}
    )


def _test_end(attributes: dict[str, Any]) -> str | None:
    """When the A/B test ends: the remainder's send time in Klaviyo's own schedule (None: unknown)."""
    try:
        sent = datetime.fromisoformat(str(attributes.get("send_time")).replace("Z", "+00:00"))
    except ValueError:
        return None
    hours = float((attributes.get("ab_test") or {}).get("test_duration_hours") or 0)
    return (sent + timedelta(hours=hours)).isoformat()


def _failed(reply: _Reply, *, before: Any = None, request: dict[str, Any] | None = None) -> WriteResult:
    return WriteResult(
        "failed",
        before=before,
        request=request or {},
        response=reply.record(),
        error=reply.error_text(),
        vendor_request_id=reply.first_error().get("id"),
        retryable=reply.transient,
    )


def _bulk_body(values: dict[str, Any], property: str) -> dict[str, Any]:
    """A bulk import job setting ``property`` on each profile (by id)."""
    profiles = [
        {"type": "profile", "id": pid, "attributes": {"properties": {property: value}}}
        for pid, value in values.items()
    ]
    return {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}}
