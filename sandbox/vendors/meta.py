"""Meta Marketing API imitation: ad insights (daily, per ad), ads, budget writes."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any
from urllib.parse import parse_qs

import numpy as np

from sandbox.mess import BAD_NUMBER, UNEXPECTED_FIELDS
from sandbox.util import DAY, day_start_ts, decode_cursor, encode_cursor, iso_utc
from sandbox.vendors.base import Request, Response
from sandbox.vendors.klaviyo_records import UNEXPECTED_VALUES
from sandbox.world.core import World, WriteError

INSIGHT_FIELDS = (
    "account_id",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "spend",
    "impressions",
    "clicks",
    "account_currency",
    "actions",
    "action_values",
)
AD_FIELDS = (
    "id",
    "name",
    "adset_id",
    "campaign_id",
    "status",
    "effective_status",
    "daily_budget",
    "created_time",
    "updated_time",
)
PURCHASE = "offsite_conversion.fb_pixel_purchase"
PRESETS = {
    "yesterday": 1,
    "last_3d": 3,
    "last_7d": 7,
    "last_14d": 14,
    "last_28d": 28,
    "last_30d": 30,
    "last_90d": 90,
    "maximum": 10_000,
}


def error(
    status: int, message: str, code: int, req: Request, kind: str = "OAuthException", **extra: Any
) -> Response:
    return Response(
        status,
        {
            "error": {
                "message": message,
                "type": kind,
                "code": code,
                "fbtrace_id": req.trace_id("meta"),
                **extra,
            }
        },
    )


def param_error(req: Request, message: str) -> Response:
    return error(400, f"(#100) {message}", 100, req)


class MetaApi:
    vendor = "meta"

    def __init__(self, world: World) -> None:
        self.world = world

    def auth_error(self, req: Request) -> Response | None:
        token = req.param("access_token") or req.header("authorization").removeprefix("Bearer ").strip()
        if token != self.world.spec.api_keys["meta"]:
            return error(401, "Invalid OAuth access token - Cannot parse access token", 190, req)
        return None

    def handle(self, req: Request) -> Response:
        acct = self.world.spec.meta_account_id
        m = re.fullmatch(r"/v\d+\.\d+/act_(\d+)/(insights|ads)/?", req.path)
        if m and req.method == "GET":
            if m.group(1) != acct:
                return error(
                    400,
                    f"(#100) Unsupported get request. Object with ID 'act_{m.group(1)}' does not exist",
                    100,
                    req,
                    error_subcode=33,
                )
            return self.insights(req) if m.group(2) == "insights" else self.list_ads(req)
        m = re.fullmatch(r"/v\d+\.\d+/(\d+)/?", req.path)
        if m and req.method == "POST":
            return self.update_ad(req, m.group(1))
        return error(400, f"Unknown path components: {req.path}", 2500, req)

    def _limit(self, req: Request, default: int, maximum: int) -> int:
        raw = req.param("limit")
        limit = int(raw) if raw and raw.isdigit() else default
        if not 1 <= limit <= maximum:
            raise ValueError(f"limit must be between 1 and {maximum}")
        return limit

    def _paging(self, req: Request, start: int, end: int, total: int) -> dict[str, Any]:
        paging: dict[str, Any] = {
            "cursors": {"before": encode_cursor(start), "after": encode_cursor(max(start, end - 1) + 1)}
        }
        if end < total:
            paging["next"] = req.url_with(after=encode_cursor(end))
        return paging

    def _fields(self, req: Request, allowed: tuple[str, ...]) -> list[str]:
        raw = req.param("fields")
        fields = [f.strip() for f in raw.split(",") if f.strip()] if raw else list(allowed)
        unknown = [f for f in fields if f not in allowed and f not in ("date_start", "date_stop")]
        if unknown:
            raise ValueError(f"Tried accessing nonexisting field ({unknown[0]})")
        return fields

    def _day_range(self, req: Request) -> tuple[int, int]:
        w = self.world
        raw = req.param("time_range")
        if raw:
            rng = json.loads(raw)
            since = w.day_of(_date_ts(rng["since"]))
            until = w.day_of(_date_ts(rng["until"]))
            if until < since:
                raise ValueError("time_range until must not be before since")
            return since, until
        preset = req.param("date_preset") or "last_30d"
        if preset not in PRESETS:
            raise ValueError(f"date_preset must be one of {sorted(PRESETS)}")
        return w.clock_day - PRESETS[preset], w.clock_day - 1

    def insights(self, req: Request) -> Response:
        w = self.world
        try:
            if (req.param("level") or "ad") != "ad" or (req.param("time_increment") or "1") != "1":
                raise ValueError("the sandbox serves level=ad with time_increment=1")
            limit = self._limit(req, 25, 500)
            fields = self._fields(req, INSIGHT_FIELDS)
            d0, d1 = self._day_range(req)
            start = decode_cursor(req.param("after"), 1)[0] if req.param("after") else 0
        except (ValueError, KeyError, TypeError) as exc:
            return param_error(req, str(exc))
        with w.lock:
            rows = w.ad_rows("meta", d0, d1)
            keyed = np.array([(w.ads.by_platform["meta"][p].idx << 32) | d for d, p in rows], dtype=np.uint64)
            dup = [rows[i] for i in np.nonzero(w.mess.duplicated(keyed, "meta", "insights"))[0]]
            rows = rows + dup  # duplicates re-served at the end
            page = rows[start : start + limit]
            data = [self._insight(d, p, fields) for d, p in page]
        return Response(200, {"data": data, "paging": self._paging(req, start, start + len(page), len(rows))})

    def _insight(self, day: int, pos: int, fields: list[str]) -> dict[str, Any]:
        w = self.world
        ad = w.ads.by_platform["meta"][pos]
        delivery = w.ad_day("meta", day)
        conv, value = delivery.visible(w.clock_day - day)
        date = iso_utc(w.start_ts + day * DAY)[:10]
        actions = [{"action_type": "link_click", "value": str(int(delivery.link_clicks[pos]))}]
        values = []
        if conv[pos] > 0:
            actions.append({"action_type": PURCHASE, "value": str(int(conv[pos]))})
            values.append({"action_type": PURCHASE, "value": f"{value[pos]:.2f}"})
        full: dict[str, Any] = {
            "account_id": w.spec.meta_account_id,
            "campaign_id": ad.campaign_id,
            "campaign_name": ad.campaign_name,
            "adset_id": ad.group_id,
            "adset_name": ad.group_name,
            "ad_id": ad.ad_id,
            "ad_name": ad.name,
            "spend": f"{delivery.spend[pos]:.2f}",
            "impressions": str(int(delivery.impressions[pos])),
            "clicks": str(int(delivery.clicks[pos])),
            "account_currency": "USD",
            "actions": actions,
            "action_values": values,
        }
        key = np.array([(ad.idx << 32) | day], dtype=np.uint64)
        kind = int(w.mess.malformed(key, "meta", "insights")[0])
        if kind == 0:
            full["spend"] = f"-{delivery.spend[pos]:.2f}"
        elif kind == 1:
            full["impressions"] = BAD_NUMBER
        out = {f: full[f] for f in fields if f in full}
        if "action_values" in out and not out["action_values"]:
            del out["action_values"]  # Meta omits empty action lists
        out.update(date_start=date, date_stop=date)
        extra = int(w.mess.unexpected(key, "meta", "insights")[0])
        if extra >= 0:
            name = UNEXPECTED_FIELDS[("meta", "insights")][extra]
            out[name] = UNEXPECTED_VALUES[name]
        return out

    def list_ads(self, req: Request) -> Response:
        w = self.world
        try:
            limit = self._limit(req, 25, 500)
            fields = self._fields(req, AD_FIELDS)
            start = decode_cursor(req.param("after"), 1)[0] if req.param("after") else 0
        except (ValueError, TypeError) as exc:
            return param_error(req, str(exc))
        with w.lock:
            ads = w.ads.by_platform["meta"]
            budgets = w.ad_budgets("meta", w.clock_day)
            data = []
            for pos in range(start, min(start + limit, len(ads))):
                ad = ads[pos]
                status = "ACTIVE" if budgets[pos] > 0 else "PAUSED"
                full = {
                    "id": ad.ad_id,
                    "name": ad.name,
                    "adset_id": ad.group_id,
                    "campaign_id": ad.campaign_id,
                    "status": status,
                    "effective_status": status,
                    "daily_budget": str(int(round(budgets[pos] * 100))),
                    "created_time": _meta_time(w.start_ts + min(ad.launch_day, 0) * DAY - 7 * DAY),
                    "updated_time": _meta_time(w.ad_updated_ts("meta", ad.ad_id)),
                }
                data.append({f: full[f] for f in ["id", *fields] if f in full})
        end = min(start + limit, len(ads))
        return Response(200, {"data": data, "paging": self._paging(req, start, end, len(ads))})

    def update_ad(self, req: Request, ad_id: str) -> Response:
        params = {k: v[-1] for k, v in req.query.items()}
        if req.body:
            ctype = req.header("content-type")
            try:
                params.update(
                    req.json()
                    if "json" in ctype
                    else {k: v[-1] for k, v in parse_qs(req.body.decode()).items()}
                )
            except ValueError:
                return param_error(req, "could not parse the request body")
        raw = params.get("daily_budget")
        if raw is None or not str(raw).isdigit():
            return param_error(req, "Param daily_budget must be a positive integer (minor units)")
        try:
            self.world.set_ad_budget("meta", ad_id, int(raw) / 100.0)
        except WriteError as exc:
            return error(400, f"(#100) {exc}", 100, req, error_subcode=33)
        return Response(200, {"success": True})


def _date_ts(value: str) -> int:
    return day_start_ts(date.fromisoformat(value))


def _meta_time(ts: int) -> str:
    return iso_utc(ts).replace("+00:00", "+0000")
