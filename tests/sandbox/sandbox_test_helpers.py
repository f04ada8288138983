"""HTTP helpers for the sandbox tests: vendor auth headers and pagination loops."""

from __future__ import annotations

from typing import Any

import requests

KLAVIYO = {"Authorization": "Klaviyo-API-Key sandbox-klaviyo-key", "revision": "2026-10-15"}
HUBSPOT = {"Authorization": "Bearer sandbox-hubspot-token"}
META = {"Authorization": "Bearer sandbox-meta-token"}
GOOGLE_DEVELOPER_TOKEN = "sandbox-google-token"


def google_headers(server: Any) -> dict[str, str]:
    """Google Ads headers with a fresh access token from the sandbox's OAuth endpoint."""
    r = requests.post(
        server.vendor_base_urls["google_oauth"] + "/token",
        data={
            "grant_type": "refresh_token",
            "client_id": server.world.spec.api_keys["google_client_id"],
            "client_secret": server.world.spec.api_keys["google_client_secret"],
            "refresh_token": server.world.spec.api_keys["google_refresh_token"],
        },
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}", "developer-token": GOOGLE_DEVELOPER_TOKEN}


def get(url: str, headers: dict[str, str], **params: Any) -> requests.Response:
    return requests.get(url, headers=headers, params=params or None, timeout=30)


def klaviyo_all(base: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Follow links.next to the end."""
    out: list[dict[str, Any]] = []
    url: str | None = base + path
    first: dict[str, Any] | None = params
    while url:
        r = requests.get(url, headers=KLAVIYO, params=first, timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["data"]
        url, first = body["links"]["next"], None
    return out


def hubspot_search_all(base: str, obj: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = None
    while True:
        payload = {**body, **({"after": after} if after else {})}
        r = requests.post(f"{base}/crm/v3/objects/{obj}/search", headers=HUBSPOT, json=payload, timeout=30)
        assert r.status_code == 200, r.text
        j = r.json()
        out += j["results"]
        if "paging" not in j:
            return out
        after = j["paging"]["next"]["after"]
