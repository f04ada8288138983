"""Meta Marketing API imitation (v24.0+): ad insights (daily, per ad), ads, ad sets, campaigns, budget writes.

Insights come synchronously (``GET /act_<id>/insights``) or from an asynchronous report job, as
Meta recommends for long ranges: ``POST /act_<id>/insights`` answers ``{"report_run_id"}``,
``GET /<report_run_id>`` reports ``async_status`` and ``async_percent_completion`` (a job
completes on its second status read, or ends "Job Failed" for the share
``FaultConfig.meta_report_job_failure_rate``), and ``GET /<report_run_id>/insights`` pages the
rows once it completed.

Budgets live where Meta keeps them: on ad sets, or on the campaign under campaign budget
optimisation (CBO). Money is in minor units by Meta's currency offset. An ad has no budget:
asking the ads list for ``daily_budget`` is the error Meta gives for a field the node lacks.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import replace
from datetime import date
from typing import Any
from urllib.parse import parse_qs

import numpy as np

from sandbox.mess import BAD_NUMBER, UNEXPECTED_FIELDS
from sandbox.util import DAY, day_start_ts, decode_cursor, encode_cursor, iso_utc, mix_int, salt
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
    "created_time",
    "updated_time",
)
ADSET_FIELDS = ("id", "name", "campaign_id", "daily_budget", "status")
CAMPAIGN_FIELDS = ("id", "name", "daily_budget", "status")
ACCOUNT_FIELDS = ("id", "account_id", "currency")
NODE_TYPES = {
    INSIGHT_FIELDS: "AdsInsights",
    AD_FIELDS: "Ad",
    ADSET_FIELDS: "AdSet",
    CAMPAIGN_FIELDS: "Campaign",
    ACCOUNT_FIELDS: "AdAccount",
}
OLDEST_VERSION = 24  # Meta < v24.0 is retired
CURRENT_VERSION = "v27.0"
OFFSET_ONE_CURRENCIES = frozenset(
    {"CLP", "COP", "CRC", "HUF", "ISK", "IDR", "JPY", "KRW", "PYG", "TWD", "VND"}
)
BUDGET_CHANGES_PER_DAY = 4  # Meta: 4 budget changes per ad set per hour; the world clock moves by days
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


def _post_params(req: Request) -> dict[str, Any] | None:
    """A POST's parameters: the query string, then a JSON or form body; None if the body is unreadable."""
    params: dict[str, Any] = {k: v[-1] for k, v in req.query.items()}
    if req.body:
        try:
            params.update(
                req.json()
                if "json" in req.header("content-type")
                else {k: v[-1] for k, v in parse_qs(req.body.decode()).items()}
            )
        except ValueError:
            return None
    return params


REPORT_JOB_STATUS_READS = 2  # a report job completes on this status read
REPORT_RUN_ID_BASE = 6_024_000_000_000_000  # Meta's report run ids are large decimal numbers


