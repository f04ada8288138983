"""HubSpot CRM v3/v4 imitation: contacts, deals, search, pipelines, associations."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from sandbox.mess import BAD_NUMBER, BAD_TIMESTAMP
from sandbox.util import NEVER, hash01_int, iso_z_ms, parse_datetime, salt
from sandbox.vendors.base import Request, Response
from sandbox.world.contacts import DOMAINS, FIRST_NAMES, LAST_NAMES
from sandbox.world.core import World
from sandbox.world.crm import DEAL_PROBABILITY, DEAL_STAGE_LABELS, DEAL_STAGES, LIFECYCLE, SOURCES

DEFAULT_PROPS = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
    "deals": [
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ],
}
MODIFIED = {"contacts": "lastmodifieddate", "deals": "hs_lastmodifieddate"}
OPS = {"GTE": np.greater_equal, "GT": np.greater, "LTE": np.less_equal, "LT": np.less, "EQ": np.equal}
COMPANIES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
)


def error(status: int, message: str, category: str, req: Request, **extra: Any) -> Response:
    body = {
        "status": "error",
        "message": message,
        "correlationId": req.trace_id("hubspot"),
        "category": category,
        **extra,
    }
    return Response(status, body)


class HubSpotApi:
    vendor = "hubspot"

    def __init__(self, world: World) -> None:
        self.world = world
        self._last_search: dict[str, tuple[Any, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self._mess: dict[tuple[str, str], list[int]] = {}

    def _mess_of(self, obj: str, kind: str) -> list[int]:
        """``Mess.malformed`` or ``Mess.unexpected`` (``kind``) of every record of ``obj`` (the world's
        CRM is built once), computed once: asked record by record, they were 40 % of serving the
        large world's CRM."""
        flags = self._mess.get((obj, kind))
        if flags is None:
            ids = self.world.crm.contact_ids if obj == "contacts" else self.world.crm.deal_ids
            flags = self._mess[(obj, kind)] = getattr(self.world.mess, kind)(ids, "hubspot", obj).tolist()
        return flags

    def auth_error(self, req: Request) -> Response | None:
        if req.header("authorization") != f"Bearer {self.world.spec.api_keys['hubspot']}":
            return error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
                "INVALID_AUTHENTICATION",
                req,
            )
        return None

    def handle(self, req: Request) -> Response:
        m = re.fullmatch(r"/crm/v3/objects/(contacts|deals)/?", req.path)
        if m and req.method == "GET":
            return self.list_objects(req, m.group(1))
        m = re.fullmatch(r"/crm/v3/objects/(contacts|deals)/search/?", req.path)
        if m and req.method == "POST":
            return self.search(req, m.group(1))
        if re.fullmatch(r"/crm/v3/pipelines/deals/?", req.path) and req.method == "GET":
            return self.pipelines(req)
        if (
            re.fullmatch(r"/crm/v4/associations/deals/contacts/batch/read/?", req.path)
            and req.method == "POST"
        ):
            return self.associations(req)
        return error(404, f"Unable to find a resource for {req.method} {req.path}", "OBJECT_NOT_FOUND", req)

    # ---- records -----------------------------------------------------------------------------
    def _visible(self, obj: str) -> np.ndarray:
        crm, clock = self.world.crm, self.world.clock_ts
        created = crm.created_ts if obj == "contacts" else crm.deal_created_ts
        return np.nonzero(created <= clock)[0]

    def _modified(self, obj: str) -> np.ndarray:
        crm, clock = self.world.crm, self.world.clock_ts
        return crm.contact_modified(clock) if obj == "contacts" else crm.deal_modified(clock)

    def _record(self, obj: str, row: int, wanted: list[str], modified: int) -> dict[str, Any]:
        props = self._contact_props(row, modified) if obj == "contacts" else self._deal_props(row, modified)
        out_props = {p: props.get(p) for p in dict.fromkeys([*DEFAULT_PROPS[obj], *wanted])}
        crm = self.world.crm
        created = crm.created_ts[row] if obj == "contacts" else crm.deal_created_ts[row]
        record: dict[str, Any] = {
            "id": props["hs_object_id"],
            "properties": out_props,
            "createdAt": iso_z_ms(created),
            "updatedAt": iso_z_ms(modified),
            "archived": False,
        }
        if self._mess_of(obj, "unexpected")[row] >= 0:
            record["url"] = f"https://app.hubspot.com/contacts/0/record/{props['hs_object_id']}"
        return record

    def _contact_props(self, row: int, modified: int) -> dict[str, Any]:
        w = self.world
        crm, clock = w.crm, w.clock_ts
        esp = int(crm.esp_index[row])
        hs_id = int(crm.contact_ids[row])
        if esp >= 0:
            email = w.contacts.messy_email(esp, "hubspot", w.spec.seed)
            first, last = FIRST_NAMES[w.contacts.first_name[esp]], LAST_NAMES[w.contacts.last_name[esp]]
        else:
            u = hash01_int(hs_id, salt(w.spec.seed, "crm-name"))
            first, last = (
                FIRST_NAMES[int(u * 997) % len(FIRST_NAMES)],
                LAST_NAMES[int(u * 7919) % len(LAST_NAMES)],
            )
            email = f"{first}.{last}.crm{row}@{DOMAINS[row % len(DOMAINS)]}"
        if self._mess_of("contacts", "malformed")[row] >= 0:
            email = email.replace("@", "")
        stages = crm.stage_ts[row]
        reached = [j for j in range(len(LIFECYCLE)) if stages[j] <= clock]
        props: dict[str, Any] = {
            "hs_object_id": str(hs_id),
            "email": email,
            "firstname": first.title(),
            "lastname": last.title(),
            "lifecyclestage": LIFECYCLE[max(reached)] if reached else "subscriber",
            "createdate": iso_z_ms(crm.created_ts[row]),
            "lastmodifieddate": iso_z_ms(modified),
            "hs_analytics_source": SOURCES[crm.source[row]],
        }
        for j, stage in enumerate(LIFECYCLE):
            props[f"hs_lifecyclestage_{stage}_date"] = iso_z_ms(stages[j]) if stages[j] <= clock else None
        return props

    def _deal_props(self, row: int, modified: int) -> dict[str, Any]:
        w = self.world
        crm, clock = w.crm, w.clock_ts
        stages = crm.deal_stage_ts[row]
        entered = [j for j in range(len(DEAL_STAGES)) if stages[j] <= clock]
        current = max(entered, key=lambda j: (stages[j], j))
        closed = current >= 3
        deal_id = int(crm.deal_ids[row])
        contact = int(crm.deal_contact[row])
        company = COMPANIES[contact % len(COMPANIES)]
        props: dict[str, Any] = {
            "hs_object_id": str(deal_id),
            "dealname": f"{company} - {['Starter', 'Team', 'Enterprise'][deal_id % 3]}",
            "amount": f"{crm.deal_amount[row]:.2f}",
            "dealstage": DEAL_STAGES[current],
            "pipeline": "default",
            "createdate": iso_z_ms(crm.deal_created_ts[row]),
            "closedate": iso_z_ms(stages[current]) if closed else None,
            "hs_lastmodifieddate": iso_z_ms(modified),
            "hs_analytics_source": SOURCES[crm.deal_source[row]],
        }
        for j, stage in enumerate(DEAL_STAGES):
            props[f"hs_date_entered_{stage}"] = (
                iso_z_ms(stages[j]) if stages[j] < NEVER and stages[j] <= clock else None
            )
        kind = self._mess_of("deals", "malformed")[row]
        if kind == 0:
            props["amount"] = BAD_NUMBER
        elif kind == 1:
            props["createdate"] = BAD_TIMESTAMP
        return props

    # ---- endpoints ---------------------------------------------------------------------------
    def list_objects(self, req: Request, obj: str) -> Response:
        try:
            limit = int(req.param("limit") or 10)
            after = int(req.param("after") or 0)
        except ValueError:
            return error(400, "limit and after must be integers", "VALIDATION_ERROR", req)
        if not 1 <= limit <= 100:
            return error(400, "limit must be between 1 and 100", "VALIDATION_ERROR", req)
        wanted = [p for p in (req.param("properties") or "").split(",") if p]
        with self.world.lock:
            rows = self._visible(obj)
            modified = self._modified(obj)
            page = rows[after : after + limit]
            results = [self._record(obj, int(r), wanted, int(modified[r])) for r in page]
        body: dict[str, Any] = {"results": results}
        if after + limit < len(rows):
            nxt = str(after + limit)
            body["paging"] = {"next": {"after": nxt, "link": req.url_with(after=nxt)}}
        return Response(200, body)

    def search(self, req: Request, obj: str) -> Response:
        try:
            body = req.json() or {}
            limit = int(body.get("limit", 10))
            after = int(body.get("after") or 0)
            groups = body.get("filterGroups") or []
            sorts = body.get("sorts") or []
            wanted = list(body.get("properties") or [])
        except (ValueError, TypeError, AttributeError):
            return error(400, "Invalid input JSON", "VALIDATION_ERROR", req)
        if not 1 <= limit <= 200:
            return error(400, "limit must be between 1 and 200", "VALIDATION_ERROR", req)
        if after + limit > self.world.spec.hubspot_search_cap:
            cap = self.world.spec.hubspot_search_cap
            return error(
                400,
                f"Paging beyond {cap} results is not supported; narrow the filter instead.",
                "VALIDATION_ERROR",
                req,
            )
        with self.world.lock:
            try:
                rows, modified, order = self._search_order(obj, groups, sorts)
            except (ValueError, KeyError, TypeError) as exc:
                return error(400, f"Invalid search request: {exc}", "VALIDATION_ERROR", req)
            page = order[after : after + limit]
            results = [self._record(obj, int(rows[i]), wanted, int(modified[rows[i]])) for i in page]
        out: dict[str, Any] = {"total": int(len(order)), "results": results}
        if after + limit < len(order):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return Response(200, out)

    def _search_order(
        self, obj: str, groups: list[dict[str, Any]], sorts: list[dict[str, Any]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The visible rows, their modification times and the matches' order for one query.

        The last query per object type is kept until the clock moves: a client pages through one
        query, and filtering and sorting every record again for each page of 200 was most of the
        sandbox's time serving a large world's contacts. The CRM depends on the clock alone.
        """
        key = (self.world.clock_ts, json.dumps(groups, sort_keys=True), json.dumps(sorts, sort_keys=True))
        kept = self._last_search.get(obj)
        if kept is not None and kept[0] == key:
            return kept[1]
        crm = self.world.crm
        rows = self._visible(obj)
        modified = self._modified(obj)
        created = crm.created_ts if obj == "contacts" else crm.deal_created_ts
        values = {
            MODIFIED[obj]: modified[rows] * 1000,
            "createdate": created[rows] * 1000,
            "hs_object_id": (crm.contact_ids if obj == "contacts" else crm.deal_ids)[rows],
        }
        mask = self._filter_mask(groups, values, len(rows))
        answer = rows, modified, self._sort(sorts, values, mask)
        self._last_search[obj] = (key, answer)
        return answer

    @staticmethod
    def _filter_mask(groups: list[dict[str, Any]], values: dict[str, np.ndarray], n: int) -> np.ndarray:
        if not groups:
            return np.ones(n, dtype=bool)
        mask = np.zeros(n, dtype=bool)
        for group in groups:
            gm = np.ones(n, dtype=bool)
            for f in group.get("filters", []):
                prop, op, raw = f["propertyName"], f["operator"], str(f["value"])
                if prop not in values or op not in OPS:
                    raise ValueError(f"unsupported filter {prop} {op}")
                value = int(raw) if raw.lstrip("-").isdigit() else int(parse_datetime(raw) * 1000)
                gm &= OPS[op](values[prop], value)
            mask |= gm
        return mask

    @staticmethod
    def _sort(sorts: list[dict[str, Any]], values: dict[str, np.ndarray], mask: np.ndarray) -> np.ndarray:
        idx = np.nonzero(mask)[0]
        ids = values["hs_object_id"][idx]
        if not sorts:
            return idx[np.argsort(ids, kind="stable")]
        prop = sorts[0]["propertyName"]
        if prop not in values:
            raise ValueError(f"cannot sort by {prop}")
        order = np.lexsort((ids, values[prop][idx]))
        if str(sorts[0].get("direction", "ASCENDING")).upper().startswith("DESC"):
            order = np.lexsort((-ids, -values[prop][idx]))
        return idx[order]

    def pipelines(self, req: Request) -> Response:
        stages = [
            {
                "id": sid,
                "label": label,
                "displayOrder": j,
                "archived": False,
                "metadata": {"isClosed": "true" if j >= 3 else "false", "probability": DEAL_PROBABILITY[j]},
            }
            for j, (sid, label) in enumerate(zip(DEAL_STAGES, DEAL_STAGE_LABELS, strict=True))
        ]
        created = iso_z_ms(self.world.start_ts - 500 * 86400)
        return Response(
            200,
            {
                "results": [
                    {
                        "id": "default",
                        "label": "Sales Pipeline",
                        "displayOrder": 0,
                        "archived": False,
                        "stages": stages,
                        "createdAt": created,
                        "updatedAt": created,
                    }
                ]
            },
        )

    def associations(self, req: Request) -> Response:
        try:
            inputs = [str(i["id"]) for i in (req.json() or {})["inputs"]]
        except (ValueError, KeyError, TypeError):
            return error(400, "Invalid input JSON: expected {inputs:[{id}]}", "VALIDATION_ERROR", req)
        if len(inputs) > 1000:
            return error(400, "Batch size is limited to 1000 inputs", "VALIDATION_ERROR", req)
        with self.world.lock:
            crm = self.world.crm
            by_id = {
                str(int(d)): j
                for j, d in enumerate(crm.deal_ids)
                if crm.deal_created_ts[j] <= self.world.clock_ts
            }
            results = []
            for deal_id in inputs:
                j = by_id.get(deal_id)
                if j is None:
                    continue
                contact = int(crm.contact_ids[crm.deal_contact[j]])
                results.append(
                    {
                        "from": {"id": deal_id},
                        "to": [
                            {
                                "toObjectId": contact,
                                "associationTypes": [
                                    {"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}
                                ],
                            }
                        ],
                    }
                )
        return Response(
            200,
            {
                "status": "COMPLETE",
                "results": results,
                "startedAt": iso_z_ms(self.world.clock_ts),
                "completedAt": iso_z_ms(self.world.clock_ts),
            },
        )
