"""Klaviyo API imitation (JSON:API, revision 2026-10-15).

Reads: metrics, events, profiles, campaigns (and their messages), lists, flows (actions, messages).
Writes are Klaviyo's documented routes:

- Winner rollout: a campaign Loopwise creates for the A/B test's remainder list (``POST
  /api/campaigns``) and sends (``POST /api/campaign-send-jobs``); Klaviyo has no endpoint that
  picks a winner.
- Per-contact send times (hourly child sends of a plan campaign C):
  ``POST /api/lists`` ``{data: {type: "list", attributes: {name}}}`` -> 201 the list;
  ``GET /api/lists/{id}``: a created list, the plan campaigns' main list (C's ``included``), or an
  A/B test's remainder ``ab-remainder-{campaign_id}``; profiles join a created list through a bulk
  import job with ``relationships.lists`` (``klaviyo_content``);
  ``PATCH /api/campaigns/{id}`` ``{data: {type: "campaign", id, attributes: {audiences?: {included,
  excluded?}, send_strategy?}}}`` -> 200 the campaign: a plan campaign not yet sent takes
  ``audiences`` with its own ``included`` unchanged and ``excluded`` created lists (its send skips
  their members as of its send day); a clone not yet scheduled takes ``audiences`` and
  ``send_strategy`` ``{method: "static", datetime, options: {is_local, send_past_recipients_immediately}}``;
  ``POST /api/campaign-clone`` ``{data: {type: "campaign", id, attributes: {new_name}}}`` -> 201 a
  Draft copy of a one-message plan campaign not yet sent (its message with a new id and its
  current subject, its audiences and send strategy);
  ``POST /api/campaign-send-jobs`` ``{data: {type: "campaign-send-job", id}}`` -> 202 schedules a
  clone (``is_local``: each recipient at the wall-clock ``datetime`` in its own time zone); the
  clone then shows Scheduled, and Sent from its ``send_time`` (the earliest recipient's moment).
  Clones are listed and read like the plan's campaigns (``GET /api/campaigns``, ``/{id}``,
  ``/{id}/campaign-messages``, ``GET /api/campaign-messages/{id}``); their events carry their own
  message id.
- Profile properties are PATCHed, flows get a status; bulk profile imports and campaign-message
  subjects (Loopwise's own tests) are in ``klaviyo_content``. Revisions older than two years are
  refused.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import datetime
from typing import Any

import numpy as np

from sandbox import ids
from sandbox.util import DAY, encode_cursor, iso_offsets, iso_utc, parse_datetime
from sandbox.vendors import klaviyo_records as rec
from sandbox.vendors.base import ApiError, Request, Response
from sandbox.vendors.klaviyo_content import ContentRoutes
from sandbox.vendors.klaviyo_filters import (
    COMPARISONS,
    Condition,
    listed,
    time_bounds,
    time_mask,
)
from sandbox.vendors.klaviyo_jsonapi import (
    cursor,
    error,
    invalid,
    listing,
    not_found,
    offset_page,
    only_attribute,
    page_size,
    parse_filters,
    resource_data,
    revision_error,
    written,
)
from sandbox.world import events as ev
from sandbox.world.contacts import utc_offset_minutes
from sandbox.world.core import World, WriteError
from sandbox.world.send_times import Clone

EVENT_PAGE = (200, 1000)  # (default, max)
DAY_ROWS_CACHED = 16  # days of filtered events kept between pages (parallel clients list several days)
PROFILE_PAGE = (20, 100)
CAMPAIGN_PAGE = (10, 100)
FLOW_PAGE = (50, 50)
# Get Campaigns: the operators Klaviyo accepts per field (its reference's "allowed field(s)/operator(s)")
CAMPAIGN_FILTERS = {
    "messages.channel": ("equals",),
    "name": ("contains",),
    "status": ("equals", "any"),
    "archived": ("equals",),
    "id": ("any",),
    **{stamp: COMPARISONS for stamp in ("created_at", "scheduled_at", "updated_at", "send_time")},
}


class KlaviyoApi:
    vendor = "klaviyo"

    def __init__(self, world: World) -> None:
        self.world = world
        self.content = ContentRoutes(world)
        # A day's filtered events, reused by the ~100 pages that list the day (LRU, a few MB each).
        self._day_rows: OrderedDict[tuple[Any, ...], tuple[ev.EventBatch, np.ndarray]] = OrderedDict()

    def auth_error(self, req: Request) -> Response | None:
        if req.header("authorization") != f"Klaviyo-API-Key {self.world.spec.api_keys['klaviyo']}":
            return error(
                401,
                "not_authenticated",
                "Authentication credentials were not provided.",
                "Missing or invalid private key.",
            )
        return revision_error(req.header("revision"))

    def handle(self, req: Request) -> Response:
        routes = [
            ("GET", r"/api/metrics/?", self.metrics),
            ("GET", r"/api/events/?", self.events),
            ("GET", r"/api/profiles/?", self.profiles),
            ("GET", r"/api/profiles/([^/]+)/?", self.profile),
            ("PATCH", r"/api/profiles/([^/]+)/?", self.patch_profile),
            ("GET", r"/api/campaigns/?", self.campaigns),
            ("POST", r"/api/campaigns/?", self.create_campaign),
            ("GET", r"/api/campaigns/([^/]+)/?", self.campaign),
            ("PATCH", r"/api/campaigns/([^/]+)/?", self.patch_campaign),
            ("POST", r"/api/campaign-clone/?", self.clone_campaign),
            ("GET", r"/api/campaigns/([^/]+)/campaign-messages/?", self.campaign_messages),
            ("GET", r"/api/campaign-messages/([^/]+)/?", self.content.campaign_message),
            ("PATCH", r"/api/campaign-messages/([^/]+)/?", self.content.patch_campaign_message),
            ("POST", r"/api/profile-bulk-import-jobs/?", self.content.create_import_job),
            ("GET", r"/api/profile-bulk-import-jobs/([^/]+)/?", self.content.import_job),
            ("GET", r"/api/profile-bulk-import-jobs/([^/]+)/import-errors/?", self.content.import_errors),
            ("POST", r"/api/campaign-send-jobs/?", self.send_campaign),
            ("POST", r"/api/lists/?", self.create_list),
            ("GET", r"/api/lists/([^/]+)/?", self.get_list),
            ("GET", r"/api/flows/?", self.flows),
            ("GET", r"/api/flows/([^/]+)/?", self.flow),
            ("PATCH", r"/api/flows/([^/]+)/?", self.patch_flow),
            ("GET", r"/api/flows/([^/]+)/flow-actions/?", self.flow_actions),
            ("GET", r"/api/flow-actions/([^/]+)/flow-messages/?", self.flow_messages),
        ]
        for method, pattern, fn in routes:
            m = re.fullmatch(pattern, req.path)
            if m and method == req.method:
                return fn(req, *m.groups())
        if any(re.fullmatch(p, req.path) for _, p, _ in routes):
            return error(
                405, "method_not_allowed", "Method not allowed.", f"{req.method} is not allowed here."
            )
        return error(404, "not_found", "Not found.", f"{req.path} was not found.")

    # ---- resources ---------------------------------------------------------------------------
    def metrics(self, req: Request) -> Response:
        w = self.world
        created = iso_utc(w.start_ts - 400 * DAY)
        data = [
            {
                "type": "metric",
                "id": ids.metric_id(w.spec.seed, i),
                "attributes": {
                    "name": name,
                    "created": created,
                    "updated": created,
                    "integration": {
                        "name": "Shopify" if i == ev.ORDER else "Klaviyo",
                        "category": "eCommerce" if i == ev.ORDER else "Internal",
                    },
                },
            }
            for i, name in enumerate(ev.METRICS)
        ]
        return listing(req, data, None)

    def events(self, req: Request) -> Response:
        w = self.world
        size = page_size(req, EVENT_PAGE)
        conds = parse_filters(req)
        sort = req.param("sort")
        if sort not in (None, "datetime", "timestamp"):
            raise invalid("sort must be 'datetime' (ascending)", "sort")
        metric_ids = {ids.metric_id(w.spec.seed, i): i for i in range(len(ev.METRICS))}
        wanted: int | None = None
        for c in conds:
            if c.op == "equals" and c.field == "metric_id":
                wanted = metric_ids.get(c.value, -1)
            elif c.op == "equals" or c.field not in ("datetime", "timestamp"):
                raise invalid(f"filter on {c.field!r} is not supported for events", "filter")
        for c in conds:
            if c.field == "timestamp":
                c.field = "datetime"
        lo, hi = time_bounds(conds, ("datetime",))
        d0 = 0 if lo == -np.inf else max(0, w.day_of(lo))
        d1 = w.clock_day - 1 if hi == np.inf else min(w.clock_day - 1, w.day_of(hi))
        day, off = cursor(req, 2) or [d0, 0]

        def rows(d: int) -> tuple[ev.EventBatch, np.ndarray]:
            key = (d, w.clock_ts, len(w.writes), wanted, tuple((c.op, c.field, c.value) for c in conds))
            if key in self._day_rows:
                self._day_rows.move_to_end(key)
                return self._day_rows[key]
            found = filtered(d)
            self._day_rows[key] = found
            if len(self._day_rows) > DAY_ROWS_CACHED:
                self._day_rows.popitem(last=False)
            return found

        def filtered(d: int) -> tuple[ev.EventBatch, np.ndarray]:
            b = w.visible_events(d)
            mask = time_mask(conds, ("datetime",), {"datetime": b.ts}, len(b))
            if wanted is not None:
                mask &= b.metric == wanted
            b = b.take(np.nonzero(mask)[0])
            dup = np.nonzero(w.mess.duplicated(b.key, "klaviyo", "events"))[0]
            return b, np.concatenate([np.arange(len(b)), dup])  # duplicates re-served at the end of the day

        data: list[dict[str, Any]] = []
        with w.lock:
            while day <= d1 and len(data) < size:
                b, order = rows(day)
                take = order[off : off + size - len(data)]
                if len(take):
                    page = b.take(take)
                    bad = w.event_malformed(page).tolist()
                    extra = w.mess.unexpected(page.key, "klaviyo", "events").tolist()
                    event_ids = ids.event_ids(w.spec.seed, page.key)
                    uuids = ids.event_uuids(w.spec.seed, page.key)
                    # contacts live by their wall clocks: each event's local time at its offset
                    whens = iso_offsets(page.ts, utc_offset_minutes(w.contacts.tz[page.contact], page.ts))
                    values = page.as_lists()  # plain ints and floats: numpy scalars cost per field
                    data += [
                        rec.render_event(w, values, i, when, k, x, event_id, uuid)
                        for i, (when, k, x, event_id, uuid) in enumerate(
                            zip(whens, bad, extra, event_ids, uuids, strict=True)
                        )
                    ]
                off += len(take)
                if off >= len(order):
                    day, off = day + 1, 0
            while day <= d1 and off >= len(rows(day)[1]):  # find whether anything follows
                day, off = day + 1, 0
        return listing(req, data, encode_cursor(day, off) if day <= d1 else None)

    def profiles(self, req: Request) -> Response:
        w = self.world
        size = page_size(req, PROFILE_PAGE)
        conds = parse_filters(req)
        sort = req.param("sort")
        if sort not in (None, "updated", "created"):
            raise invalid("sort must be 'updated' or 'created' (ascending)", "sort")
        with w.lock:
            c = w.contacts
            updated = rec.profile_updated(w)
            visible = c.created_ts < w.clock_ts
            email_eq = [x.value.strip().lower() for x in conds if x.op == "equals" and x.field == "email"]
            for x in conds:
                if x.op == "equals" and x.field != "email":
                    raise invalid(f"filter on {x.field!r} is not supported for profiles", "filter")
            try:
                visible &= time_mask(
                    conds, ("updated", "created"), {"updated": updated, "created": c.created_ts}, c.n
                )
            except ValueError as exc:
                raise invalid(str(exc), "filter") from None
            idx = np.nonzero(visible)[0]
            if email_eq:
                idx = np.array([i for i in idx if c.email(int(i)) in email_eq], dtype=np.int64)
            if sort != "created":
                idx = idx[np.lexsort((idx, updated[idx]))]
            dup = idx[w.mess.duplicated(idx, "klaviyo", "profiles")]
            order = np.concatenate([idx, dup]).astype(np.int64)
            start = (cursor(req, 1) or [0])[0]
            page = order[start : start + size]
            with_subs = "subscriptions" in (req.param("additional-fields[profile]") or "")
            data = [rec.render_profile(w, int(i), int(updated[i]), with_subs) for i in page]
        return listing(req, data, encode_cursor(start + size) if start + size < len(order) else None)

    def _profile_or_404(self, profile_id: str) -> int:
        i = self.world.profile_index(profile_id)
        if i is None:
            raise not_found("profile", profile_id)
        return i

    def _render_profile(self, i: int) -> dict[str, Any]:
        return rec.render_profile(self.world, i, int(rec.profile_updated(self.world)[i]), False)

    def profile(self, req: Request, profile_id: str) -> Response:
        with self.world.lock:
            return written(req, 200, self._render_profile(self._profile_or_404(profile_id)))

    def patch_profile(self, req: Request, profile_id: str) -> Response:
        """Merge ``attributes.properties`` into the profile's: given keys overwrite, others stay."""
        properties = only_attribute(resource_data(req, "profile", profile_id)["attributes"], "properties")
        if not isinstance(properties, dict) or not properties:
            raise invalid("properties must be a non-empty object", pointer="/data/attributes/properties")
        with self.world.lock:
            i = self._profile_or_404(profile_id)
            try:
                self.world.set_profile_properties(profile_id, properties)
            except WriteError as exc:
                raise invalid(str(exc), pointer="/data/attributes/properties") from None
            return written(req, 200, self._render_profile(i))

    def _campaign_or_404(self, campaign_id: str) -> Any:
        """A visible plan campaign or a clone (``Clone``)."""
        clone = self.world.clone(campaign_id)
        if clone is not None:
            return clone
        camp = self.world.campaign_by_id.get(campaign_id)
        if camp is None or camp.created_ts > self.world.clock_ts:
            raise not_found("campaign", campaign_id)
        return camp

    def campaigns(self, req: Request) -> Response:
        """Email campaigns; a filter on name, status, archived or id also lists the campaigns Loopwise
        created (sandbox simplification: without one, the listing is the plan's campaigns only)."""
        w = self.world
        conds = parse_filters(req)
        if not any(c.op == "equals" and c.field == "messages.channel" and c.value == "email" for c in conds):
            raise invalid("filter must contain equals(messages.channel,'email')", "filter")
        for c in conds:
            if c.op not in CAMPAIGN_FILTERS.get(c.field, ()):
                raise invalid(f"'{c.op}' is not a valid operator for '{c.field}' on campaigns", "filter")
        if any(c.op not in COMPARISONS and c.field != "messages.channel" for c in conds):
            return self._campaigns_by_attribute(req, conds)
        with w.lock:
            camps: list[Any] = [c for c in w.plan.campaigns if c.created_ts <= w.clock_ts]
            clones = [w.clone(i) for i in w.clone_ids()]  # shown from their creation, as Klaviyo's drafts
            sent = [c.schedule["send_time"] if c.schedule else np.nan for c in clones if c is not None]
            updated = {id(c): _updated_ts(w, c) for c in [*camps, *clones]}
            stamps = {
                "updated_at": np.array([updated[id(c)] for c in [*camps, *clones]], dtype=np.float64),
                "created_at": np.array(
                    [c.created_ts for c in camps] + [c.message.created_ts for c in clones], dtype=np.float64
                ),
                "scheduled_at": np.array([c.send_ts for c in camps] + sent, dtype=np.float64),
                "send_time": np.array([c.send_ts for c in camps] + sent, dtype=np.float64),
            }
            camps += clones
            try:
                mask = time_mask(conds, tuple(stamps), stamps, len(camps))
            except ValueError as exc:
                raise invalid(str(exc), "filter") from None
            items = [c for c, keep in zip(camps, mask, strict=True) if keep]
            if req.param("sort") == "updated_at":
                items.sort(key=lambda c: updated[id(c)])
            page, nxt = offset_page(req, items, CAMPAIGN_PAGE)
            data = [_render_listed(w, c) for c in page]
        return listing(req, data, nxt)

    def _campaigns_by_attribute(self, req: Request, conds: list[Condition]) -> Response:
        """Campaigns (the plan's and Loopwise's own) matched on their rendered attributes."""
        w = self.world
        with w.lock:
            rendered = [_render_listed(w, c) for c in w.plan.campaigns if c.created_ts <= w.clock_ts]
            rendered += [rec.render_clone(w, w.send_times.clones[i]) for i in w.clone_ids()]
            for campaign_id in w.created_campaign_ids():
                created = w.created_campaign(campaign_id)
                assert created is not None
                rendered.append(rec.render_created_campaign(w, campaign_id, created))
            try:
                items = [r for r in rendered if all(_campaign_matches(r, c) for c in conds)]
            except ValueError as exc:
                raise invalid(str(exc), "filter") from None
            if req.param("sort") == "updated_at":
                items.sort(key=lambda r: r["attributes"]["updated_at"])
            page, nxt = offset_page(req, items, CAMPAIGN_PAGE)
        return listing(req, page, nxt)

    def campaign(self, req: Request, campaign_id: str) -> Response:
        with self.world.lock:
            created = self.world.created_campaign(campaign_id)
            if created is not None:
                data = rec.render_created_campaign(self.world, campaign_id, created)
            else:
                data = self._render_campaign(campaign_id)
        return written(req, 200, data)

    def _render_campaign(self, campaign_id: str) -> dict[str, Any]:
        """A plan campaign (with its audiences) or a clone, or a 404."""
        camp = self._campaign_or_404(campaign_id)
        if isinstance(camp, Clone):
            return rec.render_clone(self.world, camp)
        return rec.render_campaign(self.world, camp)

    def patch_campaign(self, req: Request, campaign_id: str) -> Response:
        """Update ``audiences`` (a plan campaign: its excluded lists; a clone: both) and, for a clone,
        ``send_strategy``; 400 once the campaign is scheduled (a clone) or sent."""
        attrs = resource_data(req, "campaign", campaign_id)["attributes"]
        extra = set(attrs) - {"audiences", "send_strategy"}
        if extra or not attrs:
            raise invalid(
                "the sandbox updates only attributes.audiences and attributes.send_strategy",
                pointer=f"/data/attributes/{sorted(extra)[0]}" if extra else "/data/attributes",
            )
        with self.world.lock:
            self._campaign_or_404(campaign_id)
            try:
                self.world.update_campaign(campaign_id, attrs)
            except WriteError as exc:
                raise invalid(str(exc), pointer=exc.pointer or "/data/id") from None
            return written(req, 200, self._render_campaign(campaign_id))

    def clone_campaign(self, req: Request) -> Response:
        """Klaviyo's Create Campaign Clone: a Draft copy of a campaign, its message with a new id."""
        data = resource_data(req, "campaign")
        campaign_id = data.get("id")
        if not isinstance(campaign_id, str) or not campaign_id:
            raise invalid("data.id must be the id of the campaign to clone", pointer="/data/id")
        attrs = data.get("attributes") or {}
        if not isinstance(attrs, dict) or not set(attrs) <= {"new_name"}:
            raise invalid("a clone takes only attributes.new_name", pointer="/data/attributes")
        with self.world.lock:
            self._campaign_or_404(campaign_id)
            try:
                clone_id = self.world.clone_campaign(campaign_id, attrs.get("new_name"))
            except WriteError as exc:
                raise invalid(str(exc), pointer=exc.pointer or "/data/id") from None
            return written(req, 201, self._render_campaign(clone_id))

    def create_campaign(self, req: Request) -> Response:
        """A draft to one A/B test's remainder list (the only audience the sandbox can send to)."""
        attrs = resource_data(req, "campaign")["attributes"]
        name, included, strategy, message = _campaign_definition(attrs)
        content = message["content"]
        definition = {"send_strategy": strategy, "content": content, "label": message.get("label")}
        with self.world.lock:
            try:
                campaign_id = self.world.create_rollout_campaign(
                    name, included, content["subject"], message.get("label"), definition
                )
            except WriteError as exc:
                raise invalid(str(exc), pointer="/data/attributes") from None
            created = self.world.created_campaign(campaign_id)
            assert created is not None
            data = rec.render_created_campaign(self.world, campaign_id, created)
        return written(req, 201, data)

    def send_campaign(self, req: Request) -> Response:
        """Queue a created campaign's send; the world rolls its variant out to the remainder."""
        data = resource_data(req, "campaign-send-job")
        campaign_id = str(data.get("id") or "")
        with self.world.lock:
            try:
                if self.world.clone(campaign_id) is not None:
                    self.world.schedule_clone(campaign_id)
                elif self.world.created_campaign(campaign_id) is not None:
                    self.world.send_rollout_campaign(campaign_id)
                elif campaign_id in self.world.campaign_by_id:
                    raise invalid(
                        f"campaign {campaign_id} is scheduled by its plan; the sandbox sends clones "
                        "and rollout campaigns",
                        pointer="/data/id",
                    )
                else:
                    raise not_found("campaign", campaign_id)
            except WriteError as exc:
                raise invalid(str(exc), pointer="/data/id") from None
        job = {"type": "campaign-send-job", "id": campaign_id, "attributes": {"status": "queued"}}
        return written(req, 202, job)

    def create_list(self, req: Request) -> Response:
        """Klaviyo's Create List: ``attributes.name`` -> 201 with the (empty) list."""
        attrs = resource_data(req, "list")["attributes"]
        if set(attrs) - {"name", "opt_in_process"}:
            raise invalid("a list takes attributes.name (and opt_in_process)", pointer="/data/attributes")
        if attrs.get("opt_in_process", "single_opt_in") != "single_opt_in":
            raise invalid("the sandbox's lists are single opt-in", pointer="/data/attributes/opt_in_process")
        with self.world.lock:
            try:
                list_id = self.world.create_list(attrs.get("name"))  # type: ignore[arg-type]
            except WriteError as exc:
                raise invalid(str(exc), pointer=exc.pointer or "/data/attributes") from None
            return written(req, 201, self._render_list(list_id))

    def get_list(self, req: Request, list_id: str) -> Response:
        """A list Loopwise created, the plan campaigns' main list, or an A/B test's remainder."""
        with self.world.lock:
            return written(req, 200, self._render_list(list_id))

    def _render_list(self, list_id: str) -> dict[str, Any]:
        w = self.world
        found = w.list_info(list_id)
        if found is not None:
            name, created = found["name"], found["created_ts"]
            joined = [  # profiles joining the list update it
                w.start_ts + x["clock_day"] * DAY + x["seq"]
                for x in w.writes
                if x["action"] == "import_profiles" and x.get("list_id") == list_id
            ]
            updated = max([created, *joined])
        else:
            camp = w.remainder_list(list_id)
            if camp is None:
                raise not_found("list", list_id)
            name, created, updated = f"A/B remainder - {camp.name}", camp.created_ts, camp.created_ts
        return {
            "type": "list",
            "id": list_id,
            "attributes": {
                "name": name,
                "created": iso_utc(created),
                "updated": iso_utc(updated),
                "opt_in_process": "single_opt_in",
            },
            "links": {"self": f"/api/lists/{list_id}/"},
        }

    def campaign_messages(self, req: Request, campaign_id: str) -> Response:
        with self.world.lock:
            camp = self._campaign_or_404(campaign_id)
            if isinstance(camp, Clone):
                data = [rec.render_campaign_message(self.world, camp, camp.message.idx)]
            else:
                data = [rec.render_campaign_message(self.world, camp, m) for m in camp.messages]
        return listing(req, data, None)

    def flows(self, req: Request) -> Response:
        w = self.world
        with w.lock:
            flows = [f for f in w.plan.flows if f.created_ts <= w.clock_ts]
            page, nxt = offset_page(req, flows, FLOW_PAGE)
            data = [rec.render_flow(w, f) for f in page]
        return listing(req, data, nxt)

    def flow(self, req: Request, flow_id: str) -> Response:
        with self.world.lock:
            return written(req, 200, rec.render_flow(self.world, self._flow(flow_id)))

    def patch_flow(self, req: Request, flow_id: str) -> Response:
        """``draft`` and ``manual`` stop a flow's sends from the next world day on; ``live`` resumes them."""
        status = only_attribute(resource_data(req, "flow", flow_id)["attributes"], "status")
        with self.world.lock:
            flow = self._flow(flow_id)
            try:
                self.world.set_flow_status(flow_id, str(status))
            except WriteError as exc:
                raise invalid(str(exc), pointer="/data/attributes/status") from None
            return written(req, 200, rec.render_flow(self.world, flow))

    def _flow(self, flow_id: str) -> Any:
        for f in self.world.plan.flows:
            if f.flow_id == flow_id:
                return f
        raise not_found("flow", flow_id)

    def flow_actions(self, req: Request, flow_id: str) -> Response:
        flow = self._flow(flow_id)
        page, nxt = offset_page(req, flow.steps, FLOW_PAGE)
        created = iso_utc(flow.created_ts)
        data = [
            {
                "type": "flow-action",
                "id": s.action_id,
                "attributes": {
                    "action_type": "SEND_EMAIL",
                    "status": "live",
                    "created": created,
                    "updated": created,
                    "settings": {"step": s.step, "delay_days": s.delay_days},
                },
                "relationships": {"flow": {"data": {"type": "flow", "id": flow.flow_id}}},
            }
            for s in page
        ]
        return listing(req, data, nxt)

    def flow_messages(self, req: Request, action_id: str) -> Response:
        w = self.world
        for flow in w.plan.flows:
            for step in flow.steps:
                if step.action_id == action_id:
                    data = []
                    for m in step.messages:
                        msg = w.plan.messages[m]
                        attrs: dict[str, Any] = {
                            "name": f"{flow.name} - step {step.step}",
                            "channel": "email",
                            "content": {"subject": msg.subject},
                            "created": iso_utc(msg.created_ts),
                            "updated": iso_utc(msg.created_ts),
                        }
                        if step.is_split:
                            attrs["label"] = msg.label
                        data.append(
                            {
                                "type": "flow-message",
                                "id": msg.message_id,
                                "attributes": attrs,
                                "relationships": {
                                    "flow-action": {"data": {"type": "flow-action", "id": action_id}}
                                },
                            }
                        )
                    return listing(req, data, None)
        raise ApiError(
            error(404, "not_found", "Not found.", f"A flow action with id {action_id} does not exist.")
        )


