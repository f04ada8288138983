"""The Dagster UI on a demo warehouse, in headless chromium: the pages a data team opens every day render.

Each test opens one page of `loopwise dev`, waits for the elements a user looks for (found by
their text or role), saves a screenshot to the artefact directory and fails on a missing element,
an uncaught page error, a console error of our own or a failed request to the server. GraphQL
(the API the UI itself reads) says what the page must show: the asset's row count, its checks,
the job's runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_helpers import LOCATION_NAME, DevServer
from ui_page import UiPage

pytestmark = pytest.mark.ui

# A mart with both kinds of checks: dbt tests and the Great Expectations gates.
MART = ("marts", "fct_ad_performance_daily")
JOB = "daily_refresh"
SENSOR = "incident_pager"
# The repository name Dagster gives a code location built from one `Definitions` object.
REPOSITORY = "__repository__"
ROW_COUNT = "dagster/row_count"
TABLE_NAME = "dagster/table_name"
ELEMENT_TIMEOUT_MS = 60_000


@pytest.fixture
def ui(
    browser: Any, dagster_ui: DevServer, ui_artifacts: Path, request: pytest.FixtureRequest
) -> Iterator[UiPage]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(ELEMENT_TIMEOUT_MS)
    ui_page = UiPage.watch(context.new_page(), dagster_ui.base_url, ui_artifacts / request.node.name)
    try:
        yield ui_page
    finally:
        # The page as the test left it, also (above all) when it failed.
        ui_page.screenshot()
        context.close()


def visible(locator: Any) -> Any:
    """The first visible match: the UI keeps hidden copies of some labels to measure them."""
    return locator.filter(visible=True).first


def page_title(section: str, name: str) -> re.Pattern[str]:
    """The page header, e.g. "Jobs / daily_refresh" (the parts are separate elements)."""
    return re.compile(rf"^{re.escape(section)}\s*/\s*{re.escape(name)}$")


def latest_materialization_metadata(server: DevServer, key: tuple[str, ...]) -> dict[str, str]:
    data = server.graphql(
        """
        query ($key: AssetKeyInput!) {
          assetOrError(assetKey: $key) {
            ... on Asset {
              assetMaterializations(limit: 1) {
                metadataEntries {
                  label
                  ... on IntMetadataEntry { intValue }
                  ... on TextMetadataEntry { text }
                }
              }
            }
          }
        }
        """,
        {"key": {"path": list(key)}},
    )
    materializations = data["assetOrError"]["assetMaterializations"]
    assert materializations, f"{'/'.join(key)} has never been materialized"
    return {
        entry["label"]: entry.get("intValue", entry.get("text"))
        for entry in materializations[0]["metadataEntries"]
    }


def test_asset_graph_shows_every_group(ui: UiPage, dagster_ui: DevServer) -> None:
    nodes = dagster_ui.graphql("query { assetNodes { groupName } }")["assetNodes"]
    group_names = sorted({node["groupName"] for node in nodes})
    assert len(group_names) > 1

    ui.open("/asset-groups")
    ui.page.get_by_text("Global asset lineage", exact=True).wait_for()
    # The graph draws each (collapsed) group as an HTML box inside an SVG foreignObject; the
    # sidebar lists the same names, so look inside the graph only.
    graph = ui.page.locator("svg foreignObject")
    for name in group_names:
        visible(graph.get_by_text(name, exact=True)).wait_for()
    ui.assert_no_problems()


def test_mart_asset_page_shows_row_count_and_checks(ui: UiPage, dagster_ui: DevServer) -> None:
    metadata = latest_materialization_metadata(dagster_ui, MART)
    assert ROW_COUNT in metadata, f"{'/'.join(MART)}'s latest materialization has no {ROW_COUNT}"
    row_count = int(metadata[ROW_COUNT])
    assert row_count > 0

    ui.open("/assets/" + "/".join(MART))
    visible(ui.page.get_by_text(MART[-1], exact=True)).wait_for()
    ui.page.get_by_text("Latest check results", exact=True).wait_for()
    ui.page.get_by_text("Row count", exact=True).wait_for()
    visible(ui.page.get_by_text(f"{row_count:,}", exact=True)).wait_for()
    ui.screenshot("overview")
    ui.assert_no_problems()

    checks = dagster_ui.graphql(
        """
        query ($key: AssetKeyInput!) {
          assetNodeOrError(assetKey: $key) {
            ... on AssetNode {
              assetChecksOrError {
                ... on AssetChecks {
                  checks {
                    name
                    executionForLatestMaterialization {
                      status
                      evaluation { severity }
                    }
                  }
                }
              }
            }
          }
        }
        """,
        {"key": {"path": list(MART)}},
    )["assetNodeOrError"]["assetChecksOrError"]["checks"]
    check_names = {check["name"] for check in checks}
    assert {"great_expectations_blocking", "great_expectations_warnings"} <= check_names, check_names

    ui.open("/assets/" + "/".join(MART) + "?view=checks")
    ui.page.get_by_text(f"Checks ({len(checks)})", exact=True).wait_for()
    for check in checks:
        # A long name is shortened in the middle on screen; the element's title keeps it whole.
        visible(ui.page.get_by_title(check["name"], exact=True)).wait_for()
    ui.assert_no_problems()

    # Truthful checks: the demo's run executed every check, and none failed at ERROR severity.
    for check in checks:
        execution = check["executionForLatestMaterialization"]
        assert execution is not None, f"check {check['name']} did not run with the latest materialization"
        failed_error = execution["status"] == "FAILED" and execution["evaluation"]["severity"] == "ERROR"
        assert execution["status"] in ("SUCCEEDED", "FAILED") and not failed_error, (check["name"], execution)


def test_every_table_asset_has_a_row_count(dagster_ui: DevServer) -> None:
    """Row counts on every table asset (an asset naming its table in ``dagster/table_name``)."""
    nodes = dagster_ui.graphql(
        """
        query {
          assetNodes {
            assetKey { path }
            metadataEntries { label }
          }
        }
        """
    )["assetNodes"]
    tables = [
        tuple(node["assetKey"]["path"])
        for node in nodes
        if any(entry["label"] == TABLE_NAME for entry in node["metadataEntries"])
    ]
    assert tables
    missing = [
        "/".join(key) for key in tables if ROW_COUNT not in latest_materialization_metadata(dagster_ui, key)
    ]
    assert not missing, f"{len(missing)} of {len(tables)} table assets have no {ROW_COUNT}: {missing}"


def test_every_check_is_green_or_an_honest_warning(dagster_ui: DevServer) -> None:
    """Across every asset, each check's latest execution passed, or failed at WARN severity only
    (the issue's "every check in the UI is green or an honest WARN")."""
    nodes = dagster_ui.graphql(
        """
        query {
          assetNodes {
            assetKey { path }
            assetChecksOrError {
              ... on AssetChecks {
                checks {
                  name
                  executionForLatestMaterialization { status evaluation { severity } }
                }
              }
            }
          }
        }
        """
    )["assetNodes"]
    checks = [
        ("/".join(node["assetKey"]["path"]), check)
        for node in nodes
        for check in (node["assetChecksOrError"] or {}).get("checks", [])
    ]
    assert len(checks) > 50, len(checks)
    red = []
    for asset, check in checks:
        execution = check["executionForLatestMaterialization"]
        if execution is None:
            red.append(f"{asset}:{check['name']} never ran")
            continue
        if execution["status"] == "SUCCEEDED":
            continue
        severity = (execution.get("evaluation") or {}).get("severity")
        if not (execution["status"] == "FAILED" and severity == "WARN"):
            red.append(f"{asset}:{check['name']} {execution['status']} {severity}")
    assert not red, red


def test_job_runs_page_shows_the_demo_run(ui: UiPage, dagster_ui: DevServer) -> None:
    runs = dagster_ui.graphql(
        """
        query ($job: String!) {
          runsOrError(filter: {pipelineName: $job}, limit: 5) {
            ... on Runs { results { runId status } }
          }
        }
        """,
        {"job": JOB},
    )["runsOrError"]["results"]
    assert runs, f"no {JOB} run in the instance: the demo did not record one"

    ui.open(f"/locations/{LOCATION_NAME}/jobs/{JOB}/runs")
    visible(ui.page.get_by_text(page_title("Jobs", JOB))).wait_for()
    # The runs table shows a run by the first 8 characters of its id; a job whose runs were made
    # outside the code location shows "No runs found" instead.
    run_id = runs[0]["runId"][:8]
    demo_run = ui.page.get_by_text(run_id, exact=True).filter(visible=True)
    visible(demo_run.or_(ui.page.get_by_text("No runs found", exact=True))).wait_for()
    assert demo_run.count() > 0, (
        f"the {JOB} runs page shows no run; the instance has {run_id} ({runs[0]['status']})"
    )
    ui.assert_no_problems()


def test_sensor_page(ui: UiPage, dagster_ui: DevServer) -> None:
    sensor = dagster_ui.graphql(
        """
        query ($selector: SensorSelector!) {
          sensorOrError(sensorSelector: $selector) {
            __typename
            ... on Sensor { description targets { pipelineName } }
          }
        }
        """,
        {
            "selector": {
                "repositoryLocationName": LOCATION_NAME,
                "repositoryName": REPOSITORY,
                "sensorName": SENSOR,
            }
        },
    )["sensorOrError"]
    assert sensor["__typename"] == "Sensor", sensor

    ui.open(f"/locations/{LOCATION_NAME}/sensors/{SENSOR}")
    visible(ui.page.get_by_text(page_title("Automation", SENSOR))).wait_for()
    ui.page.get_by_text(sensor["description"], exact=True).wait_for()
    for target in sensor["targets"]:
        visible(ui.page.get_by_role("link", name=target["pipelineName"], exact=True)).wait_for()
    ui.page.get_by_role("button", name="Preview tick result").wait_for()
    ui.assert_no_problems()
