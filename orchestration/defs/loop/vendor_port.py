"""The vendor port the executor writes through: ``activation.writeback`` clients behind
``decision_engine.execution.VendorPort`` (decision_engine and activation never import each other)."""

from __future__ import annotations

from typing import Any

from activation.writeback.base import VendorWriter, WriteRequest
from activation.writeback.executor import apply, writer_for
from activation.writeback.settings import WritebackSettings
from decision_engine.execution import WriteTarget
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
        return self._writer(target.platform).read(self._request(target))

    def write(self, target: WriteTarget, *, dry_run: bool) -> WriteRecord:
        result = apply(self._writer(target.platform), self._request(target), dry_run=dry_run)
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