class MetaApi:
    vendor = "meta"

    def __init__(self, world: World, report_job_failure_rate: float = 0.0) -> None:
        self.world = world
        self.report_job_failure_rate = report_job_failure_rate
        self._jobs: dict[str, dict[str, Any]] = {}
        self._jobs_lock = threading.Lock()

    def auth_error(self, req: Request) -> Response | None:
        token = req.param("access_token") or req.header("authorization").removeprefix("Bearer ").strip()
        if token != self.world.spec.api_keys["meta"]:
            return error(401, "Invalid OAuth access token - Cannot parse access token", 190, req)
        return None

    def handle(self, req: Request) -> Response:
        acct = self.world.spec.meta_account_id
        version = re.match(r"/v(\d+)\.\d+/", req.path)
        if version and int(version.group(1)) < OLDEST_VERSION:
            return error(
                400,
                "(#2635) You are calling a deprecated version of the Ads API. "
                f"Please update to the latest version: {CURRENT_VERSION}.",
                2635,
                req,
            )
        m = re.fullmatch(r"/v\d+\.\d+/act_(\d+)(?:/(insights|ads|adsets|campaigns))?/?", req.path)
        if m and req.method == "POST" and m.group(2) == "insights" and m.group(1) == acct:
            return self.start_report_job(req)
        m_job = re.fullmatch(r"/v\d+\.\d+/(\d+)(/insights)?/?", req.path)
        if m_job and req.method == "GET" and m_job.group(1) in self._jobs:
            job_id = m_job.group(1)
            return (
                self.report_job_rows(req, job_id) if m_job.group(2) else self.report_job_status(req, job_id)
            )
        if m and req.method == "GET":
            if m.group(1) != acct:
                return error(
                    400,
                    f"(#100) Unsupported get request. Object with ID 'act_{m.group(1)}' does not exist",
                    100,
                    req,
                    error_subcode=33,
                )
            readers = {
                "": self.account,
                "insights": self.insights,
                "ads": self.list_ads,
                "adsets": self.list_adsets,
                "campaigns": self.list_campaigns,
            }
            return readers[m.group(2) or ""](req)
        m = re.fullmatch(r"/v\d+\.\d+/(\d+)/?", req.path)
        if m and req.method == "GET":
            return self.get_entity(req, m.group(1))
        if m and req.method == "POST":
            return self.update_budget(req, m.group(1))
        return error(400, f"Unknown path components: {req.path}", 2500, req)

    @property
    def offset(self) -> int:
        """Meta's currency offset: minor units per major unit."""
        return 1 if self.world.spec.currency in OFFSET_ONE_CURRENCIES else 100

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
            raise ValueError(
                f"Tried accessing nonexisting field ({unknown[0]}) on node type ({NODE_TYPES[allowed]})"
            )
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

    def start_report_job(self, req: Request) -> Response:
        """``POST /act_<id>/insights``: the query (in the URL or a form body) becomes a report job."""
        params = _post_params(req)
        if params is None:
            return param_error(req, "could not parse the request body")
        query = {k: [v] for k, v in params.items() if k not in ("access_token", "after", "limit")}
        checked = self.insights(replace(req, method="GET", query={**query, "limit": ["1"]}))
        if checked.status != 200:  # a bad query fails at submission, as Meta's does
            return checked
        with self._jobs_lock:
            job_id = str(REPORT_RUN_ID_BASE + len(self._jobs) + 1)
            failed = mix_int(salt("meta-report-job", job_id, self.world.spec.seed)) % 10_000 < (
                self.report_job_failure_rate * 10_000
            )
            self._jobs[job_id] = {"query": query, "status_reads": 0, "failed": failed}
        return Response(200, {"report_run_id": job_id})

    def report_job_status(self, req: Request, job_id: str) -> Response:
        with self._jobs_lock:
            job = self._jobs[job_id]
            job["status_reads"] += 1
            done = job["status_reads"] >= REPORT_JOB_STATUS_READS
        status = ("Job Failed" if job["failed"] else "Job Completed") if done else "Job Running"
        since, until = self._job_range(job)
        body = {
            "id": job_id,
            "account_id": self.world.spec.meta_account_id,
            "async_status": status,
            "async_percent_completion": 100 if done else 100 * job["status_reads"] // REPORT_JOB_STATUS_READS,
            "date_start": since,
            "date_stop": until,
            "is_running": not done,
        }
        return Response(200, body)

    def report_job_rows(self, req: Request, job_id: str) -> Response:
        job = self._jobs[job_id]
        if job["failed"] or job["status_reads"] < REPORT_JOB_STATUS_READS:
            return param_error(req, f"Report {job_id} is not complete: read its async_status first")
        paging = {k: v for k, v in req.query.items() if k in ("after", "limit")}
        return self.insights(replace(req, query={**job["query"], **paging}))

    def _job_range(self, job: dict[str, Any]) -> tuple[str, str]:
        raw = (job["query"].get("time_range") or ["{}"])[-1]
        rng = json.loads(raw) if raw.startswith("{") else {}
        return rng.get("since", ""), rng.get("until", "")

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
            "account_currency": w.spec.currency,
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
            budgets = w.ad_budgets("meta", w.clock_day)  # an ad whose share is 0 is paused
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
                    "created_time": _meta_time(w.start_ts + min(ad.launch_day, 0) * DAY - 7 * DAY),
                    "updated_time": _meta_time(w.ad_updated_ts("meta", ad.ad_id)),
                }
                data.append({f: full[f] for f in ["id", *fields] if f in full})
        end = min(start + limit, len(ads))
        return Response(200, {"data": data, "paging": self._paging(req, start, end, len(ads))})

    def account(self, req: Request) -> Response:
        try:
            fields = self._fields(req, ACCOUNT_FIELDS)
        except ValueError as exc:
            return param_error(req, str(exc))
        acct = self.world.spec.meta_account_id
        full = {"id": f"act_{acct}", "account_id": acct, "currency": self.world.spec.currency}
        return Response(200, {f: full[f] for f in ["id", *fields]})

    def list_adsets(self, req: Request) -> Response:
        w = self.world
        with w.lock:
            rows = [self._adset(adset) for adset in _adsets(w)]
        return self._entity_page(req, rows, ADSET_FIELDS)

    def list_campaigns(self, req: Request) -> Response:
        w = self.world
        with w.lock:
            rows = [
                self._campaign(cid) for cid in dict.fromkeys(a.campaign_id for a in w.ads.by_platform["meta"])
            ]
        return self._entity_page(req, rows, CAMPAIGN_FIELDS)

    def get_entity(self, req: Request, object_id: str) -> Response:
        w = self.world
        with w.lock:
            ads = w.ads.by_platform["meta"]
            if any(a.group_id == object_id for a in ads):
                full, allowed = self._adset(object_id), ADSET_FIELDS
            elif any(a.campaign_id == object_id for a in ads):
                full, allowed = self._campaign(object_id), CAMPAIGN_FIELDS
            else:
                return _missing(req, object_id)
        try:
            fields = self._fields(req, allowed)
        except ValueError as exc:
            return param_error(req, str(exc))
        return Response(200, {f: full[f] for f in ["id", *fields] if f in full})

    def _entity_page(self, req: Request, rows: list[dict[str, Any]], allowed: tuple[str, ...]) -> Response:
        try:
            limit = self._limit(req, 25, 500)
            fields = self._fields(req, allowed)
            start = decode_cursor(req.param("after"), 1)[0] if req.param("after") else 0
        except (ValueError, TypeError) as exc:
            return param_error(req, str(exc))
        end = min(start + limit, len(rows))
        data = [{f: row[f] for f in ["id", *fields] if f in row} for row in rows[start:end]]
        return Response(200, {"data": data, "paging": self._paging(req, start, end, len(rows))})

    def _adset(self, adset_id: str) -> dict[str, Any]:
        """An ad set; it carries a daily_budget only when it is the budget entity (no CBO above it)."""
        w = self.world
        ad = next(a for a in w.ads.by_platform["meta"] if a.group_id == adset_id)
        row = {"id": adset_id, "name": ad.group_name, "campaign_id": ad.campaign_id, "status": "ACTIVE"}
        return {**row, **self._budget_fields(adset_id)}

    def _campaign(self, campaign_id: str) -> dict[str, Any]:
        w = self.world
        ad = next(a for a in w.ads.by_platform["meta"] if a.campaign_id == campaign_id)
        return {
            "id": campaign_id,
            "name": ad.campaign_name,
            "status": "ACTIVE",
            **self._budget_fields(campaign_id),
        }

    def _budget_fields(self, object_id: str) -> dict[str, Any]:
        w = self.world
        if ("meta", object_id) not in w.ads.entity_by_id:
            return {}
        budget = w.entity_budgets("meta", w.clock_day)[object_id]
        return {
            "daily_budget": str(int(round(budget * self.offset))),
            "status": "ACTIVE" if budget > 0 else "PAUSED",
        }

    def update_budget(self, req: Request, object_id: str) -> Response:
        """POST daily_budget (minor units) on an ad set or CBO campaign; validate_only changes nothing."""
        params = _post_params(req)
        if params is None:
            return param_error(req, "could not parse the request body")
        raw = params.get("daily_budget")
        if raw is None or not str(raw).isdigit() or int(raw) <= 0:
            return param_error(req, "Param daily_budget must be a positive integer (minor units)")
        try:
            options = params.get("execution_options") or "[]"
            validate_only = "validate_only" in (json.loads(options) if isinstance(options, str) else options)
        except ValueError:
            return param_error(req, "Param execution_options must be a JSON array")
        w = self.world
        with w.lock:
            if any(a.ad_id == object_id for a in w.ads.by_platform["meta"]):
                return param_error(req, "Ads have no daily_budget: set it on the ad set or the campaign")
            if object_id in w.ads.cbo_adsets:
                return param_error(req, "ad set budget not allowed under campaign budget optimisation")
            if ("meta", object_id) not in w.ads.entity_by_id:
                if any(a.campaign_id == object_id for a in w.ads.by_platform["meta"]):
                    return param_error(req, "campaign budget not allowed: its ad sets hold the budgets")
                return _missing(req, object_id)
            changes = sum(
                1
                for x in w.writes
                if x["action"] == "set_budget"
                and x["vendor"] == "meta"
                and x["target"] == object_id
                and x["clock_day"] == w.clock_day
            )
            if changes >= BUDGET_CHANGES_PER_DAY:
                return error(400, "User request limit reached", 17, req, error_subcode=2446079)
            if validate_only:
                return Response(200, {"success": True})
            try:
                w.set_entity_budget("meta", object_id, int(raw) / self.offset)
            except WriteError as exc:
                return param_error(req, str(exc))
        return Response(200, {"success": True})


def _adsets(w: World) -> list[str]:
    return list(dict.fromkeys(a.group_id for a in w.ads.by_platform["meta"]))


def _missing(req: Request, object_id: str) -> Response:
    return error(
        400,
        f"(#100) Unsupported request. Object with ID '{object_id}' does not exist",
        100,
        req,
        error_subcode=33,
    )


def _date_ts(value: str) -> int:
    return day_start_ts(date.fromisoformat(value))


def _meta_time(ts: int) -> str:
    return iso_utc(ts).replace("+00:00", "+0000")
