"""Per-recipient content on Klaviyo: one campaign's angles (``campaign_content``).

Klaviyo renders a message per recipient from conditional blocks that read a profile property, so
a campaign's content is chosen per recipient in two calls:

1. ``POST /api/profile-bulk-import-jobs``: the property that carries this campaign's angle
   (``request.context["property"]``, ``lw_angle_<campaign id>``) set on every assigned profile
   (``request.context["assignments"]``: profile id -> ``{"angle", ...}``), 10,000 a job, every job
   submitted before any is polled (``KlaviyoWriter.bulk_set_profile_property``). Any profile that
   fails stops the write here, retryably: the message still shows its own content to everyone.
2. ``PATCH /api/campaign-messages/{id}``: the message's preview text becomes ``request.value``, the
   template with one block per approved angle and the message's own text as the ``else``.

The read is the message's preview text: equal to the template means an earlier attempt finished
(``noop``), so a resumed run writes nothing twice. A property per campaign (not one shared
``lw_angle``) keeps two upcoming campaigns from overwriting each other's angles before either is
sent; the import sets absolute values, so sending it again changes nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from activation.writeback.base import WriteError, WriteRequest, WriteResult

if TYPE_CHECKING:
    from activation.writeback.klaviyo import KlaviyoWriter

CAMPAIGN_CONTENT = "campaign_content"
FIELD = "preview_text"


def validate(request: WriteRequest) -> None:
    if request.field != FIELD or not isinstance(request.value, str) or "{%" not in request.value:
        raise WriteError("a content write sets a campaign message's preview_text to a conditional template")
    if not request.context.get("property"):
        raise WriteError("a content write names the property its template reads (context property)")
    assignments = request.context.get("assignments")  # absent on a read-back: only the write needs it
    if assignments is not None and (
        not isinstance(assignments, dict)
        or not assignments
        or any(not isinstance(e, dict) or not e.get("angle") for e in assignments.values())
    ):
        raise WriteError("content assignments map profile ids to entries with an angle")


def _message_request(request: WriteRequest) -> WriteRequest:
    return WriteRequest(
        request.action_id, "klaviyo", "campaign_message", request.entity_id, FIELD, request.value
    )


class ContentChoice:
    """The calls of one ``campaign_content`` write, over a :class:`KlaviyoWriter`."""

    def __init__(self, writer: KlaviyoWriter) -> None:
        self._w = writer

    def read(self, request: WriteRequest) -> Any:
        return self._w.read(_message_request(request))

    def write(self, request: WriteRequest, *, dry_run: bool) -> WriteResult:
        from activation.writeback.klaviyo import KlaviyoError, _failed

        if not request.context.get("assignments"):
            raise WriteError("a content write needs context assignments (profile id -> angle)")
        assignments = {pid: str(entry["angle"]) for pid, entry in request.context["assignments"].items()}
        property_name = str(request.context["property"])
        try:
            before = self.read(request)
        except KlaviyoError as exc:
            return _failed(exc.reply)
        planned: dict[str, Any] = {
            "message": request.entity_id,
            "property": property_name,
            "profiles_per_angle": _counts(assignments),
            "calls": [
                "POST /api/profile-bulk-import-jobs (the property on every assigned profile)",
                f"PATCH /api/campaign-messages/{request.entity_id} (definition.content.preview_text)",
            ],
        }
        if before == request.value:
            return WriteResult("noop", before=before, after=before, request=planned)
        if dry_run:
            return WriteResult("validated", before=before, after=before, request=planned)
        bulk = self._w.bulk_set_profile_property(assignments, property_name)
        planned["jobs"] = bulk.jobs
        if bulk.status == "failed":
            return WriteResult(
                "failed", before=before, request=planned, error=bulk.error, retryable=bulk.retryable
            )
        if bulk.failed_profiles:
            reasons = sorted(set(bulk.failed_profiles.values()))
            error = f"{len(bulk.failed_profiles)} of {len(assignments)} profiles were not set: {reasons[0]}"
            return WriteResult("failed", before=before, request=planned, error=error, retryable=True)
        message = self._w.write(_message_request(request), dry_run=False)
        planned["patch"] = message.request
        return WriteResult(
            message.status,
            before=before,
            after=message.after,
            request=planned,
            response={"completed": bulk.completed, **(message.response or {})},
            error=message.error,
            vendor_request_id=message.vendor_request_id,
            retryable=message.retryable,
        )


def _counts(assignments: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for angle in assignments.values():
        out[angle] = out.get(angle, 0) + 1
    return dict(sorted(out.items()))
