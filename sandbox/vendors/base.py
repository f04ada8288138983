"""Request/response plumbing shared by the vendor imitations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sandbox.util import mix_int, salt


@dataclass
class Request:
    method: str
    path: str  # relative to the vendor base, e.g. "/api/events"
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    base_url: str  # vendor base url, e.g. http://127.0.0.1:8000/klaviyo
    attempt: int = 0

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise ValueError("request body is not valid JSON") from exc

    def url_with(self, **overrides: str) -> str:
        """This request's URL with some query parameters replaced (for next links)."""
        query = {k: v[-1] for k, v in self.query.items()}
        query.update(overrides)
        return f"{self.base_url}{self.path}?{urlencode(sorted(query.items()))}"

    def trace_id(self, kind: str = "") -> str:
        """Deterministic request id (vendors' fbtrace_id / correlationId / requestId)."""
        h = mix_int(
            salt(
                self.method,
                self.path,
                json.dumps(self.query, sort_keys=True),
                self.body.decode("utf-8", "replace"),
                self.attempt,
                kind,
            )
        )
        return f"{h:016x}"


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    raw: bytes | None = None  # send these bytes instead of the JSON of `body` (damaged bodies)


class ApiError(Exception):
    """Raised inside a vendor handler to answer with an error response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response
