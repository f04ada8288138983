"""Google Ads API imitation (v23+): googleAds:searchStream (GAQL over ad_group_ad, campaign, campaign_budget) and campaignBudgets:mutate.

Calls need an access token issued by the sandbox's OAuth endpoint (``GoogleOAuthApi``) and a
developer token. Budgets live on campaign budgets, as on Google; ads have none.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import numpy as np

from sandbox.util import DAY, day_start_ts, iso_utc
from sandbox.vendors.base import Request, Response
from sandbox.vendors.google_oauth import GoogleOAuthApi
from sandbox.world.ads import BudgetEntity
from sandbox.world.core import World, WriteError

OLDEST_VERSION = 23  # older versions are sunset
FAILURE_TYPE = "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure"
BILLABLE_UNIT_MICROS = {"JPY": 1_000_000}  # others: 10_000 (one cent)
MAX_BUDGET_MICROS = 10_000_000 * 1_000_000
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
BUDGET_FIELDS = (
    "campaign_budget.id",
    "campaign_budget.name",
    "campaign_budget.amount_micros",
    "campaign_budget.explicitly_shared",
    "campaign_budget.reference_count",
    "campaign_budget.status",
    "campaign_budget.resource_name",
)
CAMPAIGN_FIELDS = (
    "campaign.id",
    "campaign.name",
    "campaign.status",
    "campaign.campaign_budget",
    "campaign.resource_name",
)
DURING = {"YESTERDAY": 1, "LAST_7_DAYS": 7, "LAST_14_DAYS": 14, "LAST_30_DAYS": 30, "LAST_90_DAYS": 90}


def error(
    status: int,
    code: int,
    message: str,
    grpc_status: str,
    req: Request,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Response:
    request_id = req.trace_id("google")
    failure: dict[str, Any] = {"@type": FAILURE_TYPE, "requestId": request_id}
    if errors:
        failure["errors"] = errors
    body = {"error": {"code": code, "message": message, "status": grpc_status, "details": [failure]}}
    return Response(status, body, {"request-id": request_id, **(headers or {})})


def invalid(req: Request, message: str) -> Response:
    return error(400, 400, f"Request contains an invalid argument. {message}", "INVALID_ARGUMENT", req)


QUERY = re.compile(
    r"\s*SELECT\s+(.+?)\s+FROM\s+(\w+)(?:\s+WHERE\s+(.+?))?(?:\s+ORDER\s+BY\s+.+?)?"
    r"(?:\s+LIMIT\s+\d+)?\s*;?\s*",
    re.S | re.I,
)


def _nest(fields: list[str], values: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A searchStream row: ``a.b_c`` fields nested as ``{"a": {"bC": ..., "resourceName": ...}}``."""
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


