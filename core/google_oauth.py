"""Google's OAuth2 refresh-token flow: a short-lived access token from a long-lived refresh token.

Google Ads access tokens expire within the hour, so a static token breaks any run that lasts
longer. One :class:`GoogleOAuth` is shared by the ingestion sources and the write clients;
it keeps the token until 60 seconds before it expires (so a call started just before expiry
still carries a valid token) and one lock makes concurrent callers share one refresh.
Tokens and secrets never reach logs, errors or ``repr``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests

EXPIRY_MARGIN_SECONDS = 60.0


class GoogleOAuthError(Exception):
    """The token endpoint refused the grant or could not be reached (message is one line)."""


class GoogleOAuth:
    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        session: requests.Session | None = None,
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._session = session or requests.Session()
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def __repr__(self) -> str:
        return f"GoogleOAuth(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def access_token(self) -> str:
        """A valid access token: the cached one, or a fresh one when it is within a minute of expiry."""
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - EXPIRY_MARGIN_SECONDS:
                self._token, lifetime = self._refresh()
                self._expires_at = self._clock() + lifetime
            return self._token

    def invalidate(self) -> None:
        """Forget the cached token (the API answered 401): the next call refreshes."""
        with self._lock:
            self._token = None
            self._expires_at = 0.0

    def _refresh(self) -> tuple[str, float]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        try:
            response = self._session.post(self.token_url, data=form, timeout=self._timeout)
        except requests.RequestException as error:
            raise GoogleOAuthError(f"Google OAuth token request failed: {type(error).__name__}") from None
        body = _json_or_empty(response)
        token = body.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            reason = body.get("error") or f"HTTP {response.status_code}"
            detail = body.get("error_description")
            text = f"{reason} ({detail})" if detail else str(reason)
            raise GoogleOAuthError(f"Google OAuth refused the refresh token: {_one_line(text)}")
        return token, float(body.get("expires_in") or 0)


def _json_or_empty(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _one_line(text: str) -> str:
    return " ".join(text.split())
