"""Klaviyo routes Loopwise's own campaign tests use: bulk profile import jobs and campaign message subjects.

- ``POST /api/profile-bulk-import-jobs``: ``data.type`` ``profile-bulk-import-job``,
  ``data.attributes.profiles.data`` a list of ``{type: "profile", id | attributes.email,
  attributes.properties}`` (at most 10,000; a body that breaks the schema is a 400 for the whole
  job) -> 202 with the job (``status: "queued"``). A profile that does not exist fails alone.
  ``data.relationships.lists.data``: ``[{type: "list", id}]`` (at most one list, created with
  ``POST /api/lists``; unknown: 400) adds the job's profiles to that list (properties may be empty).
- ``GET /api/profile-bulk-import-jobs/{id}``: ``processing`` on the first read of a job, then
  ``complete`` with ``total_count``, ``completed_count``, ``failed_count``.
- ``GET /api/profile-bulk-import-jobs/{id}/import-errors``: one ``import-error`` per failed profile
  (``source.pointer`` to it in the job's body, ``original_payload``).
- ``GET /api/campaign-messages/{id}`` and ``PATCH /api/campaign-messages/{id}`` with
  ``attributes.definition.content.subject`` and/or ``.preview_text`` (``definition.channel`` may be
  given as ``email``): plain text or the conditional tags of ``sandbox.world.subjects``; 400 once
  the campaign was sent (a clone's message: once the clone is scheduled). A rendered preview text's
  label before " | " is the content angle the recipient is shown (``subjects.content_angle``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sandbox.util import DAY, iso_utc
from sandbox.vendors import klaviyo_records as rec
from sandbox.vendors.base import Request, Response
from sandbox.vendors.klaviyo_jsonapi import (
    invalid,
    listing,
    not_found,
    offset_page,
    resource_data,
    written,
)
from sandbox.world.core import MAX_IMPORT_PROFILES, World, WriteError
from sandbox.world.subjects import TemplateError, parse_subject

JOB = "profile-bulk-import-job"
ERROR_PAGE = (20, 100)
JOB_EXPIRES_DAYS = 7
PROFILES_POINTER = "/data/attributes/profiles/data"
CONTENT_POINTER = "/data/attributes/definition/content"
MESSAGE_FIELDS = ("subject", "preview_text")  # of definition.content, the ones the sandbox updates


class ContentRoutes:
    """The handlers; ``KlaviyoApi`` routes to them. A job's read count lives here (not in the world)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._job_reads: Counter[str] = Counter()

    # ---- bulk profile import -------------------------------------------------------------------
    def create_import_job(self, req: Request) -> Response:
        data = resource_data(req, JOB)
        profiles = _import_profiles(data)
        list_id = _job_list(data)
        with self.world.lock:
            try:
                job_id = self.world.import_profiles(profiles, list_id)
            except WriteError as exc:
                raise invalid(str(exc), pointer=exc.pointer or PROFILES_POINTER) from None
            job = self.world.import_job(job_id)
            assert job is not None
            data = _render_job(self.world, job, "queued")
        return written(req, 202, data)

    def import_job(self, req: Request, job_id: str) -> Response:
        with self.world.lock:
            job = self._job_or_404(job_id)
            self._job_reads[job_id] += 1
            status = "processing" if self._job_reads[job_id] == 1 else "complete"
            return written(req, 200, _render_job(self.world, job, status))

    def import_errors(self, req: Request, job_id: str) -> Response:
        with self.world.lock:
            job = self._job_or_404(job_id)
            page, nxt = offset_page(req, job["failed"], ERROR_PAGE)
        data = [
            {
                "type": "import-error",
                "id": f"{job_id}-{failure['index']}",
                "attributes": {
                    "code": "invalid",
                    "title": "Invalid profile.",
                    "detail": failure["detail"],
                    "source": {"pointer": f"{PROFILES_POINTER}/{failure['index']}"},
                    "original_payload": {k: failure[k] for k in ("id", "email") if k in failure},
                },
            }
            for failure in page
        ]
        return listing(req, data, nxt)

    def _job_or_404(self, job_id: str) -> dict[str, Any]:
        job = self.world.import_job(job_id)
        if job is None:
            raise not_found(JOB, job_id)
        return job

    # ---- campaign messages ---------------------------------------------------------------------
    def campaign_message(self, req: Request, message_id: str) -> Response:
        with self.world.lock:
            camp, msg = self._message_or_404(message_id)
            return written(req, 200, rec.render_campaign_message(self.world, camp, msg.idx))

    def patch_campaign_message(self, req: Request, message_id: str) -> Response:
        """Change the subject and/or preview text of a message whose campaign has not been sent:
        every field is checked before any is written (a 400 writes nothing)."""
        content = _message_content(resource_data(req, "campaign-message", message_id)["attributes"])
        with self.world.lock:
            camp, msg = self._message_or_404(message_id)
            for field, text in content.items():
                try:
                    parse_subject(text)
                except TemplateError as exc:
                    raise invalid(f"{field}: {exc}", pointer=f"{CONTENT_POINTER}/{field}") from None
            try:
                if "subject" in content:
                    self.world.set_message_subject(message_id, content["subject"])
                if "preview_text" in content:
                    self.world.set_message_preview_text(message_id, content["preview_text"])
            except WriteError as exc:
                raise invalid(str(exc), pointer="/data/id") from None
            return written(req, 200, rec.render_campaign_message(self.world, camp, msg.idx))

    def _message_or_404(self, message_id: str) -> Any:
        found = self.world.campaign_message(message_id)
        if found is None:
            raise not_found("campaign message", message_id)
        return found


