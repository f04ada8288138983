"""Real local HTTP servers imitating Meta's and Google Ads' budget endpoints and Google's token
endpoint, to the vendor shapes of docs/contracts.md (the same contract the sandbox serves).

Faults are planned per call: ``fail_next_write`` answers the next write(s) with a status and
body *without* applying them; ``drop_next_write`` applies the next write and then closes the
connection without answering (the lost-response case). Every request is recorded, with its
headers, so tests can check where the credentials went.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any
from urllib.parse import parse_qs, urlsplit

from activation.writeback.settings import WritebackSettings

DROP = object()  # apply, then close the connection without a response
KLAVIYO_KEY = "sandbox-klaviyo-key"  # the tiny world's Klaviyo key (the `server` fixture serves it)
Answer = tuple[int, dict[str, str], Any]


@dataclass(frozen=True)
class KlaviyoSettings:
    """What ``KlaviyoWriter`` reads, pointed at a sandbox server."""

    klaviyo_base_url: str
    klaviyo_api_key: str = field(default=KLAVIYO_KEY, repr=False)
    klaviyo_revision: str = "2026-10-15"


@dataclass
class Recorded:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: str


@dataclass
class FakeVendor:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    planned_writes: deque = field(default_factory=deque)
    writes_applied: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def fail_next_write(
        self, status: int, body: Any, headers: dict[str, str] | None = None, times: int = 1
    ) -> None:
        for _ in range(times):
            self.planned_writes.append((status, headers or {}, body))

    def drop_next_write(self) -> None:
        self.planned_writes.append(DROP)

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: str
    ) -> Any:
        raise NotImplementedError

    def start(self) -> FakeVendor:
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                headers = {name.lower(): value for name, value in self.headers.items()}
                split = urlsplit(self.path)
                query = {key: values[0] for key, values in parse_qs(split.query).items()}
                with vendor._lock:
                    vendor.requests.append(Recorded(self.command, self.path, headers, raw))
                    answer = vendor.handle(self.command, split.path, query, headers, raw)
                if answer is DROP:
                    self.close_connection = True
                    return
                status, extra, payload = answer
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve  # noqa: N815 (http.server API)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def planned_write(self) -> Any:
        return self.planned_writes.popleft() if self.planned_writes else None

    def write_attempts(self) -> int:
        return sum(1 for r in self.requests if r.method == "POST" and self.is_write_path(r.path))

    def is_write_path(self, path: str) -> bool:
        raise NotImplementedError


# --- Meta ---------------------------------------------------------------------------------

META_CHANGES_PER_ENTITY = 4
META_THROTTLE = {"message": "User request limit reached", "type": "OAuthException", "code": 17}


@dataclass
class FakeMeta(FakeVendor):
    token: str = "meta-secret-token"
    account_id: str = "777"
    currency: str = "USD"
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: dict[str, int] = field(default_factory=dict)
    _trace: Any = field(default_factory=lambda: count(1))

    def is_write_path(self, path: str) -> bool:
        return path.split("?")[0].count("/") == 2 and not path.split("/")[2].startswith("act_")

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: str
    ) -> Any:
        trace = f"trace-{next(self._trace)}"
        if headers.get("authorization") != f"Bearer {self.token}":
            return self._error(400, trace, "Invalid OAuth access token", 190)
        match = re.fullmatch(r"/v27\.0/([\w]+)", path)
        if not match:
            return self._error(400, trace, f"Unknown path {path}", 100)
        node = match.group(1)
        if node == f"act_{self.account_id}":
            return 200, {"x-fb-trace-id": trace}, {"id": node, "currency": self.currency}
        entity = self.entities.get(node)
        if entity is None:
            return self._error(400, trace, f"Object with ID '{node}' does not exist", 100, 33)
        if method == "GET":
            shown = {k: v for k, v in entity.items() if k in query["fields"].split(",") and v is not None}
            return 200, {"x-fb-trace-id": trace}, shown
        return self._write(entity, parse_qs(body), trace)

    def _write(self, entity: dict[str, Any], form: dict[str, list[str]], trace: str) -> Any:
        planned = self.planned_write()
        if planned is not None and planned is not DROP:
            status, extra, payload = planned
            if isinstance(payload, dict) and "error" in payload:
                payload = {"error": {**payload["error"], "fbtrace_id": trace}}
            return status, {"x-fb-trace-id": trace, **extra}, payload
        budget = form.get("daily_budget", [""])[0]
        if not budget.isdigit() or int(budget) <= 0:
            return self._error(400, trace, "Invalid parameter", 100, 1487)
        if entity.get("cbo_child"):
            return self._error(
                400, trace, "ad set budget not allowed under campaign budget optimisation", 100
            )
        if json.loads(form.get("execution_options", ["[]"])[0]) == ["validate_only"]:
            return 200, {"x-fb-trace-id": trace}, {"success": True}
        if self.changes.get(entity["id"], 0) >= META_CHANGES_PER_ENTITY:
            return self._error(400, trace, "User request limit reached", 17, 2446079)
        self.changes[entity["id"]] = self.changes.get(entity["id"], 0) + 1
        entity["daily_budget"] = budget
        self.writes_applied += 1
        if planned is DROP:
            return DROP
        return 200, {"x-fb-trace-id": trace}, {"success": True}

    @staticmethod
    def _error(status: int, trace: str, message: str, code: int, subcode: int | None = None) -> Answer:
        error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": trace}
        if subcode is not None:
            error["error_subcode"] = subcode
        return status, {"x-fb-trace-id": trace}, {"error": error}


# --- Google Ads and Google OAuth -------------------------------------------------------------

BILLABLE_UNIT = {"USD": 10_000, "EUR": 10_000, "JPY": 1_000_000}


@dataclass
class FakeGoogle(FakeVendor):
    customer_id: str = "1112223333"
    currency: str = "USD"
    developer_token: str = "dev-secret-token"
    client_id: str = "client-1"
    client_secret: str = "client-secret-value"
    refresh_token: str = "refresh-secret-value"
    expires_in: int = 3599
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    valid_tokens: set[str] = field(default_factory=set)
    grants: int = 0
    _ids: Any = field(default_factory=lambda: count(1))

    def add_budget(self, budget_id: str, micros: int, *, shared: bool = False, campaigns: int = 1) -> None:
        self.budgets[budget_id] = {
            "resourceName": f"customers/{self.customer_id}/campaignBudgets/{budget_id}",
            "id": budget_id,
            "name": f"Budget {budget_id}",
            "amountMicros": str(micros),
            "explicitlyShared": shared,
            "referenceCount": str(campaigns),
            "status": "ENABLED",
        }

    def expire_tokens(self) -> None:
        self.valid_tokens.clear()

    def micros(self, budget_id: str) -> int:
        return int(self.budgets[budget_id]["amountMicros"])

    def is_write_path(self, path: str) -> bool:
        return path.endswith("campaignBudgets:mutate")

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: str
    ) -> Any:
        request_id = f"req-{next(self._ids)}"
        if path == "/token":
            return self._grant(parse_qs(body))
        token = (headers.get("authorization") or "").removeprefix("Bearer ")
        if token not in self.valid_tokens:
            message = "Request had invalid authentication credentials. Expected OAuth 2 access token."
            error = {"code": 401, "status": "UNAUTHENTICATED", "message": message}
            return 401, {"request-id": request_id}, {"error": error}
        if headers.get("developer-token") != self.developer_token:
            return 401, {"request-id": request_id}, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}
        prefix = f"/v26/customers/{self.customer_id}/"
        payload = json.loads(body)
        if path == prefix + "googleAds:searchStream":
            return 200, {"request-id": request_id}, self._search(payload["query"], request_id)
        if path == prefix + "campaignBudgets:mutate":
            return self._mutate(payload, request_id)
        return (
            404,
            {"request-id": request_id},
            {"error": {"code": 404, "status": "NOT_FOUND", "message": path}},
        )

    def _grant(self, form: dict[str, list[str]]) -> Answer:
        self.grants += 1
        expected = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
        }
        if {key: values[0] for key, values in form.items()} != expected:
            return 400, {}, {"error": "invalid_grant", "error_description": "Bad Request"}
        token = f"ya29.access-{self.grants}"
        self.valid_tokens.add(token)
        scope = "https://www.googleapis.com/auth/adwords"
        return (
            200,
            {},
            {"access_token": token, "expires_in": self.expires_in, "scope": scope, "token_type": "Bearer"},
        )

    def _search(self, query: str, request_id: str) -> list[dict[str, Any]]:
        match = re.search(r"WHERE campaign_budget\.id = (\d+)", query)
        rows = [self.budgets[match.group(1)]] if match and match.group(1) in self.budgets else []
        results = [{"campaignBudget": dict(row)} for row in rows]
        return [{"results": results, "fieldMask": "campaignBudget.id,...", "requestId": request_id}]

    def _mutate(self, payload: dict[str, Any], request_id: str) -> Any:
        planned = self.planned_write()
        if planned is not None and planned is not DROP:
            status, extra, body = planned
            return status, {"request-id": request_id, **extra}, body
        errors = {}
        for index, operation in enumerate(payload["operations"]):
            problem = self._invalid(operation)
            if problem:
                errors[index] = problem
        if errors and not payload["partialFailure"]:
            error = {
                "code": 400,
                "status": "INVALID_ARGUMENT",
                "message": "Request contains an invalid argument.",
            }
            error["details"] = [_failure(errors, request_id)]
            return 400, {"request-id": request_id}, {"error": error}
        results = []
        for index, operation in enumerate(payload["operations"]):
            if index in errors or payload["validateOnly"]:
                results.append({})
                continue
            update = operation["update"]
            budget_id = update["resourceName"].rsplit("/", 1)[1]
            self.budgets[budget_id]["amountMicros"] = update["amountMicros"]
            self.writes_applied += 1
            results.append({"resourceName": update["resourceName"]})
        if planned is DROP:
            return DROP
        if payload["validateOnly"] and not errors:
            return 200, {"request-id": request_id}, {}
        answer: dict[str, Any] = {"results": results}
        if errors:
            answer["partialFailureError"] = {
                "code": 3,
                "message": "Multiple errors in 'details'.",
                "details": [_failure(errors, request_id)],
            }
        return 200, {"request-id": request_id}, answer

    def _invalid(self, operation: dict[str, Any]) -> str | None:
        if operation.get("updateMask") != "amount_micros":
            return "The field mask is invalid."
        budget_id = operation["update"]["resourceName"].rsplit("/", 1)[1]
        if budget_id not in self.budgets:
            return "The resource was not found."
        micros = int(operation["update"]["amountMicros"])
        if micros <= 0:
            return "The budget amount must be positive."
        if micros % BILLABLE_UNIT[self.currency]:
            return "Bid must be a multiple of billable unit."
        return None


def _failure(errors: dict[int, str], request_id: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
        "errors": [
            {
                "errorCode": {"campaignBudgetError": "INVALID_AMOUNT"},
                "message": message,
                "location": {"fieldPathElements": [{"fieldName": "operations", "index": index}]},
            }
            for index, message in errors.items()
        ],
        "requestId": request_id,
    }


class Sleeps(list):
    """An injected ``sleep``: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def meta_settings(vendor: FakeMeta) -> WritebackSettings:
    return WritebackSettings(
        meta_base_url=vendor.url, meta_access_token=vendor.token, meta_account_id=vendor.account_id
    )


def google_settings(vendor: FakeGoogle, **overrides: object) -> WritebackSettings:
    values: dict[str, object] = {
        "google_ads_base_url": vendor.url,
        "google_ads_customer_id": vendor.customer_id,
        "google_ads_developer_token": vendor.developer_token,
        "google_token_url": f"{vendor.url}/token",
        "google_client_id": vendor.client_id,
        "google_client_secret": vendor.client_secret,
        "google_refresh_token": vendor.refresh_token,
        "google_ads_login_customer_id": "9998887777",
    }
    values.update(overrides)
    return WritebackSettings(**values)  # type: ignore[arg-type]
