"""The weekly digest on a small warehouse: its sections, human names (never a bare id), the
approvals waiting for a human, its period, and files that draw their charts offline."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pytest
from digest_warehouse import (
    CAMPAIGN,
    CONTACT,
    GOOGLE_BUDGET,
    NAMED_AD,
    NAMED_ADSET,
    NAMES,
    NOW,
    UNNAMED_ADSET,
)

from decision_engine.digest import SectionCode, bare_ids, build_digest, period_for, run_weekly_digest
from decision_engine.digest.build import impact_text
from decision_engine.digest.names import NameBook

# The id shapes of the vendors the sandbox imitates, written out here independently of the digest's
# own patterns: Klaviyo ULIDs (26 characters), Meta and Google numeric ids, sha256 contact ids.
ULID = re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b")
NUMERIC_ID = re.compile(r"\b\d{9,}\b")
HEX_ID = re.compile(r"\b[0-9a-f]{20,}\b")


def visible_text(html: str) -> str:
    """What a reader sees: the page without scripts, styles and tags."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def assert_no_bare_ids(text: str) -> None:
    for pattern in (ULID, NUMERIC_ID, HEX_ID):
        assert not pattern.findall(text), (pattern.pattern, pattern.findall(text)[:5])
    assert not bare_ids(text)


def test_every_section_in_order_in_markdown_and_html(digest_run) -> None:
    markdown = digest_run.files.markdown.read_text()
    html = digest_run.files.html.read_text()
    titles = [section.title for section in digest_run.digest.sections]
    assert [section.code for section in digest_run.digest.sections] == list(SectionCode)
    positions = [markdown.index(f"## {title}") for title in titles]
    assert positions == sorted(positions)
    for code in SectionCode:
        assert f'<section id="{code.value}">' in html
    assert digest_run.files.markdown.name == "2026-W18.md"
    assert digest_run.files.html.name == "2026-W18.html"


def test_entities_are_named_and_no_bare_id_is_printed(digest_run) -> None:
    markdown = digest_run.files.markdown.read_text()
    html_text = visible_text(digest_run.files.html.read_text())
    for text in (markdown, html_text):
        assert_no_bare_ids(text)
        for name in (NAMES["adset"], NAMES["ad"], NAMES["campaign"], NAMES["flow"], NAMES["google_budget"]):
            assert name in text, name
        assert NAMES["subject_b"] in text  # the rolled-out variant by its subject line
        assert "{%" not in text and "lw_arm_" not in text  # as the marketer wrote it, no test's template
        assert "an ad set with no name in the export" in text  # never its id
        assert "subject style quick read" in text  # Loopwise's own test, by its factor and level
    for entity_id in (NAMED_ADSET, UNNAMED_ADSET, GOOGLE_BUDGET, NAMED_AD, CAMPAIGN):
        assert entity_id not in markdown and entity_id not in html_text


def test_pending_approvals_are_listed_oldest_first_with_context_and_age(digest_run) -> None:
    section = digest_run.digest.section(SectionCode.NEEDS_DECISION)
    assert len(section.lines) == 2 == len(digest_run.digest.pending)
    budget, rollout = section.lines
    assert budget.startswith("Raise the daily budget of an ad set with no name in the export on Meta")
    assert "100.00 to 118.00 USD (+18.0%)" in budget
    assert "above the 10% that applies on its own" in budget  # the policy's reason
    assert "waiting 3 days" in budget
    assert NAMES["campaign"] in rollout and "waiting 1 day" in rollout and "lapses on Wed 06 May" in rollout
    assert "2 change(s) wait for approval" in section.note
    assert digest_run.digest.headline[0] == "2 decision(s) wait for you."


def test_changes_experiments_budget_and_incidents_read_from_the_results(digest_run) -> None:
    digest = digest_run.digest
    (change,) = digest.section(SectionCode.CHANGES).lines
    assert change.startswith(f"Daily budget of Meta ad set “{NAMES['adset']}”: 100.00 -> 105.00 USD (+5.0%)")
    assert "on its own under the policy" in change and "expected +21.50 a day in revenue" in change
    # the 41% move on the Google budget, beyond the policy's hard cap, is counted, not listed
    assert (
        digest.section(SectionCode.CHANGES).note
        == "Also this week: 1 rejected (`loopwise actions list` shows them)."
    )
    experiments = digest.section(SectionCode.EXPERIMENTS)
    assert experiments.note.startswith("2 running, 1 concluded this week, 1 concluded before.")
    assert any(
        line.startswith("Concluded: The split test in step 2 of flow “Welcome Nurture”")
        for line in experiments.lines
    )
    assert any("40% of the planned sample so far" in line for line in experiments.lines)
    assert any("needs a human" in line and "18:00" in line for line in experiments.lines)
    budget = digest.section(SectionCode.BUDGET)
    assert "715.00 a day" in budget.note and "700.00 now (+15.00)" in budget.note
    assert budget.lines[0].startswith(
        f"Google Ads campaign budget “{NAMES['google_budget']}”: 640.00 -> 600.00"
    )
    incidents = digest.section(SectionCode.INCIDENTS)
    (incident,) = incidents.lines
    assert incident.startswith(f"Runaway ad spend (critical) on Meta ad “{NAMES['ad']}”")
    assert incident.endswith("How it ended: still open.")
    assert incidents.note == "1 earlier incident(s) were already resolved before this week."


