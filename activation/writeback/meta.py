"""Meta Marketing API budget writes: an ad set's or a CBO campaign's ``daily_budget``.

Both live on the same node (``/{id}``), in Meta's minor units of the account currency (see
:mod:`activation.writeback.currency`). The token travels in the ``Authorization`` header,
never in the URL, so recorded URLs are safe to log. Meta allows about four budget changes
per ad set per hour (code 17, subcode 2446079): a write that hits it fails as retryable for
the policy to try again later, after a short in-call backoff.
"""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from activation.writeback.base import WriteError, WriteRequest, WriteResult
from activation.writeback.currency import meta_major_units, meta_minor_units
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

ENTITY_TYPES = frozenset({"adset", "campaign"})
THROTTLING_CODES = frozenset({4, 17, 613, *range(80000, 80007)})


class MetaBudgetWriter:
    platform = "meta_ads"

    def __init__(
        self,
        settings: WritebackSettings,
        session: requests.Session | None = None,
        *,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.settings = settings
        self._session = session or requests.Session()
        self._sleep = sleep
        self._account_currency: str | None = None

    def __repr__(self) -> str:
        return f"MetaBudgetWriter(base_url={self._api!r}, account_id={self.settings.meta_account_id!r})"

    @property
    def _api(self) -> str:
        return f"{self.settings.meta_base_url.rstrip('/')}/{self.settings.meta_api_version}"

    def read(self, request: WriteRequest) -> float | None:
        _check(request)
        minor = self._read_minor(request.entity_id)
        return None if minor is None else meta_major_units(minor, self._currency(request))

    def write(self, request: WriteRequest, *, dry_run: bool) -> WriteResult:
        _check(request)
        try:
            currency = self._currency(request)
            before = self._read_minor(request.entity_id)
        except VendorCallError as error:
            return error.result()
        target = _minor(request.value, currency)
        if before == target:
            value = meta_major_units(before, currency)
            return WriteResult(status="noop", before=value, after=value)
        return self._write(request, target, currency, before, dry_run)

    def _write(
        self, request: WriteRequest, target: int, currency: str, before: int | None, dry_run: bool
    ) -> WriteResult:
        """Send until the vendor answers; before every re-send, read: a lost answer may have applied."""
        major_before = None if before is None else meta_major_units(before, currency)
        url = f"{self._api}/{request.entity_id}"
        form: dict[str, Any] = {"daily_budget": str(target)}
        if dry_run:
            form["execution_options"] = json.dumps(["validate_only"])
        sent = recorded_request("POST", url, form)
        reply = Reply(status=None, transport_error="no attempt made")
        for attempt in range(1, self.settings.max_attempts + 1):
            if attempt > 1:
                self._sleep(wait_seconds(reply, attempt - 1, self.settings))
                settled = self._settled(request.entity_id, target, currency, major_before, sent, dry_run)
                if settled is not None:
                    return settled
            reply = send(
                self._session, "POST", url, headers=self._headers(), timeout=self._timeout, data=form
            )
            if reply.ok or not _transient(reply):
                break
        if not reply.ok and _transient(reply):  # the last attempt may have applied: look before failing
            settled = self._settled(request.entity_id, target, currency, major_before, sent, dry_run)
            if settled is not None:
                return settled
        if not reply.ok:
            return WriteResult(
                status="failed",
                before=major_before,
                request=sent,
                response=reply.recorded(),
                error=_error_text(reply),
                vendor_request_id=_trace_id(reply),
                retryable=_transient(reply),
            )
        try:
            after_minor = self._read_minor(request.entity_id)
        except VendorCallError:
            after_minor = None  # the write succeeded; an unreadable after-state must not hide that
        return WriteResult(
            status="validated" if dry_run else "executed",
            before=major_before,
            after=None if after_minor is None else meta_major_units(after_minor, currency),
            request=sent,
            response=reply.recorded(),
            vendor_request_id=_trace_id(reply),
        )

    def _settled(
        self,
        entity_id: str,
        target: int,
        currency: str,
        major_before: float | None,
        sent: dict[str, Any],
        dry_run: bool,
    ) -> WriteResult | None:
        """The result when the entity already holds the target (an earlier attempt applied) or cannot
        be read; ``None`` when a write is still needed."""
        try:
            current = self._read_minor(entity_id)
        except VendorCallError as error:
            return error.result(major_before)
        if current != target:
            return None
        after = meta_major_units(current, currency)
        return WriteResult(
            status="noop" if dry_run else "executed", before=major_before, after=after, request=sent
        )

    def _read_minor(self, entity_id: str) -> int | None:
        body = self._get(f"{self._api}/{entity_id}", {"fields": "id,name,daily_budget,status"})
        value = body.get("daily_budget")
        return None if value in (None, "") else int(value)

    def _currency(self, request: WriteRequest) -> str:
        """The request's currency, else the ad account's (read once)."""
        if request.currency:
            return request.currency
        if self._account_currency is None:
            account = f"{self._api}/act_{self.settings.meta_account_id}"
            currency = self._get(account, {"fields": "currency"}).get("currency")
            if not currency:
                raise VendorCallError("Meta: the ad account has no currency", retryable=False)
            self._account_currency = str(currency)
        return self._account_currency

    def _get(self, url: str, params: dict[str, str]) -> dict[str, Any]:
        reply = read_with_retries(
            lambda: send(
                self._session, "GET", url, headers=self._headers(), timeout=self._timeout, params=params
            ),
            transient=_transient,
            settings=self.settings,
            sleep=self._sleep,
        )
        if not reply.ok or not isinstance(reply.body, dict):
            raise VendorCallError(
                _error_text(reply), retryable=_transient(reply), reply=reply, request_id=_trace_id(reply)
            )
        return reply.body

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.meta_access_token}"}

    @property
    def _timeout(self) -> float:
        return self.settings.timeout_seconds


def _check(request: WriteRequest) -> None:
    if request.entity_type not in ENTITY_TYPES or request.field != "daily_budget":
        raise WriteError(
            f"Meta writes daily_budget of an adset or campaign, not {request.field} of {request.entity_type}"
        )
    if not str(request.entity_id).isdigit():
        raise WriteError(f"Meta object ids are digits, got {request.entity_id!r}")


def _minor(value: Any, currency: str) -> int:
    try:
        return meta_minor_units(value, currency)
    except ValueError as error:
        raise WriteError(str(error)) from None


def _meta_error(reply: Reply) -> dict[str, Any]:
    error = reply.body.get("error") if isinstance(reply.body, dict) else None
    return error if isinstance(error, dict) else {}


def _transient(reply: Reply) -> bool:
    if reply.status is None or reply.status == 429 or reply.status >= 500:
        return True
    return _meta_error(reply).get("code") in THROTTLING_CODES


def _error_text(reply: Reply) -> str:
    if reply.status is None:
        return f"Meta: no response ({reply.transport_error})"
    error = _meta_error(reply)
    if not error:
        return f"Meta: HTTP {reply.status}"
    codes = "/".join(str(error[key]) for key in ("code", "error_subcode") if error.get(key) is not None)
    message = one_line(error.get("message") or f"HTTP {reply.status}")
    return f"Meta: {message} (code {codes})" if codes else f"Meta: {message}"


def _trace_id(reply: Reply) -> str | None:
    return _meta_error(reply).get("fbtrace_id") or reply.headers.get("x-fb-trace-id")
