"""Pick the write client for a platform and apply one request with it.

Deliberately thin: whether a request may run at all (policy, approval, kill switch,
blackout dates) is decided by the caller before :func:`apply` is reached.
"""

from __future__ import annotations

from collections.abc import Callable

from activation.writeback.base import VendorWriter, WriteError, WriteRequest, WriteResult
from activation.writeback.google_ads import GoogleAdsBudgetWriter
from activation.writeback.klaviyo import KlaviyoWriter
from activation.writeback.meta import MetaBudgetWriter
from activation.writeback.settings import WritebackSettings

# platform -> client
WRITERS: dict[str, Callable[[WritebackSettings], VendorWriter]] = {
    "meta_ads": MetaBudgetWriter,
    "google_ads": GoogleAdsBudgetWriter,
    "klaviyo": KlaviyoWriter,
}


def writer_for(platform: str, settings: WritebackSettings) -> VendorWriter:
    try:
        factory = WRITERS[platform]
    except KeyError:
        raise WriteError(f"no write client for platform {platform!r} (known: {sorted(WRITERS)})") from None
    return factory(settings)


def apply(writer: VendorWriter, request: WriteRequest, *, dry_run: bool) -> WriteResult:
    """Write one request; a request for another platform is a caller's bug, not a vendor failure."""
    if request.platform != writer.platform:
        raise WriteError(f"a {request.platform} request given to the {writer.platform} client")
    return writer.write(request, dry_run=dry_run)
