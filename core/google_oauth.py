"""Google OAuth2 refresh-token flow: short-lived access tokens for the Google Ads API.

Google Ads refuses static tokens (an access token lives about an hour), so every caller
trades the long-lived refresh token for an access token here and asks again shortly before
it expires. Secrets never appear in the repr or in error messages.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

REFRESH_MARGIN_SECONDS = 60.0  # ask for a new token this long before the current one expires
TIMEOUT_SECONDS = 30.0


class GoogleOAuthError(RuntimeError):
    """The token endpoint refused the grant or could not be reached (message: one line, no secrets)."""


class GoogleOAuth:
    """Thread-safe access-token cache for one OAuth client and refresh token."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        session: requests.Session | None = None,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._session = session or requests.Session()
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def __repr__(self) -> str:
        return f"GoogleOAuth(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def access_token(self) -> str:
        """A valid access token, fetched anew only when none is cached or it is within 60 s of expiry."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._refresh_at:
                self._token, lifetime = self._fetch()
                self._refresh_at = time.monotonic() + lifetime - REFRESH_MARGIN_SECONDS
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (the API answered 401): the next call fetches a new one."""
        with self._lock:
            self._token = None

    def _fetch(self) -> tuple[str, float]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        try:
            response = self._session.post(self.token_url, data=form, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise GoogleOAuthError(
                f"Google OAuth token endpoint unreachable ({type(exc).__name__})"
            ) from None
        body = _json(response)
        token = body.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            reason = f"{body.get('error', 'no access_token')}: {body.get('error_description', '')}".rstrip(
                ": "
            )
            raise GoogleOAuthError(
                f"Google OAuth token refresh refused (HTTP {response.status_code} {reason})"
            )
        return token, float(body.get("expires_in") or 3599)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
