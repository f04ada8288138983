"""Planted mess: the malformed records served match truth()["malformed"] exactly; unexpected fields appear."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests
from sandbox_test_helpers import HUBSPOT, KLAVIYO, google_headers, klaviyo_all

from sandbox import SandboxServer
from sandbox.util import parse_datetime


def _bad_event(e: dict) -> str | None:
    if "id" not in e:
        return "missing_id"
    if "profile" not in e["relationships"]:
        return "missing_profile_relationship"
    if e["attributes"]["timestamp"] is None:
        return "unparseable_timestamp"
    if isinstance(e["attributes"]["event_properties"].get("$value", 0.0), str):
        return "non_numeric_metric_string"
    return None


def test_served_malformed_records_match_truth(server: SandboxServer, truth: dict) -> None:
    expected = {(m["vendor"], m["resource"], m["record_id"], m["kind"]) for m in truth["malformed"]}
    found = set()
    urls = server.vendor_base_urls
    for e in klaviyo_all(urls["klaviyo"], "/api/events", **{"page[size]": "1000"}):
        kind = _bad_event(e)
        if kind:
            found.add(("klaviyo", "events", e.get("id") or e["attributes"]["uuid"], kind))
    for p in klaviyo_all(urls["klaviyo"], "/api/profiles", **{"page[size]": "100"}):
        email = p["attributes"]["email"]
        if email.count("@") != 1:
            found.add(("klaviyo", "profiles", p["id"], "invalid_email"))
    for obj, props in (("contacts", "email"), ("deals", "amount,createdate")):
        after = "0"
        while after:
            j = requests.get(
                f"{urls['hubspot']}/crm/v3/objects/{obj}",
                headers=HUBSPOT,
                timeout=10,
                params={"limit": "100", "after": after, "properties": props},
            ).json()
            for r in j["results"]:
                p = r["properties"]
                if obj == "contacts" and "@" not in p["email"]:
                    found.add(("hubspot", "contacts", r["id"], "invalid_email"))
                if obj == "deals":
                    try:
                        float(p["amount"])
                    except ValueError:
                        found.add(("hubspot", "deals", r["id"], "non_numeric_metric_string"))
                    try:
                        parse_datetime(p["createdate"])
                    except ValueError:
                        found.add(("hubspot", "deals", r["id"], "unparseable_timestamp"))
            after = j.get("paging", {}).get("next", {}).get("after")
    url = f"{urls['meta']}/v27.0/act_1234567890/insights"
    params: dict | None = {"limit": "500", "access_token": "sandbox-meta-token", "date_preset": "maximum"}
    while url:
        j = requests.get(url, params=params, timeout=10).json()
        for r in j["data"]:
            if r["spend"].startswith("-"):
                found.add(("meta", "insights", f"{r['ad_id']}:{r['date_start']}", "negative_spend"))
            if not r["impressions"].isdigit():
                found.add(
                    ("meta", "insights", f"{r['ad_id']}:{r['date_start']}", "non_numeric_metric_string")
                )
        url, params = j["paging"].get("next"), None
    batches = requests.post(
        f"{urls['google_ads']}/v26/customers/1112223333/googleAds:searchStream",
        headers=google_headers(server),
        json={
            "query": "SELECT ad_group_ad.ad.id, segments.date, metrics.cost_micros FROM "
            "ad_group_ad WHERE segments.date >= '2026-01-01'"
        },
        timeout=10,
    ).json()
    for b in batches:
        for r in b["results"]:
            if r["metrics"]["costMicros"].startswith("-"):
                found.add(
                    (
                        "google_ads",
                        "ad_group_ad",
                        f"{r['adGroupAd']['ad']['id']}:{r['segments']['date']}",
                        "negative_spend",
                    )
                )
    assert found == expected
    assert {m[0] for m in expected} >= {"klaviyo", "hubspot"}


def test_unexpected_fields_are_served(server: SandboxServer) -> None:
    events = klaviyo_all(server.vendor_base_urls["klaviyo"], "/api/events", **{"page[size]": "1000"})
    known = {"timestamp", "datetime", "uuid", "event_properties"}
    assert any(set(e["attributes"]) - known for e in events)


def test_cli_truth_and_state(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    cmd = [
        sys.executable,
        "-m",
        "sandbox",
        "advance",
        "--preset",
        "tiny",
        "--state",
        str(tmp_path),
        "--days",
        "2",
    ]
    subprocess.run(cmd, check=True, cwd=root, capture_output=True, timeout=60)
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["advanced_days"] == 2 and state["spec"]["base_preset"] == "tiny"
    out = tmp_path / "truth"
    subprocess.run(
        [sys.executable, "-m", "sandbox", "truth", "--state", str(tmp_path), "--out", str(out)],
        check=True,
        cwd=root,
        capture_output=True,
        timeout=60,
    )
    assert json.loads((out / "world.json").read_text())["clock_day"] == 32
    assert KLAVIYO
