"""Budget endpoints over real HTTP: Meta v27.0 ad sets / CBO campaigns, Google Ads v26 campaign budgets, Google OAuth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sandbox_test_helpers import META, get, google_headers

from sandbox import SandboxServer, World, WorldSpec

CID = "1112223333"


def _world(**overrides: Any) -> World:
    spec = dict(
        clean=True, meta_campaigns=2, meta_cbo_campaigns=1, google_campaigns=3, google_shared_budget=True
    )
    return World(WorldSpec.preset("tiny", **{**spec, **overrides}))


@pytest.fixture
def srv() -> Iterator[SandboxServer]:
    with SandboxServer(_world()) as server:
        yield server


def _meta_post(server: SandboxServer, object_id: str, **data: str) -> requests.Response:
    return requests.post(
        f"{server.vendor_base_urls['meta']}/v27.0/{object_id}", headers=META, data=data, timeout=10
    )


def _error(r: requests.Response) -> tuple[int, int | None]:
    err = r.json()["error"]
    return err["code"], err.get("error_subcode")


# ---- Meta ---------------------------------------------------------------------------------------
def test_meta_retired_version_is_refused(srv: SandboxServer) -> None:
    r = get(f"{srv.vendor_base_urls['meta']}/v21.0/act_1234567890/insights", META)
    assert r.status_code == 400 and _error(r)[0] == 2635
    assert r.json()["error"]["message"].startswith(
        "(#2635) You are calling a deprecated version of the Ads API"
    )
    assert get(f"{srv.vendor_base_urls['meta']}/v24.0/act_1234567890/insights", META).status_code == 200


def test_meta_reads_adsets_campaigns_and_currency(srv: SandboxServer) -> None:
    base, w = srv.vendor_base_urls["meta"], srv.world
    assert get(f"{base}/v27.0/act_1234567890", META, fields="currency").json() == {
        "id": "act_1234567890",
        "currency": "USD",
    }
    fields = "id,name,campaign_id,daily_budget,status"
    first = get(f"{base}/v27.0/act_1234567890/adsets", META, fields=fields, limit="1").json()
    assert len(first["data"]) == 1 and "next" in first["paging"]
    rest = get(
        f"{base}/v27.0/act_1234567890/adsets", META, fields=fields, after=first["paging"]["cursors"]["after"]
    )
    adsets = first["data"] + rest.json()["data"]
    campaigns = get(
        f"{base}/v27.0/act_1234567890/campaigns", META, fields="id,name,daily_budget,status"
    ).json()
    cbo, plain = w.budget_entities("meta")[0], w.budget_entities("meta")[1]
    budgets = {c["id"]: c.get("daily_budget") for c in campaigns["data"]}
    assert budgets[cbo.entity_id] == str(round(cbo.initial_budget * 100))
    assert [v for k, v in budgets.items() if k != cbo.entity_id] == [None]  # its ad sets hold the budgets
    by_id = {a["id"]: a for a in adsets}
    assert len(by_id) == 4 and all("daily_budget" not in by_id[a] for a in cbo.adset_ids)
    assert by_id[plain.entity_id]["daily_budget"] == str(round(plain.initial_budget * 100))
    one = get(f"{base}/v27.0/{plain.entity_id}", META, fields="id,name,daily_budget,status").json()
    assert one == {
        "id": plain.entity_id,
        "name": plain.name,
        "daily_budget": str(round(plain.initial_budget * 100)),
        "status": "ACTIVE",
    }


def test_meta_budget_write_validate_only_and_refusals(srv: SandboxServer) -> None:
    w = srv.world
    cbo, adset = w.budget_entities("meta")[0], w.budget_entities("meta")[1]
    r = _meta_post(srv, adset.entity_id, daily_budget="2000", execution_options='["validate_only"]')
    assert r.status_code == 200 and r.json() == {"success": True} and w.writes == []
    assert _error(_meta_post(srv, cbo.adset_ids[0], daily_budget="2000")) == (100, None)
    assert "campaign budget optimisation" in _meta_post(srv, cbo.adset_ids[0], daily_budget="2000").text
    ad = w.ads.by_platform["meta"][adset.positions[0]]
    assert _error(_meta_post(srv, ad.ad_id, daily_budget="2000"))[0] == 100
    assert _error(_meta_post(srv, adset.entity_id, daily_budget="-5"))[0] == 100
    assert w.writes == []
    r = _meta_post(srv, adset.entity_id, daily_budget="2000")
    assert r.json() == {"success": True}
    assert w.entity_budgets("meta", w.clock_day)[adset.entity_id] == 20.0
    assert _meta_post(srv, cbo.entity_id, daily_budget="12345").status_code == 200
    assert w.entity_budgets("meta", w.clock_day)[cbo.entity_id] == 123.45


def test_meta_fifth_change_of_an_entity_on_one_day_is_refused(srv: SandboxServer) -> None:
    adset = srv.world.budget_entities("meta")[1]
    for cents in ("1000", "1100", "1200", "1300"):
        assert _meta_post(srv, adset.entity_id, daily_budget=cents).status_code == 200
    r = _meta_post(srv, adset.entity_id, daily_budget="1400")
    assert r.status_code == 400 and _error(r) == (17, 2446079)
    assert len(srv.world.writes) == 4
    other = srv.world.budget_entities("meta")[2]
    assert _meta_post(srv, other.entity_id, daily_budget="1000").status_code == 200  # counted per entity
    srv.world.advance(1)
    assert _meta_post(srv, adset.entity_id, daily_budget="1400").status_code == 200  # a new day


def test_meta_zero_offset_currency() -> None:
    with SandboxServer(_world(currency="JPY")) as server:
        adset = server.world.budget_entities("meta")[1]
        assert _meta_post(server, adset.entity_id, daily_budget="5000").status_code == 200
        assert server.world.entity_budgets("meta", server.world.clock_day)[adset.entity_id] == 5000.0
        one = get(f"{server.vendor_base_urls['meta']}/v27.0/{adset.entity_id}", META, fields="daily_budget")
        assert one.json()["daily_budget"] == "5000"


# ---- Google OAuth -------------------------------------------------------------------------------
def _token(server: SandboxServer, refresh_token: str) -> requests.Response:
    keys = server.world.spec.api_keys
    return requests.post(
        server.vendor_base_urls["google_oauth"] + "/token",
        data={
            "grant_type": "refresh_token",
            "client_id": keys["google_client_id"],
            "client_secret": keys["google_client_secret"],
            "refresh_token": refresh_token,
        },
        timeout=10,
    )


def _stream(
    server: SandboxServer, query: str, headers: dict[str, str] | None = None, version: str = "v26"
) -> Any:
    return requests.post(
        f"{server.vendor_base_urls['google_ads']}/{version}/customers/{CID}/googleAds:searchStream",
        headers=headers or google_headers(server),
        json={"query": query},
        timeout=10,
    )


def test_google_token_flow_and_expiry() -> None:
    with SandboxServer(_world(), google_token_lifetime=0.5) as server:
        bad = _token(server, "wrong")
        assert bad.status_code == 400 and bad.json() == {
            "error": "invalid_grant",
            "error_description": "Bad Request",
        }
        issued = _token(server, server.world.spec.api_keys["google_refresh_token"]).json()
        assert (
            issued["token_type"] == "Bearer" and issued["scope"] == "https://www.googleapis.com/auth/adwords"
        )
        headers = {
            "Authorization": f"Bearer {issued['access_token']}",
            "developer-token": "sandbox-google-token",
        }
        query = "SELECT campaign_budget.id FROM campaign_budget"
        assert _stream(server, query, headers).status_code == 200
        static = {**headers, "Authorization": "Bearer sandbox-google-token"}
        r = _stream(server, query, static)
        assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
        time.sleep(0.6)
        assert _stream(server, query, headers).status_code == 401
    with SandboxServer(_world()) as server:
        assert _token(server, server.world.spec.api_keys["google_refresh_token"]).json()["expires_in"] == 3599


# ---- Google Ads ---------------------------------------------------------------------------------
BUDGET_QUERY = (
    "SELECT campaign_budget.id, campaign_budget.name, campaign_budget.amount_micros, "
    "campaign_budget.explicitly_shared, campaign_budget.reference_count, campaign_budget.status "
    "FROM campaign_budget"
)


def test_google_retired_version_is_refused(srv: SandboxServer) -> None:
    r = _stream(srv, BUDGET_QUERY, version="v17")
    assert r.status_code == 404 and r.json()["error"]["status"] == "UNIMPLEMENTED"
    assert "not supported" in r.json()["error"]["message"]
    assert _stream(srv, BUDGET_QUERY, version="v23").status_code == 200


def test_google_reads_budgets_and_campaigns(srv: SandboxServer) -> None:
    shared, alone = srv.world.budget_entities("google_ads")
    rows = [r["campaignBudget"] for b in _stream(srv, BUDGET_QUERY).json() for r in b["results"]]
    assert rows[0] == {
        "resourceName": f"customers/{CID}/campaignBudgets/{shared.entity_id}",
        "id": shared.entity_id,
        "name": shared.name,
        "amountMicros": str(round(shared.initial_budget * 1_000_000)),
        "explicitlyShared": True,
        "referenceCount": "2",
        "status": "ENABLED",
    }
    assert rows[1]["explicitlyShared"] is False and rows[1]["referenceCount"] == "1"
    one = _stream(srv, BUDGET_QUERY + f" WHERE campaign_budget.id = {alone.entity_id}").json()
    assert [r["campaignBudget"]["id"] for r in one[0]["results"]] == [alone.entity_id]
    campaigns = _stream(
        srv, "SELECT campaign.id, campaign.name, campaign.campaign_budget FROM campaign"
    ).json()
    mapping = {r["campaign"]["id"]: r["campaign"]["campaignBudget"] for r in campaigns[0]["results"]}
    assert len(mapping) == 3
    assert {mapping[c] for c in shared.campaign_ids} == {
        f"customers/{CID}/campaignBudgets/{shared.entity_id}"
    }


def _mutate(server: SandboxServer, operations: list[dict[str, Any]], **flags: bool) -> requests.Response:
    return requests.post(
        f"{server.vendor_base_urls['google_ads']}/v26/customers/{CID}/campaignBudgets:mutate",
        headers=google_headers(server),
        json={"operations": operations, **flags},
        timeout=10,
    )


def _op(budget_id: str, micros: str) -> dict[str, Any]:
    name = f"customers/{CID}/campaignBudgets/{budget_id}"
    return {"update": {"resourceName": name, "amountMicros": micros}, "updateMask": "amount_micros"}


def test_google_budget_mutate_modes(srv: SandboxServer) -> None:
    w = srv.world
    shared, alone = (e.entity_id for e in w.budget_entities("google_ads"))
    good, odd = _op(shared, "20000000"), _op(alone, "20000001")  # not a multiple of 10000 micros
    assert _mutate(srv, [good], validateOnly=True).json() == {} and w.writes == []
    r = _mutate(srv, [good, odd], partialFailure=False)
    assert r.status_code == 400 and w.writes == [] and r.headers["request-id"]
    failure = r.json()["error"]["details"][0]
    assert failure["@type"] == "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure"
    assert failure["errors"][0]["location"]["fieldPathElements"] == [{"fieldName": "operations", "index": 1}]
    assert failure["errors"][0]["errorCode"] == {
        "campaignBudgetError": "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT"
    }
    r = _mutate(srv, [good, odd], partialFailure=True)
    body = r.json()
    assert r.status_code == 200 and body["results"] == [{"resourceName": good["update"]["resourceName"]}, {}]
    assert body["partialFailureError"]["code"] == 3
    assert (
        body["partialFailureError"]["details"][0]["errors"][0]["location"]["fieldPathElements"][0]["index"]
        == 1
    )
    assert [(x["target"], x["value"], x["entity_type"]) for x in w.writes] == [
        (shared, 20.0, "campaign_budget")
    ]
    assert _mutate(srv, [_op("999", "10000")]).status_code == 400
    assert _mutate(srv, [_op(alone, "0")]).status_code == 400
    assert _mutate(srv, [{**_op(alone, "10000"), "updateMask": "name"}]).status_code == 400
    assert _mutate(srv, [_op(alone, "30000000")]).json() == {
        "results": [{"resourceName": f"customers/{CID}/campaignBudgets/{alone}"}]
    }
    assert w.entity_budgets("google_ads", w.clock_day) == {shared: 20.0, alone: 30.0}
    ads = [
        _stream(srv, BUDGET_QUERY).json()[0]["results"][i]["campaignBudget"]["amountMicros"] for i in (0, 1)
    ]
    assert ads == ["20000000", "30000000"]


def test_google_jpy_billable_unit() -> None:
    with SandboxServer(_world(currency="JPY")) as server:
        budget = server.world.budget_entities("google_ads")[1].entity_id
        assert _mutate(server, [_op(budget, "1500000")]).status_code == 400
        assert _mutate(server, [_op(budget, "2000000")]).status_code == 200
