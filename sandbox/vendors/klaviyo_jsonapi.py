"""Klaviyo JSON:API plumbing the sandbox's Klaviyo routes share: errors, write bodies, pages, revisions."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sandbox import ids
from sandbox.util import decode_cursor, encode_cursor, salt
from sandbox.vendors.base import ApiError, Request, Response
from sandbox.vendors.klaviyo_filters import Condition, parse_filter

CONTENT_TYPE = "application/vnd.api+json"
# Klaviyo retires a revision two years after its release; "today" is the contract's 2026-12
# (the world clock is simulated and may lie in the past), so the cutoff is fixed.
OLDEST_REVISION = date(2024, 12, 1)


def error(
    status: int,
    code: str,
    title: str,
    detail: str,
    parameter: str | None = None,
    headers: dict[str, str] | None = None,
    pointer: str | None = None,
) -> Response:
    err: dict[str, Any] = {
        "id": ids.uuid_like(status, salt(detail)),
        "status": status,
        "code": code,
        "title": title,
        "detail": detail,
        "links": {},
        "meta": {},
    }
    if parameter:
        err["source"] = {"parameter": parameter}
    elif pointer:
        err["source"] = {"pointer": pointer}
    return Response(status, {"errors": [err]}, headers or {}, CONTENT_TYPE)


def invalid(detail: str, parameter: str | None = None, pointer: str | None = None) -> ApiError:
    return ApiError(error(400, "invalid", "Invalid input.", detail, parameter, pointer=pointer))


def not_found(kind: str, resource_id: str) -> ApiError:
    return ApiError(error(404, "not_found", "Not found.", f"A {kind} with id {resource_id} does not exist."))


def revision_error(revision: str) -> Response | None:
    """None for a supported revision; else the 400 Klaviyo answers (missing, malformed, retired)."""
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(\.\w+)?", revision)
    try:
        released = date.fromisoformat(m.group(1)) if m else None
    except ValueError:
        released = None
    if released is None:
        return error(400, "invalid", "Invalid input.", "Missing or invalid revision header.", "revision")
    if released < OLDEST_REVISION:
        detail = f"Revision {revision} has been retired; use a revision released after {OLDEST_REVISION}."
        return error(400, "invalid_revision", "Invalid revision.", detail, "revision")
    return None


def resource_data(req: Request, kind: str, resource_id: str | None = None) -> dict[str, Any]:
    """The ``data`` object of a JSON:API write body, checked for its type (and id, on PATCH)."""
    try:
        data = req.json()["data"]
        attributes = data["attributes"] if resource_id is not None else data.get("attributes", {})
    except (ValueError, KeyError, TypeError):
        raise invalid("expected a JSON:API document {data: {type, ...}}", pointer="/data") from None
    if data.get("type") != kind:
        raise invalid(f"data.type must be {kind!r}", pointer="/data/type")
    if resource_id is not None and data.get("id") != resource_id:
        raise invalid("data.id must match the id in the URL", pointer="/data/id")
    if not isinstance(attributes, dict):
        raise invalid("data.attributes must be an object", pointer="/data/attributes")
    return data


def only_attribute(attributes: dict[str, Any], allowed: str) -> Any:
    """The one attribute the sandbox lets a PATCH change (others would be silently ignored)."""
    if set(attributes) != {allowed}:
        raise invalid(f"the sandbox updates only attributes.{allowed}", pointer="/data/attributes")
    return attributes[allowed]


def written(req: Request, status: int, data: dict[str, Any]) -> Response:
    return Response(status, {"data": data, "links": {"self": req.url_with()}}, {}, CONTENT_TYPE)


def page_size(req: Request, limits: tuple[int, int]) -> int:
    raw = req.param("page[size]")
    try:
        size = limits[0] if raw is None else int(raw)
    except ValueError:
        raise invalid("page[size] must be an integer", "page[size]") from None
    if not 1 <= size <= limits[1]:
        raise invalid(f"page[size] must be between 1 and {limits[1]}", "page[size]")
    return size


def parse_filters(req: Request) -> list[Condition]:
    try:
        return parse_filter(req.param("filter"))
    except ValueError as exc:
        raise invalid(str(exc), "filter") from None


def cursor(req: Request, n: int) -> list[int] | None:
    raw = req.param("page[cursor]")
    if not raw:
        return None
    try:
        return decode_cursor(raw, n)
    except ValueError as exc:
        raise invalid(str(exc), "page[cursor]") from None


def listing(req: Request, data: list[dict[str, Any]], next_cursor: str | None) -> Response:
    links = {
        "self": req.url_with(),
        "next": req.url_with(**{"page[cursor]": next_cursor}) if next_cursor else None,
    }
    return Response(200, {"data": data, "links": links}, {}, CONTENT_TYPE)


def offset_page(req: Request, items: list[Any], limits: tuple[int, int]) -> tuple[list[Any], str | None]:
    size = page_size(req, limits)
    start = (cursor(req, 1) or [0])[0]
    page = items[start : start + size]
    return page, encode_cursor(start + size) if start + size < len(items) else None
