"""Google's OAuth2 token endpoint (refresh-token grant) and the access tokens it has issued.

Google Ads accepts only short-lived access tokens, so the sandbox issues them as Google does
and the Google Ads imitation checks each call against this registry. Expiry is wall time
(tokens outlive no world clock), with an injectable lifetime so tests can watch one expire.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from sandbox.vendors.base import Request, Response
from sandbox.world.core import World

TOKEN_LIFETIME_SECONDS = 3599.0
SCOPE = "https://www.googleapis.com/auth/adwords"


class GoogleOAuthApi:
    vendor = "google_oauth"

    def __init__(
        self,
        world: World,
        lifetime_seconds: float = TOKEN_LIFETIME_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.world = world
        self.lifetime_seconds = lifetime_seconds
        self.clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def auth_error(self, req: Request) -> Response | None:
        return None  # the credentials are the form itself

    def is_valid(self, access_token: str) -> bool:
        """True for a token this endpoint issued that has not yet expired."""
        with self._lock:
            expiry = self._expiry.get(access_token)
        return expiry is not None and self.clock() < expiry

    def handle(self, req: Request) -> Response:
        if req.path.rstrip("/") != "/token" or req.method != "POST":
            return Response(404, {"error": "not_found", "error_description": "Not Found"})
        form = {k: v[-1] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        keys = self.world.spec.api_keys
        if form.get("grant_type") != "refresh_token":
            return _refused("unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
        if (form.get("client_id"), form.get("client_secret")) != (
            keys["google_client_id"],
            keys["google_client_secret"],
        ):
            return Response(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        if form.get("refresh_token") != keys["google_refresh_token"]:
            return _refused("invalid_grant", "Bad Request")
        token = "ya29.sandbox-" + secrets.token_urlsafe(24)
        with self._lock:
            now = self.clock()
            self._expiry = {t: e for t, e in self._expiry.items() if e > now}  # forget expired tokens
            self._expiry[token] = now + self.lifetime_seconds
        return Response(
            200,
            {
                "access_token": token,
                "expires_in": int(self.lifetime_seconds),
                "scope": SCOPE,
                "token_type": "Bearer",
            },
        )


def _refused(error: str, description: str) -> Response:
    return Response(400, {"error": error, "error_description": description})
