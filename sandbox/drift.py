"""Schema drift: serve records without fields the vendor "stopped sending" (``WorldSpec.dropped_fields``).

``dropped_fields`` maps ``"<vendor>.<resource>"`` (the names of ``sandbox.mess``) to dotted paths
inside each served record, e.g. ``{"meta.insights": ["spend"], "hubspot.contacts":
["properties.email"], "klaviyo.events": ["attributes.event_properties.$message"]}``. The key is
removed (absent, not null) from every record of that resource in a successful list response.
Empty by default, so default worlds serve byte-identical bodies.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

# (vendor, path regex relative to the vendor base) -> (resource, where the records are)
RECORD_LISTS: tuple[tuple[str, re.Pattern[str], str, str], ...] = (
    ("klaviyo", re.compile(r"/api/events/?"), "events", "data"),
    ("klaviyo", re.compile(r"/api/profiles/?"), "profiles", "data"),
    ("klaviyo", re.compile(r"/api/metrics/?"), "metrics", "data"),
    ("klaviyo", re.compile(r"/api/campaigns/?"), "campaigns", "data"),
    ("klaviyo", re.compile(r"/api/campaigns/[^/]+/campaign-messages/?"), "campaign_messages", "data"),
    ("klaviyo", re.compile(r"/api/flows/?"), "flows", "data"),
    ("klaviyo", re.compile(r"/api/flows/[^/]+/flow-actions/?"), "flow_actions", "data"),
    ("klaviyo", re.compile(r"/api/flow-actions/[^/]+/flow-messages/?"), "flow_messages", "data"),
    ("hubspot", re.compile(r"/crm/v3/objects/contacts(/search)?/?"), "contacts", "results"),
    ("hubspot", re.compile(r"/crm/v3/objects/deals(/search)?/?"), "deals", "results"),
    ("meta", re.compile(r"/v\d+\.\d+/act_\d+/insights/?"), "insights", "data"),
    ("meta", re.compile(r"/v\d+\.\d+/\d+/insights/?"), "insights", "data"),  # a report job's rows
    ("meta", re.compile(r"/v\d+\.\d+/act_\d+/ads/?"), "ads", "data"),
    ("google_ads", re.compile(r"/v\d+/customers/\d+/googleAds:searchStream"), "ad_group_ad", "batches"),
)


def validate_dropped_fields(dropped: Mapping[str, Any]) -> dict[str, list[str]]:
    """Check the keys name a known ``vendor.resource``; returns a plain dict of lists."""
    known = {f"{vendor}.{resource}" for vendor, _, resource, _ in RECORD_LISTS}
    unknown = sorted(set(dropped) - known)
    if unknown:
        raise ValueError(f"dropped_fields: unknown resources {unknown}; known: {sorted(known)}")
    return {key: [str(path) for path in paths] for key, paths in dropped.items()}


def resource_of(vendor: str, path: str) -> tuple[str, str] | None:
    for list_vendor, pattern, resource, location in RECORD_LISTS:
        if list_vendor == vendor and pattern.fullmatch(path):
            return resource, location
    return None


def _records(body: Any, location: str) -> list[Any]:
    if location == "batches":
        return [r for batch in body if isinstance(batch, dict) for r in batch.get("results") or []]
    return list(body.get(location) or []) if isinstance(body, dict) else []


def _drop(record: Any, path: str) -> None:
    *parents, last = path.split(".")
    node = record
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def drop_fields(vendor: str, path: str, body: Any, dropped: Mapping[str, list[str]]) -> Any:
    """``body`` (a successful response) without the dropped fields; a copy when anything applies."""
    found = resource_of(vendor, path)
    if not dropped or found is None:
        return body
    resource, location = found
    paths = dropped.get(f"{vendor}.{resource}")
    if not paths:
        return body
    body = copy.deepcopy(body)
    for record in _records(body, location):
        for field_path in paths:
            _drop(record, field_path)
    return body
