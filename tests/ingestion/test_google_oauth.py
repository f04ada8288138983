"""Google OAuth refresh-token flow against the sandbox's token endpoint, and one refresh on 401."""

from __future__ import annotations

import pytest

from core.google_oauth import GoogleOAuth, GoogleOAuthError
from ingestion.config import SourceSettings, sandbox_source_settings
from ingestion.google_ads import google_ads_client
from sandbox import SandboxServer, World, WorldSpec


@pytest.fixture
def server():
    with SandboxServer(World(WorldSpec.preset("tiny", clean=True))) as srv:
        yield srv


def _oauth(server: SandboxServer, refresh_token: str | None = None) -> GoogleOAuth:
    keys = server.world.spec.api_keys
    return GoogleOAuth(
        server.vendor_base_urls["google_oauth"] + "/token",
        keys["google_client_id"],
        keys["google_client_secret"],
        refresh_token or keys["google_refresh_token"],
    )


def test_access_token_is_cached_until_invalidated(server: SandboxServer) -> None:
    oauth = _oauth(server)
    first = oauth.access_token()
    assert oauth.access_token() == first and server.google_oauth.is_valid(first)
    oauth.invalidate()
    assert oauth.access_token() != first
    assert server.world.spec.api_keys["google_client_secret"] not in repr(oauth)


def test_refused_grant_is_one_line_without_secrets(server: SandboxServer) -> None:
    with pytest.raises(GoogleOAuthError) as caught:
        _oauth(server, refresh_token="revoked-token").access_token()
    assert "invalid_grant" in str(caught.value) and "revoked-token" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_client_refreshes_once_after_a_401(server: SandboxServer) -> None:
    settings = sandbox_source_settings(server, server.world)
    client = google_ads_client(settings)
    query = {"query": "SELECT campaign_budget.id FROM campaign_budget"}
    path = f"/customers/{settings.google_ads_customer_id}/googleAds:searchStream"
    assert client.post(path, json=query).status_code == 200
    server.google_oauth._expiry.clear()  # the server forgets every token: the cached one now gets 401
    assert client.post(path, json=query).status_code == 200
    assert [s for m, p, s in server.request_log if p.endswith("searchStream")] == [200, 401, 200]


def test_from_env_reads_google_oauth_names_and_hides_secrets() -> None:
    settings = SourceSettings.from_env(
        {
            "GOOGLE_ADS_REFRESH_TOKEN": "refresh-secret",
            "GOOGLE_ADS_CLIENT_ID": "client-1",
            "GOOGLE_ADS_CLIENT_SECRET": "client-secret",
        }
    )
    assert settings.google_ads_token_url == "https://oauth2.googleapis.com/token"
    assert (settings.google_ads_client_id, settings.google_ads_refresh_token) == (
        "client-1",
        "refresh-secret",
    )
    assert "refresh-secret" not in repr(settings) and "client-secret" not in repr(settings)
    assert {"refresh-secret", "client-secret"} <= set(settings.secrets())
    assert settings.google_ads_api_version == "v26" and settings.meta_api_version == "v27.0"