def _campaign_definition(attrs: dict[str, Any]) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """(name, list id, send strategy, message definition) of a create-campaign body, or a 400."""
    try:
        name = attrs["name"]
        included = attrs["audiences"]["included"]
        strategy = attrs["send_strategy"]
        messages = attrs["campaign-messages"]["data"]
        definition = messages[0]["attributes"]["definition"]
        subject = definition["content"]["subject"]
    except (KeyError, IndexError, TypeError):
        raise invalid(
            "expected attributes {name, audiences: {included}, send_strategy, "
            "campaign-messages: {data: [{attributes: {definition: {channel, content: {subject}}}}]}}",
            pointer="/data/attributes",
        ) from None
    if not isinstance(name, str) or not name.strip():
        raise invalid("name must be a non-empty string", pointer="/data/attributes/name")
    if not isinstance(included, list) or len(included) != 1:
        raise invalid("the sandbox sends to exactly one list", pointer="/data/attributes/audiences/included")
    if len(messages) != 1 or definition.get("channel") != "email" or not isinstance(subject, str):
        raise invalid(
            "expected one email message with a subject", pointer="/data/attributes/campaign-messages"
        )
    if (
        not isinstance(strategy, dict)
        or strategy.get("method") != "static"
        or not _iso(strategy.get("datetime"))
    ):
        raise invalid(
            "send_strategy must be {method: 'static', datetime: ISO 8601}",
            pointer="/data/attributes/send_strategy",
        )
    return name, str(included[0]), strategy, definition