def test_html_loads_plotly_from_its_own_directory_and_draws_three_charts(digest_run) -> None:
    html = digest_run.files.html.read_text()
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    assert sources == ["plotly.min.js"]
    assert (digest_run.files.html.parent / "plotly.min.js").stat().st_size > 1_000_000
    assert "cdn.plot.ly" not in html and "https://cdn" not in html
    assert [chart.name for chart in digest_run.digest.charts] == ["impact", "budget", "experiments"]
    for name in ("impact", "budget", "experiments"):
        assert f'id="chart-{name}"' in html


def test_chart_labels_are_names(digest_run) -> None:
    labels = {
        chart.name: [str(label) for trace in chart.figure.data for label in trace.y]
        for chart in digest_run.digest.charts
    }
    assert labels["impact"] == [NAMES["adset"]]
    assert set(labels["budget"]) == {
        f"Meta: {NAMES['adset']}",
        "Meta: an ad set with no name in the export",
        f"Google Ads: {NAMES['google_budget']}",
    }
    assert f"{NAMES['flow']}, step 2" in labels["experiments"]
    assert NAMES["campaign"] in labels["experiments"]
    for label in (label for chart in labels.values() for label in chart):
        assert_no_bare_ids(label)


def test_an_empty_warehouse_gives_a_digest_that_says_so(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    run = run_weekly_digest(con, NOW, tmp_path / "reports")
    markdown = run.files.markdown.read_text()
    for section in run.digest.sections:
        assert section.lines == () and section.empty in markdown
    assert run.digest.charts == [] and "plotly.min.js" not in run.files.html.read_text()
    assert not (tmp_path / "reports" / "plotly.min.js").exists()


def test_the_period_is_the_seven_days_before_the_run_in_the_account_time_zone() -> None:
    berlin = period_for(datetime(2026, 5, 4, 5, tzinfo=UTC), "Europe/Berlin")  # Monday 07:00 in Berlin
    assert berlin.week == "2026-W18"
    assert berlin.contains(datetime(2026, 5, 3, 21, 59, tzinfo=UTC))  # Sunday 23:59 Berlin
    assert not berlin.contains(datetime(2026, 4, 27, 5, tzinfo=UTC))  # the start itself is last week's
    assert berlin.contains(pd.Timestamp("2026-05-04 05:00"))  # naive = UTC; the end is included
    assert berlin.first_day.isoformat() == "2026-04-28" and berlin.last_day.isoformat() == "2026-05-04"
    assert period_for(datetime(2026, 4, 5, tzinfo=UTC)).week == "2026-W14"  # the demo's Sunday clock
    with pytest.raises(Exception, match="Mars"):
        period_for(NOW, "Mars/Olympus")


def test_a_change_made_on_the_boundary_is_reported_once(warehouse) -> None:
    con, _ids = warehouse
    this_week = build_digest(con, NOW)
    next_week = build_digest(con, NOW + pd.Timedelta(days=7))
    assert len(this_week.section(SectionCode.CHANGES).lines) == 1
    assert next_week.section(SectionCode.CHANGES).lines == ()


def test_decision_log_columns_added_later_are_read_when_present() -> None:
    frame = pd.DataFrame(
        {
            "predicted_daily_revenue_change": [20.0],
            "predicted_daily_revenue_change_lower": [5.0],
            "predicted_daily_revenue_change_upper": [35.0],
            "realized_daily_revenue_change": [12.5],
            "realized_daily_revenue_change_lower": [-2.0],
            "realized_daily_revenue_change_upper": [27.0],
            "verdict": ["as_predicted"],
        }
    )
    text = impact_text(frame.iloc[0], frame)
    assert text == (
        "expected +20.00 a day in revenue (90% interval +5.00 to +35.00); "
        "measured +12.50 (90% interval -2.00 to +27.00); as predicted"
    )
    bare = frame[["predicted_daily_revenue_change"]]
    assert impact_text(bare.iloc[0], bare) == "expected +20.00 a day in revenue; not measured yet"


def test_names_describe_ids_they_do_not_know_and_keep_other_numbers() -> None:
    book = NameBook()
    book.add("120210000000001142", "adset", "Prospecting")
    text = book.humanize(
        f"Ad set 120210000000001142 and ad 1202100000000011999 of {CONTACT} spent 1,234,567.00 on 2026-05-03"
    )
    assert text == (
        "Ad set ad set “Prospecting” and ad an entity with no name in the export of an entity with no name "
        "in the export spent 1,234,567.00 on 2026-05-03"
    )
    assert book.experiment("global_holdout") == "the email program's global holdout"
    assert book.experiment("campaign_ab:01ZZZZZZZZZZZZZZZZZZZZZZZZ") == (
        "the A/B test in an email campaign with no name in the export"
    )
    assert book.anomaly_entity("ad_platform:google_ads") == "all Google Ads ads"
