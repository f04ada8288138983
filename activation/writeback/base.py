"""The one interface every vendor write client implements (Meta, Google Ads, Klaviyo).

A :class:`WriteRequest` says *what the entity should be* (an absolute target), never by how
much to change it: a retried or resumed run that sends the same request twice changes
nothing the second time. No vendor offers idempotency keys, so idempotency is built here:
read the current value, skip the write when it already equals the target (``noop``), write,
read back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

WriteStatus = Literal["executed", "validated", "noop", "failed"]


@dataclass(frozen=True)
class WriteRequest:
    """An absolute target for one field of one vendor entity."""

    action_id: str
    platform: str  # meta_ads | google_ads | klaviyo
    entity_type: (
        str  # meta: adset | campaign; google_ads: campaign_budget; klaviyo: campaign | profile | flow
        # | campaign_message | profile_property_bulk
    )
    entity_id: str
    field: str  # daily_budget | winner_message_id | status | properties.<name>
    value: Any  # money in major units (e.g. 120.5 USD); clients convert to the vendor's units
    currency: str | None = None
    context: dict[str, Any] = field(default_factory=dict)  # vendor extras (e.g. the A/B test's campaign)


@dataclass
class WriteResult:
    """What happened to one request: the state before, what was sent, what came back, the state after."""

    status: WriteStatus
    before: Any = None
    after: Any = None
    request: dict[str, Any] = field(default_factory=dict)  # method, url, body: secrets never included
    response: dict[str, Any] = field(default_factory=dict)  # status code and body as the vendor sent it
    error: str | None = None  # the vendor's reason, one line, when status == "failed"
    vendor_request_id: str | None = None  # fbtrace_id, Google request-id, Klaviyo request id
    retryable: bool = False  # a transient failure (throttled, 5xx) the policy may retry later


class WriteError(Exception):
    """A write the client could not even attempt (bad request shape, unknown entity type)."""


class VendorWriter(Protocol):
    platform: str

    def read(self, request: WriteRequest) -> Any:
        """The entity's current value of ``request.field`` in major units (``None`` if unset)."""

    def write(self, request: WriteRequest, *, dry_run: bool) -> WriteResult:
        """Read, write ``request.value`` (or validate only when ``dry_run``), read back."""
