"""Anomaly scan (asset) and its hourly schedule.

The asset reads the marts, finds anomalies online, groups them into incidents and writes
``results.anomaly_alerts``; the incidents ride along in the materialization's metadata, where
the pager (``orchestration/defs/notify``) reads them.
"""

from datetime import UTC, datetime

import dagster as dg

from orchestration.asset_metadata import table_metadata
from orchestration.constants import DECISIONS, WAREHOUSE_WRITER_POOL
from orchestration.previews import chart_links, preview
from orchestration.resources import LoopwisePathsResource, WarehouseResource

ANOMALY_ALERTS_KEY = dg.AssetKey(["results", "anomaly_alerts"])
# The dbt models the scan reads (dbt_project/models/marts/monitoring: group marts, domain monitoring),
# fct_email_sends for the click-to-order delays of the newest clicks, and
# fct_ad_conversion_snapshots for how complete a young day's ad conversions are.
MONITORED_MARTS = (
    "fct_monitoring_email_daily",
    "fct_monitoring_email_click_daily",
    "fct_monitoring_ads_daily",
    "fct_monitoring_crm_daily",
    "fct_email_sends",
    "fct_ad_conversion_snapshots",
)
MAX_INCIDENTS_IN_METADATA = 200


def build_definitions(mart_keys: list[dg.AssetKey]) -> dg.Definitions:
    deps = [key for key in mart_keys if key.path[-1] in MONITORED_MARTS]

    @dg.asset(
        key=ANOMALY_ALERTS_KEY,
        deps=deps,
        group_name=DECISIONS,
        tags={"domain": "anomalies"},
        pool=WAREHOUSE_WRITER_POOL,
        kinds={"python", "duckdb"},
        description=(
            "Anomalies in email, ads, CRM and data-health series (seasonal robust baselines, judged "
            "online with their denominators), grouped into incidents with a summary, likely cause and "
            "options. One row per incident and affected series."
        ),
    )
    def anomaly_alerts(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, loopwise_paths: LoopwisePathsResource
    ) -> dg.MaterializeResult:
        from activation.notify import IncidentRecord
        from decision_engine.anomalies.run import run_anomaly_scan

        with warehouse.connect() as con:
            scan = run_anomaly_scan(
                con, now=datetime.now(UTC), report_dir=loopwise_paths.paths().report_dir("anomalies")
            )
            table = table_metadata(con, ANOMALY_ALERTS_KEY)
            open_alerts = preview(con, "anomaly_alerts")
        context.log.info(scan.headline)
        return dg.MaterializeResult(
            metadata={
                **table,
                "headline": scan.headline,
                "preview": open_alerts,
                "analysis_date": str(scan.analysis_date),
                "series_monitored": scan.series_monitored,
                "points_scored": scan.points_scored,
                "incidents": dg.MetadataValue.json(
                    [
                        IncidentRecord.from_incident(i).to_dict()
                        for i in scan.recent_incidents(MAX_INCIDENTS_IN_METADATA)
                    ]
                ),
                "incidents_by_status_severity": dg.MetadataValue.json(scan.by_status_severity),
                "alert_rows": scan.alert_rows,
                "charts": chart_links(scan.charts, loopwise_paths.paths().reports_dir),
            }
        )

    anomaly_scan = dg.define_asset_job(
        "anomaly_scan",
        selection=dg.AssetSelection.assets(ANOMALY_ALERTS_KEY),
        description="Score the latest data for anomalies and update results.anomaly_alerts.",
    )
    anomaly_scan_schedule = dg.ScheduleDefinition(
        name="hourly_anomaly_scan",
        job=anomaly_scan,
        cron_schedule="15 * * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )

    @dg.asset_check(
        asset=ANOMALY_ALERTS_KEY,
        name="alerts_name_known_entities",
        blocking=True,
        description="Every alert of the latest scan names an entity (ad, platform, email stream, source) "
        "found in the monitoring marts, so a page points at something that exists.",
    )
    def alerts_name_known_entities(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from decision_engine.result_checks import check_alert_entities

        with warehouse.connect(read_only=True) as con:
            outcome = check_alert_entities(con)
        return dg.AssetCheckResult(passed=outcome.passed, metadata=outcome.metadata)

    return dg.Definitions(
        assets=[anomaly_alerts],
        asset_checks=[alerts_name_known_entities],
        jobs=[anomaly_scan],
        schedules=[anomaly_scan_schedule],
    )