def _updated_ts(world: World, camp: Any) -> int:
    if isinstance(camp, Clone):
        return max([camp.message.created_ts, *rec.clone_write_stamps(world, camp)])
    return world.campaign_updated_ts(camp)


def _render_listed(world: World, camp: Any) -> dict[str, Any]:
    """A campaign as listings show it (a plan campaign's audiences only once Loopwise wrote them)."""
    if isinstance(camp, Clone):
        return rec.render_clone(world, camp)
    return rec.render_campaign(world, camp, with_audiences=False)


def _campaign_matches(campaign: dict[str, Any], cond: Condition) -> bool:
    """Whether one rendered campaign meets one condition (ValueError: the condition is malformed)."""
    attrs = campaign["attributes"]
    if cond.field == "messages.channel":
        return cond.value == "email"  # the sandbox's campaigns are all email
    if cond.op in COMPARISONS:
        stamp = attrs.get("send_time" if cond.field == "scheduled_at" else cond.field)
        return stamp is not None and bool(cond.mask(np.array([parse_datetime(stamp)]))[0])
    if cond.field == "name":
        return cond.value in attrs["name"]
    if cond.field == "status":
        return attrs["status"] in ([cond.value] if cond.op == "equals" else listed(cond.value))
    if cond.field == "archived":
        return str(attrs["archived"]).lower() == cond.value.lower()
    return campaign["id"] in listed(cond.value)


def _iso(value: Any) -> bool:
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
