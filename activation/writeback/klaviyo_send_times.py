"""Per-contact send times on Klaviyo: hourly child sends of one campaign (``campaign_send_times``).

Klaviyo's campaigns have one send time (optionally in each recipient's local time zone) and no
per-profile send time, so a campaign's recipients are moved to clones of it, one per local hour:

1. ``POST /api/lists``: one list per local hour used, and one "moved" list of everyone moved.
2. ``POST /api/profile-bulk-import-jobs`` with ``relationships.lists``: each hour's profiles into
   its list (at most 10,000 a job), then every profile that landed in an hour list into the moved
   list. Any profile that fails stops the write here: nothing is sent differently yet.
3. ``POST /api/campaign-clone`` per hour, then ``PATCH /api/campaigns/{clone}``: its audience the
   hour's list, its send strategy the send day at that hour with ``is_local`` (Klaviyo sends it at
   that wall-clock time in each recipient's own time zone).
4. ``PATCH /api/campaigns/{campaign}``: the campaign excludes the moved list.
5. ``POST /api/campaign-send-jobs`` per clone.

The campaign is patched before the clones are scheduled: if a send job then fails, the recipients
of the hours not scheduled miss this campaign (the error names them) rather than any recipient
getting it twice. The read is whether the campaign already excludes a Loopwise moved list
(``split``), so a resumed run does not move anyone twice; it then finds the clones the earlier
attempt scheduled (by their hour lists, named after the campaign) so their recipients are recorded. Creates are retried only when throttled
(429: nothing was made); lists or clones an interrupted attempt left behind send nothing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from activation.writeback.base import WriteError, WriteRequest, WriteResult

if TYPE_CHECKING:
    from activation.writeback.klaviyo import KlaviyoWriter, _Reply

SEND_TIMES = "campaign_send_times"
SPLIT = "split"
CLONE_MARK = "Loopwise send time"  # in every list and clone name (decision_engine's CLONE_MARK)
MOVED_LIST = CLONE_MARK + " · moved · {}"
OPEN_STATUSES = ("draft", "scheduled")
POLL_SECONDS = 2.0
POLL_LIMIT_SECONDS = 300.0


def validate(request: WriteRequest) -> None:
    if request.field != "send_times" or request.value != SPLIT or not request.entity_id:
        raise WriteError("a send-time write sets send_times to 'split' on one campaign")
    groups = request.context.get("groups")
    if groups is not None and (
        not isinstance(groups, dict)
        or not groups
        or any(not str(h).isdigit() or not 0 <= int(h) <= 23 or not ids for h, ids in groups.items())
    ):
        raise WriteError("send-time groups map local hours 0-23 to non-empty profile id lists")


class HourlySends:
    """The calls of one ``campaign_send_times`` write, over a :class:`KlaviyoWriter`'s HTTP."""

    def __init__(self, writer: KlaviyoWriter) -> None:
        self._w = writer

    def read(self, request: WriteRequest) -> Any:
        """``split`` when the campaign excludes a Loopwise moved list, else None."""
        from activation.writeback.klaviyo import KlaviyoError

        reply = self._w._get(f"/api/campaigns/{request.entity_id}")
        if not reply.ok:
            raise KlaviyoError(reply)
        return SPLIT if self._moved_list(reply.body["data"]) else None

    def _moved_list(self, campaign: dict[str, Any]) -> str | None:
        excluded = ((campaign.get("attributes") or {}).get("audiences") or {}).get("excluded") or []
        for list_id in excluded:
            if self._list_name(list_id).startswith(MOVED_LIST.format("")):
                return str(list_id)
        return None

    def _list_name(self, list_id: str) -> str:
        """A list's name ("" when Klaviyo does not tell)."""
        found = self._w._get(f"/api/lists/{list_id}")
        data = ((found.body or {}).get("data") or {}) if found.ok else {}
        return str((data.get("attributes") or {}).get("name", ""))

    def write(self, request: WriteRequest, *, dry_run: bool) -> WriteResult:
        from activation.writeback.klaviyo import _failed

        groups: dict[str, list[str]] = request.context.get("groups") or {}
        if not groups:
            raise WriteError("a send-time write needs context groups (local hour -> profile ids)")
        campaign_id = request.entity_id
        found = self._w._get(f"/api/campaigns/{campaign_id}")
        if not found.ok:
            return _failed(found)
        campaign = found.body["data"]
        attributes = campaign.get("attributes") or {}
        planned = self._planned(request, groups, attributes)
        if self._moved_list(campaign):  # a resumed run: report the clones it scheduled, so they get recorded
            response = {"clones": self._scheduled_clones(campaign_id), "resumed": True}
            return WriteResult("noop", before=SPLIT, after=SPLIT, request=planned, response=response)
        if str(attributes.get("status", "")).lower() not in OPEN_STATUSES:
            error = f"campaign {campaign_id} is {attributes.get('status')}: its recipients can no longer move"
            return WriteResult("failed", request=planned, error=error)
        if dry_run:
            return WriteResult("validated", request=planned)
        return self._split(request, groups, attributes, planned)

    def _planned(
        self, request: WriteRequest, groups: dict[str, list[str]], attributes: dict[str, Any]
    ) -> dict[str, Any]:
        """What the write sends, by count (profile ids stay in the context, not the log)."""
        return {
            "campaign": request.entity_id,
            "send_day": request.context.get("send_day"),
            "lists": len(groups) + 1,
            "profiles_per_hour": {
                hour: len(ids) for hour, ids in sorted(groups.items(), key=lambda g: int(g[0]))
            },
            "calls": [
                "POST /api/lists",
                "POST /api/profile-bulk-import-jobs (relationships.lists)",
                "POST /api/campaign-clone",
                "PATCH /api/campaigns/{clone} (audiences, send_strategy is_local)",
                f"PATCH /api/campaigns/{request.entity_id} (audiences.excluded)",
                "POST /api/campaign-send-jobs",
            ],
            "original_send_time": attributes.get("send_time"),
        }

    def _split(
        self,
        request: WriteRequest,
        groups: dict[str, list[str]],
        attributes: dict[str, Any],
        planned: dict[str, Any],
    ) -> WriteResult:
        from activation.writeback.klaviyo import _failed

        campaign_id, name = request.entity_id, str(attributes.get("name") or request.entity_id)
        day = str(request.context["send_day"])
        lists: dict[str, str] = {}
        for hour in sorted(groups, key=int):
            label = f"{CLONE_MARK} · {name} · {int(hour):02d}:00 · {campaign_id}"
            made = self._create("/api/lists", {"data": {"type": "list", "attributes": {"name": label}}})
            if not made.ok:
                return _failed(made, request=planned)
            lists[hour] = str(made.body["data"]["id"])
        made = self._create(
            "/api/lists", {"data": {"type": "list", "attributes": {"name": MOVED_LIST.format(campaign_id)}}}
        )
        if not made.ok:
            return _failed(made, request=planned)
        moved_list = str(made.body["data"]["id"])
        moved = [pid for hour in lists for pid in groups[hour]]
        problem = self._import({**{lists[h]: groups[h] for h in lists}, moved_list: moved})
        if problem is not None:
            return WriteResult("failed", request=planned, error=problem, retryable=True)
        clones: dict[str, str] = {}
        for hour, list_id in lists.items():
            clone_name = f"{name} · {CLONE_MARK} {int(hour):02d}:00"
            made = self._create(
                "/api/campaign-clone",
                {"data": {"type": "campaign", "id": campaign_id, "attributes": {"new_name": clone_name}}},
            )
            if not made.ok:
                return _failed(made, request=planned)
            clone = str(made.body["data"]["id"])
            patch = {
                "data": {
                    "type": "campaign",
                    "id": clone,
                    "attributes": {
                        "audiences": {"included": [list_id], "excluded": []},
                        "send_strategy": {
                            "method": "static",
                            "datetime": f"{day}T{int(hour):02d}:00:00",
                            "options": {"is_local": True, "send_past_recipients_immediately": False},
                        },
                    },
                },
            }
            reply = self._w._write("PATCH", f"/api/campaigns/{clone}", patch, lambda: False)
            if not reply.ok:
                return _failed(reply, request=planned)
            clones[hour] = clone
        audiences = attributes.get("audiences") or {}
        excluded = [*(audiences.get("excluded") or []), moved_list]
        patch = {
            "data": {
                "type": "campaign",
                "id": campaign_id,
                "attributes": {
                    "audiences": {"included": audiences.get("included") or [], "excluded": excluded}
                },
            }
        }
        reply = self._w._write(
            "PATCH", f"/api/campaigns/{campaign_id}", patch, lambda: self._excludes(campaign_id, moved_list)
        )
        if not reply.ok:
            return _failed(reply, request=planned)
        scheduled: list[str] = []
        for hour, clone in clones.items():
            job = {"data": {"type": "campaign-send-job", "id": clone}}
            reply = self._w._write("POST", "/api/campaign-send-jobs", job, lambda: False)
            if not reply.ok:
                missed = sum(len(groups[h]) for h in clones if h not in scheduled and h != hour) + len(
                    groups[hour]
                )
                error = (
                    f"send job for hour {hour} refused ({reply.error_text()}); hours {scheduled or 'none'} are "
                    f"scheduled, {missed} recipients of the rest miss this campaign"
                )
                return WriteResult(
                    "failed", before=None, after=SPLIT, request=planned, response=reply.record(), error=error
                )
            scheduled.append(hour)
        response = {"moved_list": moved_list, "lists": lists, "clones": clones, "recipients": len(moved)}
        return WriteResult("executed", before=None, after=SPLIT, request=planned, response=response)

    def _scheduled_clones(self, campaign_id: str) -> dict[str, str]:
        """Local hour -> id of each scheduled or sent clone an earlier attempt made for the campaign,
        found by its audience: the hour list named after the campaign."""
        hour_list = re.compile(rf"^{re.escape(CLONE_MARK)} · .* · (\d\d):00 · {re.escape(campaign_id)}$")
        query = urlencode({"filter": f"equals(messages.channel,'email'),contains(name,'{CLONE_MARK}')"})
        path: str | None = f"/api/campaigns?{query}"
        found: dict[str, str] = {}
        while path:
            reply = self._w._get(path)
            if not reply.ok:
                return found
            for clone in reply.body.get("data") or []:
                attributes = clone.get("attributes") or {}
                if str(attributes.get("status", "")).lower() not in ("scheduled", "sent"):
                    continue
                for list_id in (attributes.get("audiences") or {}).get("included") or []:
                    match = hour_list.match(self._list_name(list_id))
                    if match:
                        found[str(int(match.group(1)))] = str(clone["id"])
            next_url = (reply.body.get("links") or {}).get("next")
            path = next_url.removeprefix(self._w._base_url) if next_url else None
        return found

    def _excludes(self, campaign_id: str, list_id: str) -> bool:
        reply = self._w._get(f"/api/campaigns/{campaign_id}")
        if not reply.ok:
            return False
        excluded = ((reply.body["data"].get("attributes") or {}).get("audiences") or {}).get("excluded") or []
        return list_id in excluded

    def _create(self, path: str, body: dict[str, Any]) -> _Reply:
        """POST a create, retried only when throttled (a 429 made nothing; another failure may have)."""
        for attempt in range(1, self._w._max_attempts + 1):
            reply = self._w._send("POST", path, body)
            if reply.status != 429 or attempt == self._w._max_attempts:
                return reply
            self._w._sleep(self._w._wait(reply, attempt))
        raise AssertionError("unreachable")

    def _import(self, members: dict[str, list[str]]) -> str | None:
        """Add each list's profiles in jobs of at most 10,000, all submitted before any is polled
        (Klaviyo works on them side by side); the first problem, or None when every profile landed."""
        from activation.writeback.klaviyo import JOB_DONE, MAX_PROFILES_PER_JOB, poll_waits

        pending: dict[str, str] = {}  # job id -> list id
        for list_id, profiles in members.items():
            for start in range(0, len(profiles), MAX_PROFILES_PER_JOB):
                chunk = profiles[start : start + MAX_PROFILES_PER_JOB]
                reply = self._w._post_job(_list_import_body(list_id, chunk))
                job_id = (reply.body or {}).get("data", {}).get("id") if reply.ok else None
                if not job_id:
                    return f"list {list_id}: {reply.error_text() if not reply.ok else 'job created without an id'}"
                pending[str(job_id)] = list_id
        waited, waits = 0.0, poll_waits(POLL_SECONDS, POLL_LIMIT_SECONDS)
        while pending:
            for job_id, list_id in list(pending.items()):
                status = self._w._get(f"/api/profile-bulk-import-jobs/{job_id}")
                if not status.ok:
                    return f"import job {job_id}: {status.error_text()}"
                attributes = (status.body.get("data") or {}).get("attributes") or {}
                if attributes.get("status") not in JOB_DONE:
                    continue
                del pending[job_id]
                if attributes.get("status") == "cancelled":
                    return f"import job {job_id} was cancelled"
                if int(attributes.get("failed_count") or 0):
                    failed = self._w._import_errors(job_id)
                    reasons = (
                        sorted(set(failed.values())) if isinstance(failed, dict) else [failed.error_text()]
                    )
                    return f"list {list_id}: {attributes.get('failed_count')} profiles were not added: {reasons[0]}"
            if pending:
                wait = next(waits, None)
                if wait is None:  # the bounded wait is used up
                    return f"{len(pending)} import jobs still running after {waited:.0f} s"
                self._w._sleep(wait)
                waited += wait
        return None


def _list_import_body(list_id: str, profiles: list[str]) -> dict[str, Any]:
    return {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {"data": [{"type": "profile", "id": pid, "attributes": {}} for pid in profiles]}
            },
            "relationships": {"lists": {"data": [{"type": "list", "id": list_id}]}},
        }
    }
