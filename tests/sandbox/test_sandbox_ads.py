"""Meta and Google Ads imitations: insights/searchStream shapes, late conversions, limits, auth."""

from __future__ import annotations

import json

import requests
from sandbox_test_helpers import META, get, google_headers

from sandbox import SandboxServer, World

GAQL = (
    "SELECT campaign.id, campaign.name, ad_group.id, ad_group.name, ad_group_ad.ad.id, ad_group_ad.ad.name, "
    "ad_group_ad.status, metrics.cost_micros, metrics.clicks, metrics.impressions, metrics.conversions, "
    "metrics.conversions_value, segments.date, customer.currency_code FROM ad_group_ad "
    "WHERE segments.date BETWEEN '{a}' AND '{b}'"
)


def _insights(base: str, since: str, until: str, **extra: str) -> list[dict]:
    url = f"{base}/v27.0/act_1234567890/insights"
    params = {
        "level": "ad",
        "time_increment": "1",
        "limit": "50",
        "time_range": json.dumps({"since": since, "until": until}),
        **extra,
    }
    rows = []
    while url:
        r = requests.get(url, headers=META, params=params, timeout=10)
        assert r.status_code == 200, r.text
        j = r.json()
        rows += j["data"]
        url, params = j["paging"].get("next"), None
        assert set(j["paging"]["cursors"]) == {"before", "after"}
    return rows


def test_meta_insights_shape_and_pagination(server: SandboxServer, truth: dict) -> None:
    rows = _insights(server.vendor_base_urls["meta"], "2026-01-01", "2026-12-31")
    keys = [(r["ad_id"], r["date_start"]) for r in rows]
    dups = {d["record_id"] for d in truth["duplicates"] if d["resource"] == "insights"}
    assert len(set(keys)) == truth["record_counts"]["meta.insights"]
    assert len(keys) - len(set(keys)) == len(dups)
    r = rows[0]
    assert set(r) >= {
        "account_id",
        "campaign_id",
        "campaign_name",
        "adset_id",
        "adset_name",
        "ad_id",
        "ad_name",
        "date_start",
        "date_stop",
        "spend",
        "impressions",
        "clicks",
        "account_currency",
        "actions",
    }
    assert isinstance(r["spend"], str) and isinstance(r["clicks"], str) and r["date_start"] == r["date_stop"]
    assert r["actions"][0]["action_type"] == "link_click" and isinstance(r["actions"][0]["value"], str)
    purchases = [a for x in rows for a in x.get("action_values", [])]
    assert purchases and purchases[0]["action_type"] == "offsite_conversion.fb_pixel_purchase"
    few = _insights(server.vendor_base_urls["meta"], "2026-01-10", "2026-01-10", fields="spend,ad_id")
    assert few and all(
        set(x) - {"attribution_setting", "quality_ranking"} == {"spend", "ad_id", "date_start", "date_stop"}
        for x in few
    )


def test_meta_limits_auth_and_ads(server: SandboxServer) -> None:
    base = server.vendor_base_urls["meta"]
    r = get(f"{base}/v27.0/act_1234567890/insights", META, limit="501")
    assert r.status_code == 400 and r.json()["error"]["code"] == 100
    r = get(f"{base}/v27.0/act_1234567890/insights", {}, access_token="wrong")
    assert r.status_code == 401 and r.json()["error"]["code"] == 190
    assert get(f"{base}/v27.0/act_1234567890/ads", {}, access_token="sandbox-meta-token").status_code == 200
    ads = get(f"{base}/v27.0/act_1234567890/ads", META, limit="500").json()["data"]
    assert len(ads) == 4 and ads[0]["status"] == "ACTIVE"
    assert set(ads[0]) == {
        "id",
        "name",
        "adset_id",
        "campaign_id",
        "status",
        "effective_status",
        "created_time",
        "updated_time",
    }


def test_meta_ads_have_no_daily_budget(server: SandboxServer) -> None:
    """Budgets live on ad sets or CBO campaigns: an ad node has no daily_budget field, as at Meta."""
    base = server.vendor_base_urls["meta"]
    r = get(f"{base}/v27.0/act_1234567890/ads", META, fields="id,status,daily_budget")
    error = r.json()["error"]
    assert r.status_code == 400 and error["code"] == 100
    assert error["message"] == "(#100) Tried accessing nonexisting field (daily_budget) on node type (Ad)"
    entities = [
        *get(f"{base}/v27.0/act_1234567890/adsets", META, fields="id,daily_budget").json()["data"],
        *get(f"{base}/v27.0/act_1234567890/campaigns", META, fields="id,daily_budget").json()["data"],
    ]
    assert any(e.get("daily_budget", "").isdigit() for e in entities)  # an ad set or campaign holds it


def _stream(server: SandboxServer, query: str, headers: dict | None = None) -> requests.Response:
    return requests.post(
        f"{server.vendor_base_urls['google_ads']}/v26/customers/1112223333/googleAds:searchStream",
        headers=headers or google_headers(server),
        json={"query": query},
        timeout=10,
    )


def test_google_search_stream_shape(server: SandboxServer, truth: dict) -> None:
    r = _stream(server, GAQL.format(a="2026-01-01", b="2026-12-31"))
    assert r.status_code == 200
    batches = r.json()
    assert isinstance(batches, list) and {"results", "fieldMask", "requestId"} <= set(batches[0])
    rows = [x for b in batches for x in b["results"]]
    assert len(rows) == truth["record_counts"]["google_ads.ad_group_ad"]
    x = rows[0]
    assert x["campaign"]["resourceName"].startswith("customers/1112223333/campaigns/")
    assert x["adGroupAd"]["ad"]["resourceName"].startswith("customers/1112223333/ads/")
    assert isinstance(x["metrics"]["costMicros"], str) and isinstance(x["metrics"]["clicks"], str)
    assert isinstance(x["metrics"]["conversions"], float) and x["customer"]["currencyCode"] == "USD"
    assert x["adGroupAd"]["status"] == "ENABLED" and "segments" in x
    only = _stream(
        server,
        "SELECT ad_group_ad.ad.id, metrics.clicks FROM ad_group_ad "
        "WHERE segments.date >= '2026-01-10' AND segments.date <= '2026-01-11'",
    ).json()
    assert only[0]["results"] and set(only[0]["results"][0]) == {"adGroupAd", "metrics"}
    assert set(only[0]["results"][0]["metrics"]) == {"clicks"}
    assert _stream(server, "SELECT segments.date FROM ad_group_ad").status_code == 400
    assert _stream(server, "SELECT metrics.bogus FROM ad_group_ad").status_code == 400
    r = _stream(server, GAQL.format(a="2026-01-01", b="2026-01-02"), {"Authorization": "Bearer x"})
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"


def test_conversions_arrive_late_over_seven_days(tiny_world: World) -> None:
    w = World(tiny_world.spec)
    day = w.clock_day - 1
    seen = []
    for _ in range(9):
        conv, value = w.ad_day("meta", day).visible(w.clock_day - day)
        seen.append(int(conv.sum()))
        w.advance(1)
    assert seen == sorted(seen) and seen[0] < seen[-1] and seen[7] == seen[8]
