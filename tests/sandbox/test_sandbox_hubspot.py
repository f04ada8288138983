"""HubSpot imitation: list + search pagination, incremental filters, 10k cap, associations, pipelines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from sandbox_test_helpers import HUBSPOT, get, hubspot_search_all

from sandbox import SandboxServer, World, WorldSpec


def test_list_contacts_pages_and_shape(server: SandboxServer, truth: dict) -> None:
    base = server.vendor_base_urls["hubspot"]
    url, params, seen = (
        f"{base}/crm/v3/objects/contacts",
        {
            "limit": "100",
            "properties": "email,lifecyclestage,hs_analytics_source,hs_lifecyclestage_lead_date",
        },
        [],
    )
    while True:
        j = get(url, HUBSPOT, **params).json()
        seen += j["results"]
        if "paging" not in j:
            break
        url, params = j["paging"]["next"]["link"], {}
    assert len(seen) == len({r["id"] for r in seen}) == truth["record_counts"]["hubspot.contacts"]
    r = seen[0]
    assert set(r) >= {"id", "properties", "createdAt", "updatedAt", "archived"} and r["archived"] is False
    props = r["properties"]
    assert {"email", "lifecyclestage", "createdate", "lastmodifieddate", "hs_analytics_source"} <= set(props)
    assert props["createdate"].endswith(".000Z")
    stages = {x["properties"]["lifecyclestage"] for x in seen}
    assert {"lead", "marketingqualifiedlead", "customer"} <= stages
    assert get(f"{base}/crm/v3/objects/contacts", HUBSPOT, limit="101").status_code == 400


def test_deals_search_incremental_and_associations(server: SandboxServer, truth: dict) -> None:
    base = server.vendor_base_urls["hubspot"]
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0"}]}
        ],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["dealname", "amount", "dealstage", "hs_date_entered_closedwon", "hs_lastmodifieddate"],
        "limit": 200,
    }
    deals = hubspot_search_all(base, "deals", body)
    assert len(deals) == truth["record_counts"]["hubspot.deals"]
    mods = [d["properties"]["hs_lastmodifieddate"] for d in deals]
    assert mods == sorted(mods)
    assert all(isinstance(v, str) or v is None for d in deals for v in d["properties"].values())
    cut = mods[len(mods) // 2]
    from sandbox.util import parse_datetime

    ms = str(int(parse_datetime(cut) * 1000))
    body["filterGroups"][0]["filters"][0]["value"] = ms
    later = hubspot_search_all(base, "deals", body)
    assert 0 < len(later) < len(deals) and all(d["properties"]["hs_lastmodifieddate"] >= cut for d in later)
    r = requests.post(
        f"{base}/crm/v4/associations/deals/contacts/batch/read",
        headers=HUBSPOT,
        json={"inputs": [{"id": d["id"]} for d in deals[:5]]},
        timeout=10,
    ).json()
    assert r["status"] == "COMPLETE" and len(r["results"]) == 5
    to = r["results"][0]["to"][0]
    assert isinstance(to["toObjectId"], int) and to["associationTypes"][0]["typeId"] == 3
    pipes = get(f"{base}/crm/v3/pipelines/deals", HUBSPOT).json()["results"]
    assert [s["id"] for s in pipes[0]["stages"]] == [
        "appointmentscheduled",
        "qualifiedtobuy",
        "contractsent",
        "closedwon",
        "closedlost",
    ]
    assert pipes[0]["stages"][3]["metadata"] == {"isClosed": "true", "probability": "1.0"}


@pytest.fixture
def capped_server() -> Iterator[SandboxServer]:
    with SandboxServer(World(WorldSpec.preset("tiny", hubspot_search_cap=50))) as srv:
        yield srv


def test_search_cap_gives_400_and_restart_from_timestamp_works(capped_server: SandboxServer) -> None:
    base = capped_server.vendor_base_urls["hubspot"]
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}]}
        ],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "limit": 25,
    }
    first = requests.post(
        f"{base}/crm/v3/objects/contacts/search", headers=HUBSPOT, json=body, timeout=10
    ).json()
    total = first["total"]
    assert total > 50
    r = requests.post(
        f"{base}/crm/v3/objects/contacts/search", headers=HUBSPOT, json={**body, "after": "50"}, timeout=10
    )
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    from sandbox.util import parse_datetime

    seen: set[str] = set()
    since = "0"
    while True:  # restart the search from the last seen timestamp, as the contract says
        body["filterGroups"][0]["filters"][0]["value"] = since
        results, after = [], None
        while True:
            j = requests.post(
                f"{base}/crm/v3/objects/contacts/search",
                headers=HUBSPOT,
                json={**body, **({"after": after} if after else {})},
                timeout=10,
            ).json()
            results += j["results"]
            if "paging" not in j or int(j["paging"]["next"]["after"]) + 25 > 50:
                break
            after = j["paging"]["next"]["after"]
        new = {x["id"] for x in results} - seen
        seen |= new
        if not new:
            break
        since = str(int(parse_datetime(results[-1]["properties"]["lastmodifieddate"]) * 1000))
    assert len(seen) == total


def test_auth(server: SandboxServer) -> None:
    r = get(server.vendor_base_urls["hubspot"] + "/crm/v3/objects/contacts", {"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["category"] == "INVALID_AUTHENTICATION"


def test_a_kept_search_answers_as_a_fresh_one_across_pages_queries_and_days() -> None:
    """The API keeps its last search per object type (`_search_order`); every page must equal what a
    fresh API answers, after a new query and after the clock moves."""
    import json

    from sandbox.vendors.base import Request
    from sandbox.vendors.hubspot import MODIFIED, HubSpotApi

    world = World(WorldSpec.preset("tiny"))
    kept = HubSpotApi(world)

    def body(obj: str, since_ms: int, after: int, direction: str = "ASCENDING") -> bytes:
        return json.dumps(
            {
                "filterGroups": [
                    {"filters": [{"propertyName": MODIFIED[obj], "operator": "GTE", "value": str(since_ms)}]}
                ],
                "sorts": [{"propertyName": MODIFIED[obj], "direction": direction}],
                "properties": ["email"],
                "limit": 50,
                "after": str(after),
            }
        ).encode()

    def page(api: HubSpotApi, obj: str, payload: bytes) -> dict:
        request = Request("POST", f"/crm/v3/objects/{obj}/search", {}, {}, payload, "http://sandbox/hubspot")
        return api.search(request, obj).body

    since = (world.clock_ts - 30 * 86400) * 1000
    answers = 0
    for days in (0, 3):
        world.advance(days=days)
        for obj in ("contacts", "deals"):
            # the first query after the clock moves repeats the last one before it; the
            # descending one follows the ascending one with the same filter
            for payload in (
                body(obj, since, 0, "DESCENDING"),
                body(obj, 0, 0),
                body(obj, since, 0),
                body(obj, since, 50),
                body(obj, since, 0, "DESCENDING"),
            ):
                fresh = page(HubSpotApi(world), obj, payload)
                assert "results" in fresh, fresh
                assert page(kept, obj, payload) == fresh
                answers += len(fresh["results"])
    assert answers > 100