def _import_profiles(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's profiles as ``{id | email, properties}``, or a 400 for a body that breaks the schema."""
    try:
        items = data["attributes"]["profiles"]["data"]
    except (KeyError, TypeError):
        raise invalid(
            "expected attributes.profiles.data: a list of profile objects", pointer=PROFILES_POINTER
        ) from None
    if not isinstance(items, list) or not items:
        raise invalid("profiles.data must be a non-empty list", pointer=PROFILES_POINTER)
    if len(items) > MAX_IMPORT_PROFILES:
        raise invalid(
            f"a bulk import job takes at most {MAX_IMPORT_PROFILES} profiles, not {len(items)}",
            pointer=PROFILES_POINTER,
        )
    out = []
    for k, item in enumerate(items):
        pointer = f"{PROFILES_POINTER}/{k}"
        if not isinstance(item, dict) or item.get("type") != "profile":
            raise invalid("each profile must be an object with type 'profile'", pointer=pointer)
        attributes = item.get("attributes") or {}
        properties = attributes.get("properties") if isinstance(attributes, dict) else None
        if not isinstance(attributes, dict) or not isinstance(properties, dict | None):
            raise invalid("attributes.properties must be an object", pointer=pointer)
        if properties and not all(isinstance(name, str) and name for name in properties):
            raise invalid("property names must be non-empty strings", pointer=pointer)
        if item.get("id"):
            out.append({"id": str(item["id"]), "properties": properties or {}})
        elif attributes.get("email"):
            out.append({"email": str(attributes["email"]), "properties": properties or {}})
        else:
            raise invalid("each profile needs an id or attributes.email", pointer=pointer)
    return out


def _job_list(data: dict[str, Any]) -> str | None:
    """The list of ``data.relationships.lists`` (Klaviyo: at most one a job), or None."""
    relationships = data.get("relationships")
    if relationships is None:
        return None
    pointer = "/data/relationships/lists/data"
    lists = relationships.get("lists") if isinstance(relationships, dict) else None
    items = lists.get("data") if isinstance(lists, dict) else None
    if not isinstance(items, list) or (isinstance(relationships, dict) and set(relationships) != {"lists"}):
        raise invalid("expected relationships.lists.data: [{type: 'list', id}]", pointer=pointer)
    if len(items) > 1:
        raise invalid("a bulk import job adds profiles to at most one list", pointer=pointer)
    if not items:
        return None
    item = items[0]
    if not isinstance(item, dict) or item.get("type") != "list" or not isinstance(item.get("id"), str):
        raise invalid("each list must be {type: 'list', id}", pointer=f"{pointer}/0")
    return item["id"]


def _render_job(world: World, job: dict[str, Any], status: str) -> dict[str, Any]:
    created = world.start_ts + job["clock_day"] * DAY + job["seq"]
    complete = status == "complete"
    failed = len(job["failed"])
    lists = [{"type": "list", "id": job["list_id"]}] if job.get("list_id") else []
    return {
        "type": JOB,
        "id": job["target"],
        "attributes": {
            "status": status,
            "created_at": iso_utc(created),
            "total_count": job["total"],
            "completed_count": job["total"] - failed if complete else 0,
            "failed_count": failed if complete else 0,
            "completed_at": iso_utc(created + 60) if complete else None,
            "expires_at": iso_utc(created + JOB_EXPIRES_DAYS * DAY),
            "started_at": iso_utc(created + 1) if status != "queued" else None,
        },
        "relationships": {"lists": {"data": lists}},
        "links": {"self": f"/api/profile-bulk-import-jobs/{job['target']}/"},
    }


def _message_content(attributes: dict[str, Any]) -> dict[str, str]:
    """``definition.content``'s subject and/or preview_text of a campaign-message PATCH (the fields
    the sandbox updates), each a non-empty string."""
    definition = attributes.get("definition") if set(attributes) == {"definition"} else None
    content = definition.get("content") if isinstance(definition, dict) else None
    extra = set(definition or {}) - {"content", "channel"}
    if not isinstance(content, dict) or not content or not set(content) <= set(MESSAGE_FIELDS) or extra:
        raise invalid(
            "the sandbox updates only attributes.definition.content.subject and .preview_text",
            pointer="/data/attributes/definition",
        )
    if definition.get("channel", "email") != "email":
        raise invalid("definition.channel must be 'email'", pointer="/data/attributes/definition/channel")
    for field, text in content.items():
        if not isinstance(text, str) or not text.strip():
            raise invalid(f"{field} must be a non-empty string", pointer=f"{CONTENT_POINTER}/{field}")
    return content
