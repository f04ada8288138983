"""Google's refresh-token flow against a local token endpoint."""

from __future__ import annotations

import threading

import pytest

from core.google_oauth import GoogleOAuth, GoogleOAuthError


def _oauth(google, **overrides) -> GoogleOAuth:
    values = {
        "token_url": f"{google.url}/token",
        "client_id": google.client_id,
        "client_secret": google.client_secret,
        "refresh_token": google.refresh_token,
    }
    values.update(overrides)
    return GoogleOAuth(**values)


def test_token_is_cached_until_a_minute_before_expiry(google):
    now = [1000.0]
    oauth = GoogleOAuth(
        f"{google.url}/token",
        google.client_id,
        google.client_secret,
        google.refresh_token,
        clock=lambda: now[0],
    )
    first = oauth.access_token()
    now[0] += 3599 - 61
    assert oauth.access_token() == first and google.grants == 1
    now[0] += 2  # 59 s left: refresh
    second = oauth.access_token()
    assert second != first and google.grants == 2
    form = google.requests[0].body
    assert "grant_type=refresh_token" in form and f"refresh_token={google.refresh_token}" in form


def test_invalidate_forces_a_refresh(google):
    oauth = _oauth(google)
    first = oauth.access_token()
    oauth.invalidate()
    assert oauth.access_token() != first and google.grants == 2


def test_concurrent_callers_share_one_refresh(google):
    oauth = _oauth(google)
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(oauth.access_token())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert google.grants == 1 and len(set(tokens)) == 1


def test_refused_grant_is_one_line_without_secrets(google):
    oauth = _oauth(google, refresh_token="revoked-refresh-secret")
    with pytest.raises(GoogleOAuthError) as raised:
        oauth.access_token()
    message = str(raised.value)
    assert message == "Google OAuth refused the refresh token: invalid_grant (Bad Request)"
    assert "revoked-refresh-secret" not in message and google.client_secret not in message


def test_unreachable_endpoint_is_an_oauth_error():
    oauth = GoogleOAuth("http://127.0.0.1:9/token", "id", "secret", "refresh")
    with pytest.raises(GoogleOAuthError, match="ConnectionError"):
        oauth.access_token()


def test_repr_hides_secrets_and_tokens(google):
    oauth = _oauth(google)
    token = oauth.access_token()
    shown = repr(oauth)
    assert google.client_id in shown
    for secret in (token, google.client_secret, google.refresh_token):
        assert secret not in shown