def _budget_values(entity: BudgetEntity, budget: float) -> dict[str, Any]:
    return {
        "campaign_budget.id": entity.entity_id,
        "campaign_budget.name": entity.name,
        "campaign_budget.amount_micros": str(int(round(budget * 1_000_000))),
        "campaign_budget.explicitly_shared": entity.explicitly_shared,
        "campaign_budget.reference_count": str(len(entity.campaign_ids)),
        "campaign_budget.status": "ENABLED",
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


class GoogleAdsApi:
    vendor = "google_ads"

    def __init__(self, world: World, oauth: GoogleOAuthApi) -> None:
        self.world = world
        self.oauth = oauth

    def auth_error(self, req: Request) -> Response | None:
        token = req.header("authorization").removeprefix("Bearer ").strip()
        if not self.oauth.is_valid(token):
            return error(
                401,
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
                "UNAUTHENTICATED",
                req,
            )
        if req.header("developer-token") != self.world.spec.api_keys["google_ads"]:
            return error(
                401,
                401,
                "The developer token is not valid (missing or unknown developer-token header).",
                "UNAUTHENTICATED",
                req,
            )
        return None

    def handle(self, req: Request) -> Response:
        m = re.fullmatch(
            r"/v(\d+)/customers/(\d+)/(googleAds:searchStream|campaignBudgets:mutate)/?", req.path
        )
        if not m or req.method != "POST":
            return error(404, 404, f"Method not found: {req.method} {req.path}", "NOT_FOUND", req)
        if int(m.group(1)) < OLDEST_VERSION:
            return error(
                404,
                404,
                f"Version v{m.group(1)} is deprecated: this version is not supported. "
                f"Use v{OLDEST_VERSION} or later.",
                "UNIMPLEMENTED",
                req,
            )
        if m.group(2) != self.world.spec.google_customer_id:
            return error(403, 403, "The caller does not have permission", "PERMISSION_DENIED", req)
        return self.search_stream(req) if m.group(3).startswith("googleAds") else self.mutate(req)

    def _parse(self, m: re.Match[str]) -> tuple[list[str], int, int, str | None]:
        fields = [f.strip() for f in m.group(1).split(",")]
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
            m = QUERY.fullmatch(query)
            if not m:
                raise ValueError("Error in query: unexpected input.")
            resource = m.group(2)
            if resource == "ad_group_ad":
                fields, results = self._ad_rows(*self._parse(m))
            elif resource in ("campaign", "campaign_budget"):
                fields, results = self._entity_rows(resource, m)
            else:
                raise ValueError(
                    f"The sandbox serves FROM ad_group_ad, campaign or campaign_budget, not {resource}."
                )
        except (ValueError, KeyError, TypeError) as exc:
            return invalid(req, str(exc))
        mask = ",".join(".".join(_camel(p) for p in f.split(".")) for f in fields)
        batches = [
            {"results": results[i : i + BATCH_ROWS], "fieldMask": mask, "requestId": req.trace_id(str(i))}
            for i in range(0, max(1, len(results)), BATCH_ROWS)
        ]
        return Response(200, batches)

    def _ad_rows(
        self, fields: list[str], lo: int, hi: int, status: str | None
    ) -> tuple[list[str], list[dict[str, Any]]]:
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
        return fields, results

    def _entity_rows(self, resource: str, m: re.Match[str]) -> tuple[list[str], list[dict[str, Any]]]:
        """Campaign budgets (optionally ``WHERE campaign_budget.id = N``) or campaigns with their budget."""
        fields = [f.strip() for f in m.group(1).split(",")]
        allowed = BUDGET_FIELDS if resource == "campaign_budget" else CAMPAIGN_FIELDS
        unknown = [f for f in fields if f not in allowed]
        if unknown:
            raise ValueError(f"Unrecognized field in the query: '{unknown[0]}'.")
        wanted_id = None
        if m.group(3):
            cond = re.fullmatch(rf"{resource}\.id\s*=\s*'?(\d+)'?", m.group(3).strip(), re.I)
            if not cond:
                raise ValueError(f"Unsupported condition in WHERE clause: {m.group(3)}")
            wanted_id = cond.group(1)
        w = self.world
        cid = w.spec.google_customer_id
        with w.lock:
            current = w.entity_budgets("google_ads", w.clock_day)
            entities = w.budget_entities("google_ads")
        rows = []
        for entity in entities:
            budget_name = f"customers/{cid}/campaignBudgets/{entity.entity_id}"
            if resource == "campaign_budget":
                values = _budget_values(entity, current[entity.entity_id])
                rows.append((entity.entity_id, values, {"campaign_budget": budget_name}))
                continue
            for campaign_id in entity.campaign_ids:
                ad = next(a for a in w.ads.by_platform["google_ads"] if a.campaign_id == campaign_id)
                values = {
                    "campaign.id": campaign_id,
                    "campaign.name": ad.campaign_name,
                    "campaign.status": "ENABLED",
                    "campaign.campaign_budget": budget_name,
                }
                rows.append((campaign_id, values, {"campaign": f"customers/{cid}/campaigns/{campaign_id}"}))
        return fields, [_nest(fields, v, names) for key, v, names in rows if wanted_id in (None, key)]

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
        return _nest(fields, values, names)

    def mutate(self, req: Request) -> Response:
        """campaignBudgets:mutate: validate every operation, then apply (all, the valid ones, or none)."""
        try:
            body = req.json() or {}
            operations = body["operations"]
            if not isinstance(operations, list) or not operations:
                raise ValueError("operations must be a non-empty list")
        except (ValueError, KeyError, TypeError) as exc:
            return invalid(req, str(exc))
        partial, validate_only = bool(body.get("partialFailure")), bool(body.get("validateOnly"))
        w = self.world
        with w.lock:
            checked = [self._check_operation(op) for op in operations]
            errors = [
                _op_error(i, code, message)
                for i, (_, code, message) in enumerate(checked)
                if code is not None
            ]
            if errors and not partial:
                return error(
                    400, 400, "Request contains an invalid argument.", "INVALID_ARGUMENT", req, errors=errors
                )
            if validate_only:
                return Response(200, {})
            results: list[dict[str, Any]] = []
            for update, code, _ in checked:
                if code is not None:
                    results.append({})
                    continue
                try:
                    w.set_entity_budget("google_ads", update["id"], update["micros"] / 1_000_000)
                except WriteError as exc:  # checked above; the world is the last word
                    return invalid(req, str(exc))
                results.append({"resourceName": update["resourceName"]})
        out: dict[str, Any] = {"results": results}
        if errors:
            request_id = req.trace_id("google")
            out["partialFailureError"] = {
                "code": 3,
                "message": f"Multiple errors in 'details'. First error: {errors[0]['message']}",
                "details": [{"@type": FAILURE_TYPE, "errors": errors, "requestId": request_id}],
            }
        return Response(200, out)

    def _check_operation(self, op: Any) -> tuple[dict[str, Any], dict[str, str] | None, str]:
        """(update, errorCode, message); errorCode is None for a valid operation."""
        w = self.world
        cid = w.spec.google_customer_id
        update = op.get("update") if isinstance(op, dict) else None
        if not isinstance(update, dict):
            return {}, {"requestError": "INVALID_INPUT"}, "Only update operations are supported."
        mask = {f.strip() for f in str(op.get("updateMask") or "").split(",") if f.strip()}
        if mask != {"amount_micros"}:
            return {}, {"fieldMaskError": "FIELD_NOT_FOUND"}, "updateMask must be 'amount_micros'."
        m = re.fullmatch(rf"customers/{cid}/campaignBudgets/(\d+)", str(update.get("resourceName", "")))
        if not m or ("google_ads", m.group(1)) not in w.ads.entity_by_id:
            return {}, {"mutateError": "RESOURCE_NOT_FOUND"}, "Resource was not found."
        raw = str(update.get("amountMicros", ""))
        if not raw.isdigit() or int(raw) <= 0 or int(raw) > MAX_BUDGET_MICROS:
            return {}, {"rangeError": "TOO_LOW"}, "amountMicros must be a positive integer."
        unit = BILLABLE_UNIT_MICROS.get(w.spec.currency, 10_000)
        if int(raw) % unit:
            return (
                {},
                {"campaignBudgetError": "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT"},
                f"The amount must be a multiple of the billable unit ({unit} micros).",
            )
        return {"id": m.group(1), "micros": int(raw), "resourceName": update["resourceName"]}, None, ""


def _op_error(index: int, code: dict[str, str], message: str) -> dict[str, Any]:
    return {
        "errorCode": code,
        "message": message,
        "location": {"fieldPathElements": [{"fieldName": "operations", "index": index}]},
    }
