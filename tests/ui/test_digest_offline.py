"""The demo's weekly digest in headless chromium with the network off: every request that is not a
local file is aborted, and the charts must still be drawn (plotly.js comes from beside the page).
Also: the digest names no entity by a bare id (issue 12, "Done when")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.ui

# The id shapes the sandbox (like the vendors) uses: Klaviyo ULIDs, Meta/Google numeric ids, sha256
# contact ids and Loopwise's own hex action and incident ids.
BARE_IDS = (
    re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b"),
    re.compile(r"\b\d{9,}\b"),
    re.compile(r"\b[0-9a-f]{20,}\b"),
)
CHART_TIMEOUT_MS = 30_000


def _latest_digest(home: Path) -> Path:
    pages = sorted((home / "reports" / "digest").glob("*-W*.html"))
    assert pages, f"the demo wrote no digest under {home / 'reports' / 'digest'}"
    return pages[-1]


def test_the_demo_digest_draws_its_charts_with_the_network_off(
    browser: Any, demo_home: Path, ui_artifacts: Path
) -> None:
    digest = _latest_digest(demo_home)
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    attempted: list[str] = []

    def offline(route: Any) -> None:
        url = route.request.url
        if url.startswith("file:"):
            route.continue_()
        else:
            attempted.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", offline)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"{error.name}: {error.message}"))
    try:
        page.goto(digest.as_uri())
        charts = page.locator("div.chart")
        expected = charts.count()
        assert expected >= 2, "the demo digest should have its budget and experiment charts"
        page.wait_for_function(
            f"document.querySelectorAll('div.chart .js-plotly-plot .main-svg').length >= {expected}",
            timeout=CHART_TIMEOUT_MS,
        )
        for index in range(expected):
            chart = charts.nth(index)
            name = chart.get_attribute("data-chart")
            assert chart.locator(".main-svg").count() >= 1, name
            # a drawn trace: bars or markers inside plotly's plot layers
            assert chart.locator("g.trace path, g.trace .point").count() > 0, name
        page.screenshot(path=str(ui_artifacts / "digest_offline.png"), full_page=True)
        text = page.inner_text("body")
    finally:
        context.close()
    assert not errors, errors
    assert not attempted, f"the digest tried to reach the network: {attempted[:5]}"
    for section in ("What needs your decision", "Changes made and their measured impact", "Budget moves"):
        assert section in text
    for pattern in BARE_IDS:
        assert not pattern.findall(text), (pattern.pattern, pattern.findall(text)[:5])


def test_the_demo_digest_markdown_names_no_entity_by_a_bare_id(demo_home: Path) -> None:
    markdown = _latest_digest(demo_home).with_suffix(".md").read_text()
    assert markdown.startswith("# Loopwise weekly digest, ")
    for pattern in BARE_IDS:
        assert not pattern.findall(markdown), (pattern.pattern, pattern.findall(markdown)[:5])
    outbox = sorted((demo_home / "outbox").glob("digest-*_digest.json"))
    assert outbox, "the demo's digest was not sent to the local outbox"
