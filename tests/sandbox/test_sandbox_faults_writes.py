"""Fault injection, determinism across servers, writes that change the future, control endpoints."""

from __future__ import annotations

import contextlib
import time

import pytest
import requests
from sandbox_test_helpers import HUBSPOT, KLAVIYO, META, get, google_headers

from sandbox import FaultConfig, SandboxServer, World, WorldSpec


def test_throttling_per_vendor_shapes() -> None:
    with SandboxServer(
        World(WorldSpec.preset("tiny")), faults=FaultConfig(rate_limit_every=2, retry_after_seconds=3)
    ) as srv:
        urls = srv.vendor_base_urls
        k = [get(urls["klaviyo"] + "/api/metrics", KLAVIYO) for _ in range(2)]
        assert k[0].status_code == 200 and k[1].status_code == 429 and k[1].headers["Retry-After"] == "3"
        assert k[1].json()["errors"][0]["code"] == "throttled"
        h = [get(urls["hubspot"] + "/crm/v3/pipelines/deals", HUBSPOT) for _ in range(2)]
        assert (
            h[1].status_code == 429
            and h[1].json()["errorType"] == "RATE_LIMIT"
            and "Retry-After" in h[1].headers
        )
        m = [get(urls["meta"] + "/v27.0/act_1234567890/ads", META) for _ in range(2)]
        err = m[1].json()["error"]
        assert m[1].status_code == 400 and err["code"] == 17 and err["error_subcode"] == 2446079
        assert err["is_transient"] is True and "Retry-After" not in m[1].headers
        g = [
            requests.post(
                urls["google_ads"] + "/v26/customers/1112223333/googleAds:searchStream",
                headers=google_headers(srv),
                json={"query": "SELECT ad_group_ad.ad.id FROM ad_group_ad"},
                timeout=10,
            )
            for _ in range(2)
        ]
        assert g[1].status_code == 429 and g[1].json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert ("GET", "/klaviyo/api/metrics", 429) in srv.request_log


def test_errors_and_timeouts_are_deterministic() -> None:
    def run() -> list[int]:
        with SandboxServer(
            World(WorldSpec.preset("tiny")), faults=FaultConfig(error_rate=0.4, seed=3)
        ) as srv:
            return [
                get(srv.vendor_base_urls["hubspot"] + "/crm/v3/pipelines/deals", HUBSPOT).status_code
                for _ in range(12)
            ]

    a, b = run(), run()
    assert a == b and set(a) - {200} and set(a) <= {200, 500, 502, 503}
    with SandboxServer(
        World(WorldSpec.preset("tiny")), faults=FaultConfig(timeout_rate=1.0, timeout_seconds=0.6)
    ) as srv:
        t = time.perf_counter()
        with contextlib.suppress(requests.ReadTimeout):
            get(srv.vendor_base_urls["hubspot"] + "/crm/v3/pipelines/deals", HUBSPOT)
        assert time.perf_counter() - t >= 0.5
        with pytest.raises(requests.ReadTimeout):  # a client with a shorter timeout gives up
            requests.get(srv.vendor_base_urls["klaviyo"] + "/api/metrics", headers=KLAVIYO, timeout=0.2)


def test_byte_identical_responses_across_servers() -> None:
    requests_to_make = [
        (
            "klaviyo",
            "/api/events",
            {"page[size]": "300", "filter": "greater-than(datetime,2026-01-15T00:00:00Z)"},
        ),
        ("klaviyo", "/api/profiles", {"page[size]": "50", "additional-fields[profile]": "subscriptions"}),
        ("hubspot", "/crm/v3/objects/deals", {"limit": "50"}),
        (
            "meta",
            "/v27.0/act_1234567890/insights",
            {"time_range": '{"since":"2026-01-05","until":"2026-02-01"}'},
        ),
    ]
    headers = {"klaviyo": KLAVIYO, "hubspot": HUBSPOT, "meta": META}
    bodies = []
    for _ in range(2):
        with SandboxServer(World(WorldSpec.preset("tiny"))) as srv:
            out = []
            for vendor, path, params in requests_to_make:
                r = get(srv.vendor_base_urls[vendor] + path, headers[vendor], **params)
                assert r.status_code == 200
                out.append(r.content.replace(srv.base_url.encode(), b"BASE"))
            out.append(
                requests.post(
                    srv.vendor_base_urls["google_ads"] + "/v26/customers/1112223333/googleAds:searchStream",
                    headers=google_headers(srv),
                    timeout=10,
                    json={
                        "query": "SELECT ad_group_ad.ad.id, metrics.conversions FROM ad_group_ad "
                        "WHERE segments.date DURING LAST_30_DAYS"
                    },
                ).content
            )
            bodies.append(out)
    assert bodies[0] == bodies[1]
