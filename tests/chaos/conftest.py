"""Chaos tests run only on request, except the representative kill during ``dbt build``.

The whole suite takes several minutes (each case runs ``loopwise demo`` twice), so items
marked ``chaos`` are skipped unless ``-m`` mentions ``chaos`` (``make test-chaos``) or
``LOOPWISE_CHAOS=1`` is set. ``ALWAYS_RUN`` points stay in the default ``make test``.
"""

from __future__ import annotations

import pytest
from chaos_helpers import chaos_requested

ALWAYS_RUN = {"dbt_build"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if chaos_requested(config):
        return
    skip = pytest.mark.skip(reason="chaos suite: run `make test-chaos` (or set LOOPWISE_CHAOS=1)")
    for item in items:
        if item.get_closest_marker("chaos") is None:
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("point") in ALWAYS_RUN:
            continue
        item.add_marker(skip)
