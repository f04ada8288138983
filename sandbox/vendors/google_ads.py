"""Google Ads API imitation: googleAds:searchStream over ad_group_ad (GAQL) and adGroupAds:mutate."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import numpy as np

from sandbox.util import DAY, day_start_ts, iso_utc
from sandbox.vendors.base import Request, Response
from sandbox.world.core import World, WriteError

BATCH_ROWS = 10_000
FIELDS = (
    "customer.id",
    "customer.currency_code",
    "customer.descriptive_name",
    "campaign.id",
    "campaign.name",
    "campaign.status",
    "campaign.resource_name",
    "ad_group.id",
    "ad_group.name",
    "ad_group.status",
    "ad_group.resource_name",
    "ad_group_ad.status",
    "ad_group_ad.resource_name",
    "ad_group_ad.ad.id",
    "ad_group_ad.ad.name",
    "ad_group_ad.ad.resource_name",
    "metrics.cost_micros",
    "metrics.clicks",
    "metrics.impressions",
    "metrics.conversions",
    "metrics.conversions_value",
    "segments.date",
)
DURING = {"YESTERDAY": 1, "LAST_7_DAYS": 7, "LAST_14_DAYS": 14, "LAST_30_DAYS": 30, "LAST_90_DAYS": 90}


def error(
    status: int,
    code: int,
    message: str,
    grpc_status: str,
    req: Request,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {
        "error": {
            "code": code,
            "message": message,
            "status": grpc_status,
            "details": [
                {
                    "@type": "type.googleapis.com/google.ads.googleads.v17.errors.GoogleAdsFailure",
                    "requestId": req.trace_id("google"),
                }
            ],
        }
    }
    return Response(status, body, headers or {})


def invalid(req: Request, message: str) -> Response:
    return error(400, 400, f"Request contains an invalid argument. {message}", "INVALID_ARGUMENT", req)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


class GoogleAdsApi:
    vendor = "google_ads"

    def __init__(self, world: World) -> None:
        self.world = world

    def auth_error(self, req: Request) -> Response | None:
        if req.header("authorization") != f"Bearer {self.world.spec.api_keys['google_ads']}":
            return error(
                401, 401, "Request is missing required authentication credential.", "UNAUTHENTICATED", req
            )
        if not req.header("developer-token"):
            return error(
                401,
                401,
                "The developer token is not valid (missing developer-token header).",
                "UNAUTHENTICATED",
                req,
            )
        return None

    def handle(self, req: Request) -> Response:
        m = re.fullmatch(r"/v\d+/customers/(\d+)/(googleAds:searchStream|adGroupAds:mutate)/?", req.path)
        if not m or req.method != "POST":
            return error(404, 404, f"Method not found: {req.method} {req.path}", "NOT_FOUND", req)
        if m.group(1) != self.world.spec.google_customer_id:
            return error(403, 403, "The caller does not have permission", "PERMISSION_DENIED", req)
        return self.search_stream(req) if m.group(2).startswith("googleAds") else self.mutate(req)

    def _parse(self, query: str) -> tuple[list[str], int, int, str | None]:
        m = re.fullmatch(
            r"\s*SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(.+?))?(?:\s+ORDER\s+BY\s+.+?)?"
            r"(?:\s+LIMIT\s+\d+)?\s*;?\s*",
            query,
            re.S | re.I,
        )
        if not m:
            raise ValueError("Error in query: unexpected input.")
        fields = [f.strip() for f in m.group(1).split(",")]
        if m.group(2) != "ad_group_ad":
            raise ValueError(f"The sandbox serves FROM ad_group_ad, not {m.group(2)}.")
        unknown = [f for f in fields if f not in FIELDS]
        if unknown:
            raise ValueError(f"Unrecognized field in the query: '{unknown[0]}'.")
        w = self.world
        lo, hi, status, has_date = -10_000, w.clock_day - 1, None, False
        where = re.sub(
            r"BETWEEN\s+'([\d-]+)'\s+AND\s+'([\d-]+)'",
            r"BETWEEN '\1' TO '\2'",
            (m.group(3) or "").replace('"', "'"),
            flags=re.I,
        )
        for cond in re.split(r"\s+AND\s+", where, flags=re.I):
            cond = cond.strip()
            if not cond:
                continue
            if b := re.fullmatch(r"segments\.date\s+BETWEEN\s+'([\d-]+)'\s+TO\s+'([\d-]+)'", cond, re.I):
                lo, hi, has_date = max(lo, self._day(b.group(1))), min(hi, self._day(b.group(2))), True
            elif c := re.fullmatch(r"segments\.date\s*(>=|<=|>|<|=)\s*'([\d-]+)'", cond, re.I):
                d = self._day(c.group(2))
                op = c.group(1)
                if op in (">=", ">", "="):
                    lo = max(lo, d + (op == ">"))
                if op in ("<=", "<", "="):
                    hi = min(hi, d - (op == "<"))
                has_date = True
            elif dd := re.fullmatch(r"segments\.date\s+DURING\s+(\w+)", cond, re.I):
                if dd.group(1).upper() not in DURING:
                    raise ValueError(f"Unsupported DURING range {dd.group(1)}.")
                lo, hi, has_date = (
                    max(lo, w.clock_day - DURING[dd.group(1).upper()]),
                    min(hi, w.clock_day - 1),
                    True,
                )
            elif s := re.fullmatch(r"ad_group_ad\.status\s*(=|!=)\s*'?(\w+)'?", cond, re.I):
                status = ("" if s.group(1) == "=" else "!") + s.group(2).upper()
            else:
                raise ValueError(f"Unsupported condition in WHERE clause: {cond}")
        if "segments.date" in fields and not has_date:
            raise ValueError("The filtering condition on segments.date must be finite (add a date range).")
        return fields, lo, hi, status

    def _day(self, text: str) -> int:
        return self.world.day_of(day_start_ts(date.fromisoformat(text)))

    def search_stream(self, req: Request) -> Response:
        try:
            query = (req.json() or {})["query"]
            fields, lo, hi, status = self._parse(query)
        except (ValueError, KeyError, TypeError) as exc:
            return invalid(req, str(exc))
        w = self.world
        with w.lock:
            rows = w.ad_rows("google_ads", lo, hi)
            budgets = w.ad_budgets("google_ads", w.clock_day)
            results = []
            for day, pos in rows:
                ad_status = "ENABLED" if budgets[pos] > 0 else "PAUSED"
                if status and (
                    status != ad_status if not status.startswith("!") else status[1:] == ad_status
                ):
                    continue
                results.append(self._row(day, pos, fields, ad_status))
        mask = ",".join(".".join(_camel(p) for p in f.split(".")) for f in fields)
        batches = [
            {"results": results[i : i + BATCH_ROWS], "fieldMask": mask, "requestId": req.trace_id(str(i))}
            for i in range(0, max(1, len(results)), BATCH_ROWS)
        ]
        return Response(200, batches)

    def _row(self, day: int, pos: int, fields: list[str], ad_status: str) -> dict[str, Any]:
        w = self.world
        cid = w.spec.google_customer_id
        ad = w.ads.by_platform["google_ads"][pos]
        delivery = w.ad_day("google_ads", day)
        conv, value = delivery.visible(w.clock_day - day)
        cost = str(int(round(delivery.spend[pos] * 1_000_000)))
        key = np.array([(ad.idx << 32) | day], dtype=np.uint64)
        if int(w.mess.malformed(key, "google_ads", "ad_group_ad")[0]) >= 0:
            cost = "-" + cost
        values: dict[str, Any] = {
            "customer.id": cid,
            "customer.currency_code": "USD",
            "customer.descriptive_name": "Loopwise Sandbox",
            "campaign.id": ad.campaign_id,
            "campaign.name": ad.campaign_name,
            "campaign.status": "ENABLED",
            "ad_group.id": ad.group_id,
            "ad_group.name": ad.group_name,
            "ad_group.status": "ENABLED",
            "ad_group_ad.status": ad_status,
            "ad_group_ad.ad.id": ad.ad_id,
            "ad_group_ad.ad.name": ad.name,
            "metrics.cost_micros": cost,
            "metrics.clicks": str(int(delivery.clicks[pos])),
            "metrics.impressions": str(int(delivery.impressions[pos])),
            "metrics.conversions": float(conv[pos]),
            "metrics.conversions_value": float(value[pos]),
            "segments.date": iso_utc(w.start_ts + day * DAY)[:10],
        }
        names = {
            "customer": f"customers/{cid}",
            "campaign": f"customers/{cid}/campaigns/{ad.campaign_id}",
            "ad_group": f"customers/{cid}/adGroups/{ad.group_id}",
            "ad_group_ad": f"customers/{cid}/adGroupAds/{ad.group_id}~{ad.ad_id}",
            "ad_group_ad.ad": f"customers/{cid}/ads/{ad.ad_id}",
        }
        row: dict[str, Any] = {}
        for f in fields:
            parts = f.split(".")
            node = row
            for depth, part in enumerate(parts[:-1]):
                node = node.setdefault(_camel(part), {})
                resource = ".".join(parts[: depth + 1])
                if resource in names and parts[0] != "metrics":
                    node["resourceName"] = names[resource]
            if parts[-1] != "resource_name":
                node[_camel(parts[-1])] = values[f]
        return row

    def mutate(self, req: Request) -> Response:
        cid = self.world.spec.google_customer_id
        try:
            operations = (req.json() or {})["operations"]
            updates = []
            for op in operations:
                upd = op["update"]
                m = re.fullmatch(rf"customers/{cid}/adGroupAds/(\d+)~(\d+)", upd["resourceName"])
                if not m:
                    raise ValueError(f"Resource name '{upd['resourceName']}' is malformed.")
                updates.append((upd["resourceName"], m.group(2), int(upd["dailyBudgetMicros"])))
        except (ValueError, KeyError, TypeError) as exc:
            return invalid(req, str(exc))
        results = []
        for name, ad_id, micros in updates:
            try:
                self.world.set_ad_budget("google_ads", ad_id, micros / 1_000_000)
            except WriteError as exc:
                return error(404, 404, f"Resource was not found. {exc}", "NOT_FOUND", req)
            results.append({"resourceName": name})
        return Response(200, {"results": results})
