"""The vendor port the executor writes through: ``activation.writeback`` clients behind
``decision_engine.execution.VendorPort`` (decision_engine and activation never import each other).

Loopwise's tests write two Klaviyo targets besides budgets and campaign winners; the Klaviyo
client handles them in its ``read`` / ``write`` by ``entity_type``:

- ``profile_property_bulk`` (``decision_engine.execution.PROFILE_PROPERTY_BULK``): ``entity_id``
  and ``field`` are the property (``lw_arm_<key>``), ``value`` the profiles per arm
  (``{"control": n, "variant": m}``), ``context["assignments"]`` ``{profile id: {"contact_id",
  "arm"}}``: the client's ``bulk_set_profile_property`` (profile bulk import jobs of at most
  10,000 profiles, all submitted, then polled together to completion); ``read`` returns the profiles per arm it finds.
- ``campaign_message`` (``CAMPAIGN_MESSAGE``), field ``subject``: ``entity_id`` the campaign
  message, ``value`` the subject template: the client's ``set_campaign_subject``; ``read``
  returns the message's current subject.

A client that cannot attempt a request (``WriteError``: e.g. an entity type it does not know)
is refused, not retried: ``read`` raises ``CannotWrite`` (the executor rejects the action with the
reason) and ``write`` returns a failed, not retryable record.
"""

from __future__ import annotations

from typing import Any

from activation.writeback.base import VendorWriter, WriteError, WriteRequest
from activation.writeback.executor import apply, writer_for
from activation.writeback.settings import WritebackSettings
from decision_engine.execution import CannotWrite, WriteTarget
from decision_engine.queue import WriteRecord


class WritebackPort:
    """Reads and writes one :class:`WriteTarget` with the platform's write client."""

    def __init__(self, settings: WritebackSettings) -> None:
        self._settings = settings
        self._writers: dict[str, VendorWriter] = {}

    def _writer(self, platform: str) -> VendorWriter:
        if platform not in self._writers:
            self._writers[platform] = writer_for(platform, self._settings)
        return self._writers[platform]

    @staticmethod
    def _request(target: WriteTarget) -> WriteRequest:
        return WriteRequest(
            action_id=target.action_id,
            platform=target.platform,
            entity_type=target.entity_type,
            entity_id=target.entity_id,
            field=target.field,
            value=target.value,
            currency=target.currency,
            context=dict(target.context),
        )

    def read(self, target: WriteTarget) -> Any:
        try:
            return self._writer(target.platform).read(self._request(target))
        except WriteError as error:  # never attemptable: refused, not retried (see VendorPort.read)
            raise CannotWrite(f"the {target.platform} client cannot write this: {error}") from error

    def write(self, target: WriteTarget, *, dry_run: bool) -> WriteRecord:
        try:
            result = apply(self._writer(target.platform), self._request(target), dry_run=dry_run)
        except WriteError as error:
            return WriteRecord(
                mode="dry_run" if dry_run else "execute",
                status="failed",
                entity_type=target.entity_type,
                entity_id=target.entity_id,
                field=target.field,
                value_requested=target.value,
                error=f"the {target.platform} client cannot write this: {error}",
            )
        return WriteRecord(
            mode="dry_run" if dry_run else "execute",
            status=result.status,
            entity_type=target.entity_type,
            entity_id=target.entity_id,
            field=target.field,
            value_requested=target.value,
            value_before=result.before,
            value_after=result.after,
            error=result.error,
            request=result.request,
            response=result.response,
            vendor_request_id=result.vendor_request_id,
            retryable=result.retryable,
        )
