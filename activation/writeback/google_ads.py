"""Google Ads budget writes: a campaign budget's ``amount_micros``, many in one mutate.

Reads go through ``googleAds:searchStream``; writes through ``campaignBudgets:mutate`` with
an ``updateMask`` so nothing but the amount changes. A budget ``explicitly_shared`` by
several campaigns moves all of them at once, so it is refused unless the request says
``context["allow_shared"]``. With ``partialFailure`` the valid operations of a batch apply
and the invalid ones come back located by their index; without it one invalid operation
fails them all. An expired access token (401) is refreshed once and the call repeated.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests

from activation.writeback.base import WriteError, WriteRequest, WriteResult
from activation.writeback.currency import google_major, google_micros
from activation.writeback.http import (
    Reply,
    Sleep,
    VendorCallError,
    one_line,
    read_with_retries,
    recorded_request,
    send,
    wait_seconds,
)
from activation.writeback.settings import WritebackSettings
from core.google_oauth import GoogleOAuth, GoogleOAuthError

BUDGET_FIELDS = (
    "campaign_budget.id, campaign_budget.name, campaign_budget.amount_micros, "
    "campaign_budget.explicitly_shared, campaign_budget.reference_count, campaign_budget.status"
)


@dataclass(frozen=True)
class Budget:
    resource_name: str
    amount_micros: int
    explicitly_shared: bool
    reference_count: int


@dataclass
class _Pending:
    """One request still to be written: its position in the batch, target and state before."""

    index: int
    request: WriteRequest
    target: int
    before: Budget


class GoogleAdsBudgetWriter:
    platform = "google_ads"

    def __init__(
        self,
        settings: WritebackSettings,
        oauth: GoogleOAuth | None = None,
        session: requests.Session | None = None,
        *,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.settings = settings
        self._session = session or requests.Session()
        self._oauth = oauth or GoogleOAuth(
            settings.google_token_url,
            settings.google_client_id,
            settings.google_client_secret,
            settings.google_refresh_token,
            session=self._session,
            timeout=settings.timeout_seconds,
        )
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"GoogleAdsBudgetWriter(base_url={self._api!r}, customer_id={self.settings.google_ads_customer_id!r})"

    @property
    def _api(self) -> str:
        base = self.settings.google_ads_base_url.rstrip("/")
        return (
            f"{base}/{self.settings.google_ads_api_version}/customers/{self.settings.google_ads_customer_id}"
        )

    def read(self, request: WriteRequest) -> float | None:
        _check(request)
        budget = self._read_budget(request.entity_id)
        return None if budget is None else google_major(budget.amount_micros)

    def write(self, request: WriteRequest, *, dry_run: bool) -> WriteResult:
        return self.write_many([request], dry_run=dry_run)[0]

    def write_many(
        self, requests: Sequence[WriteRequest], *, dry_run: bool, partial_failure: bool = True
    ) -> list[WriteResult]:
        """One result per request, in order; the writes that are needed go in one mutate."""
        targets = [_target(request) for request in requests]
        results: list[WriteResult | None] = [None] * len(requests)
        pending: list[_Pending] = []
        for index, (request, target) in enumerate(zip(requests, targets, strict=True)):
            try:
                budget = self._read_budget(request.entity_id)
            except VendorCallError as error:
                results[index] = error.result()
                continue
            if budget is None:
                error = f"Google Ads: campaign budget {request.entity_id} not found"
                results[index] = WriteResult(status="failed", error=error)
            elif budget.explicitly_shared and not request.context.get("allow_shared"):
                results[index] = _shared_refusal(request, budget)
            elif budget.amount_micros == target:
                value = google_major(budget.amount_micros)
                results[index] = WriteResult(status="noop", before=value, after=value)
            else:
                pending.append(_Pending(index, request, target, budget))
        for item, result in self._mutate_until_answered(pending, dry_run, partial_failure):
            results[item.index] = result
        return [result for result in results if result is not None]

    def _mutate_until_answered(
        self, pending: list[_Pending], dry_run: bool, partial_failure: bool
    ) -> list[tuple[_Pending, WriteResult]]:
        """Send the batch until Google answers; before every re-send, re-read the pending budgets:
        a lost answer may have applied, and an applied write must not be sent twice."""
        done: list[tuple[_Pending, WriteResult]] = []
        reply = Reply(status=None, transport_error="no attempt made")
        body: dict[str, Any] = {}
        for attempt in range(1, self.settings.max_attempts + 1):
            if attempt > 1:
                self._sleep(wait_seconds(reply, attempt - 1, self.settings))
                settled, pending = self._settle(pending, dry_run, body)
                done += settled
            if not pending:
                return done
            body = self._mutate_body(pending, dry_run, partial_failure)
            try:
                reply = self._post(f"{self._api}/campaignBudgets:mutate", body)
            except VendorCallError as error:
                return done + [(item, error.result(_major(item.before))) for item in pending]
            if reply.ok or not _transient(reply):
                break
        sent = pending
        if not reply.ok and _transient(reply):  # the last attempt may have applied: look before failing
            settled, pending = self._settle(pending, dry_run, body)
            done += settled
        return done + self._outcomes(sent, pending, body, reply, dry_run)

    def _settle(
        self, pending: list[_Pending], dry_run: bool, body: dict[str, Any]
    ) -> tuple[list[tuple[_Pending, WriteResult]], list[_Pending]]:
        """Split pending requests into those already at their target (or unreadable) and the rest."""
        settled, still = [], []
        for position, item in enumerate(pending):
            try:
                current = self._read_budget(item.request.entity_id)
            except VendorCallError as error:
                settled.append((item, error.result(_major(item.before))))
                continue
            if current is not None and current.amount_micros == item.target:
                status = "noop" if dry_run else "executed"
                result = WriteResult(
                    status=status,
                    before=_major(item.before),
                    after=google_major(current.amount_micros),
                    request=self._recorded(body, position),
                )
                settled.append((item, result))
            else:
                still.append(item)
        return settled, still

    def _outcomes(
        self,
        sent: list[_Pending],
        remaining: list[_Pending],
        body: dict[str, Any],
        reply: Reply,
        dry_run: bool,
    ) -> list[tuple[_Pending, WriteResult]]:
        """Map Google's answer to the ``sent`` batch back to the requests still ``remaining``:
        errors are located by operation index."""
        located = _located_errors(reply)
        applied = _applied_indexes(reply, len(sent), dry_run)
        batch_error = _error_text(reply) if not reply.ok else None
        outcomes = []
        for position, item in enumerate(sent):
            if item not in remaining:
                continue
            if position in located:
                error: str | None = located[position]
            elif batch_error is not None and located:
                error = f"not applied: another operation in the batch failed ({batch_error})"
            elif batch_error is not None:
                error = batch_error
            elif position not in applied:
                error = "Google Ads: the operation returned no result"
            else:
                error = None
            result = WriteResult(
                status="failed" if error else ("validated" if dry_run else "executed"),
                before=_major(item.before),
                request=self._recorded(body, position),
                response=reply.recorded(),
                error=error,
                vendor_request_id=_request_id(reply),
                retryable=error is not None and position not in located and _transient(reply),
            )
            if not error:
                result.after = self._after(item.request.entity_id)
            outcomes.append((item, result))
        return outcomes

    def _after(self, budget_id: str) -> float | None:
        """The amount read back; ``None`` when the read fails (the write itself did succeed)."""
        try:
            budget = self._read_budget(budget_id)
        except VendorCallError:
            return None
        return None if budget is None else google_major(budget.amount_micros)

    def _mutate_body(self, pending: list[_Pending], dry_run: bool, partial_failure: bool) -> dict[str, Any]:
        operations = [
            {
                "update": {"resourceName": item.before.resource_name, "amountMicros": str(item.target)},
                "updateMask": "amount_micros",
            }
            for item in pending
        ]
        return {"operations": operations, "partialFailure": partial_failure, "validateOnly": dry_run}

    def _recorded(self, body: dict[str, Any], position: int) -> dict[str, Any]:
        recorded = recorded_request("POST", f"{self._api}/campaignBudgets:mutate", body)
        recorded["operation_index"] = position
        return recorded

    def _read_budget(self, budget_id: str) -> Budget | None:
        query = f"SELECT {BUDGET_FIELDS} FROM campaign_budget WHERE campaign_budget.id = {budget_id}"
        url = f"{self._api}/googleAds:searchStream"
        reply = read_with_retries(
            lambda: self._post(url, {"query": query}),
            transient=_transient,
            settings=self.settings,
            sleep=self._sleep,
        )
        if not reply.ok or not isinstance(reply.body, list):
            raise VendorCallError(
                _error_text(reply), retryable=_transient(reply), reply=reply, request_id=_request_id(reply)
            )
        rows = [row["campaignBudget"] for chunk in reply.body for row in chunk.get("results", [])]
        if not rows:
            return None
        row = rows[0]
        return Budget(
            resource_name=row["resourceName"],
            amount_micros=int(row.get("amountMicros") or 0),
            explicitly_shared=bool(row.get("explicitlyShared", False)),
            reference_count=int(row.get("referenceCount") or 0),
        )

    def _post(self, url: str, body: dict[str, Any]) -> Reply:
        """POST with a fresh-enough token; on 401 refresh once and repeat."""
        reply = send(self._session, "POST", url, headers=self._headers(), timeout=self._timeout, json=body)
        if reply.status == 401:
            self._oauth.invalidate()
            reply = send(
                self._session, "POST", url, headers=self._headers(), timeout=self._timeout, json=body
            )
        return reply

    def _headers(self) -> dict[str, str]:
        try:
            token = self._oauth.access_token()
        except GoogleOAuthError as error:
            raise VendorCallError(str(error), retryable=False) from None
        headers = {
            "Authorization": f"Bearer {token}",
            "developer-token": self.settings.google_ads_developer_token,
        }
        if self.settings.google_ads_login_customer_id:
            headers["login-customer-id"] = self.settings.google_ads_login_customer_id
        return headers

    @property
    def _timeout(self) -> float:
        return self.settings.timeout_seconds


def _check(request: WriteRequest) -> None:
    if request.entity_type != "campaign_budget" or request.field != "daily_budget":
        raise WriteError(
            f"Google Ads writes daily_budget of a campaign_budget, not {request.field} of {request.entity_type}"
        )
    if not str(request.entity_id).isdigit():
        raise WriteError(f"Google Ads budget id must be digits, got {request.entity_id!r}")


def _target(request: WriteRequest) -> int:
    _check(request)
    if not request.currency:
        raise WriteError("Google Ads budget writes need the account currency (request.currency)")
    try:
        return google_micros(request.value, request.currency)
    except ValueError as error:
        raise WriteError(str(error)) from None


def _shared_refusal(request: WriteRequest, budget: Budget) -> WriteResult:
    """Changing a shared budget moves every campaign on it: refused, and not worth retrying."""
    value = google_major(budget.amount_micros)
    error = (
        f"Google Ads: campaign budget {request.entity_id} is shared by {budget.reference_count} "
        "campaigns; set context allow_shared to change them all"
    )
    return WriteResult(status="failed", before=value, after=value, error=error)


def _major(budget: Budget) -> float:
    return google_major(budget.amount_micros)


def _transient(reply: Reply) -> bool:
    return reply.status is None or reply.status == 429 or reply.status >= 500


def _failure_details(reply: Reply) -> list[dict[str, Any]]:
    """The GoogleAdsFailure errors of a partial failure (200) or of a failed request (4xx)."""
    body = reply.body if isinstance(reply.body, dict) else {}
    container = body.get("partialFailureError") or body.get("error") or {}
    details = container.get("details") if isinstance(container, dict) else None
    return [error for detail in details or [] for error in detail.get("errors", [])]


def _located_errors(reply: Reply) -> dict[int, str]:
    """Operation index -> the error messages Google located there."""
    located: dict[int, list[str]] = {}
    for error in _failure_details(reply):
        for element in (error.get("location") or {}).get("fieldPathElements", []):
            if element.get("fieldName") == "operations" and "index" in element:
                located.setdefault(int(element["index"]), []).append(one_line(error.get("message", "")))
                break
    return {index: "Google Ads: " + "; ".join(messages) for index, messages in located.items()}


def _applied_indexes(reply: Reply, count: int, dry_run: bool) -> set[int]:
    """Operations Google reports as done: a result with a resource name (validate-only returns none)."""
    if not reply.ok:
        return set()
    if dry_run:
        return set(range(count))
    results = reply.body.get("results", []) if isinstance(reply.body, dict) else []
    return {i for i, result in enumerate(results) if isinstance(result, dict) and result.get("resourceName")}


def _error_text(reply: Reply) -> str:
    if reply.status is None:
        return f"Google Ads: no response ({reply.transport_error})"
    body = reply.body if isinstance(reply.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    messages = [one_line(detail.get("message", "")) for detail in _failure_details(reply)]
    text = "; ".join(message for message in messages if message) or one_line(
        error.get("message") or f"HTTP {reply.status}"
    )
    status = error.get("status")
    return f"Google Ads: {text} ({status})" if status else f"Google Ads: {text}"


def _request_id(reply: Reply) -> str | None:
    if reply.headers.get("request-id"):
        return reply.headers["request-id"]
    body = reply.body if isinstance(reply.body, dict) else {}
    container = body.get("partialFailureError") or body.get("error") or {}
    for detail in (container.get("details") or []) if isinstance(container, dict) else []:
        if detail.get("requestId"):
            return detail["requestId"]
    return None
