"""Anomaly scan (asset), hourly schedule, and the paging sensor.

The asset reads the marts, finds anomalies online, groups them into incidents and writes
``results.anomaly_alerts``; the incidents ride along in the materialization's metadata. The
sensor hands the latest incidents (and failed quality gates, as data incidents) to
``activation.notify.dispatch`` every tick: the delivery ledger makes that idempotent (one
page per incident, a resolve on recovery, failed deliveries retried on later ticks).
"""

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from orchestration.constants import WAREHOUSE_WRITER_POOL
from orchestration.resources import LoopwisePathsResource, WarehouseResource

if TYPE_CHECKING:
    from activation.notify import IncidentRecord

ANOMALY_ALERTS_KEY = dg.AssetKey(["results", "anomaly_alerts"])
# The dbt models the scan reads (dbt_project/models/marts/monitoring, group marts_monitoring),
# and fct_email_sends for the click-to-order delays of the newest clicks.
MONITORED_MARTS = (
    "fct_monitoring_email_daily",
    "fct_monitoring_email_click_daily",
    "fct_monitoring_ads_daily",
    "fct_monitoring_crm_daily",
    "fct_email_sends",
)
MAX_INCIDENTS_IN_METADATA = 200


def build_definitions(
    mart_keys: list[dg.AssetKey], gate_check_keys: list[dg.AssetCheckKey]
) -> dg.Definitions:
    deps = [key for key in mart_keys if key.path[-1] in MONITORED_MARTS]

    @dg.asset(
        key=ANOMALY_ALERTS_KEY,
        deps=deps,
        group_name="anomalies",
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
        context.log.info(scan.headline)
        return dg.MaterializeResult(
            metadata={
                "headline": scan.headline,
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
                "charts": dg.MetadataValue.json(scan.charts),
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

    @dg.sensor(
        name="incident_pager",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Pages marketers about new incidents (Slack, PagerDuty, email or the local outbox), "
        "once per incident, with a resolve on recovery; failed quality gates go out as data incidents.",
    )
    def incident_pager(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        report = page_incidents(context.instance, gate_check_keys, datetime.now(UTC))
        return dg.SkipReason(f"notifications: {report}")

    return dg.Definitions(
        assets=[anomaly_alerts],
        jobs=[anomaly_scan],
        schedules=[anomaly_scan_schedule],
        sensors=[incident_pager],
    )


def latest_incidents(instance: dg.DagsterInstance) -> list["IncidentRecord"]:
    from activation.notify import IncidentRecord

    event = instance.get_latest_materialization_event(ANOMALY_ALERTS_KEY)
    if event is None or event.asset_materialization is None:
        return []
    value = event.asset_materialization.metadata.get("incidents")
    incidents = [IncidentRecord(**item) for item in (value.value if value else [])]
    rollbacks = _rollback_options(instance)
    for incident in incidents:
        incident.options = [*incident.options, *rollbacks.get(incident.incident_id, [])]
    return incidents


def _rollback_options(instance: dg.DagsterInstance) -> dict[str, list[str]]:
    """incident id -> what the loop proposes to reverse for it (the action queue's latest metadata)."""
    event = instance.get_latest_materialization_event(dg.AssetKey(["results", "actions"]))
    if event is None or event.asset_materialization is None:
        return {}
    value = event.asset_materialization.metadata.get("rollbacks")
    options: dict[str, list[str]] = {}
    for item in value.value if value else []:
        options.setdefault(item["incident_id"], []).append(item["text"])
    return options


def data_quality_incidents(
    instance: dg.DagsterInstance, gate_check_keys: list[dg.AssetCheckKey]
) -> list["IncidentRecord"]:
    """Open data incidents for gates whose latest evaluation failed; resolved ones once they pass again."""
    from activation.notify import IncidentRecord
    from decision_engine.anomalies.data_incidents import quality_gate_incident

    incidents = []
    storage = instance.event_log_storage
    for check_key in gate_check_keys:
        history = storage.get_asset_check_execution_history(check_key, limit=20)
        evaluations = [
            (record, record.event.asset_check_evaluation)
            for record in history
            if record.event is not None and getattr(record.event, "asset_check_evaluation", None) is not None
        ]
        if not evaluations:
            continue
        # Newest first: skip passes after the last failure, then the failing streak.
        latest_passed = evaluations[0][1].passed
        index = 0
        while index < len(evaluations) and evaluations[index][1].passed:
            index += 1
        streak = []
        while index < len(evaluations) and not evaluations[index][1].passed:
            if evaluations[index][1].severity == dg.AssetCheckSeverity.ERROR:
                streak.append(evaluations[index])
            index += 1
        if not streak:
            continue
        streak_start, first_failure = streak[-1][0], streak[0][1]
        summary = first_failure.metadata.get("summary")
        incident = quality_gate_incident(
            table=".".join(check_key.asset_key.path),
            streak_start_run_id=streak_start.run_id,
            summary=summary.value if summary else None,
            latest_passed=latest_passed,
        )
        incidents.append(IncidentRecord.from_incident(incident))
    return incidents


def page_incidents(
    instance: dg.DagsterInstance, gate_check_keys: list[dg.AssetCheckKey], now: datetime
) -> str:
    from activation.notify import DeliveryLedger, NotifySettings, build_notifiers, dispatch

    settings = NotifySettings.from_env()
    incidents = latest_incidents(instance) + data_quality_incidents(instance, gate_check_keys)
    settings.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    with DeliveryLedger(settings.ledger_path) as ledger:
        report = dispatch(incidents, ledger, build_notifiers(settings), now=now)
        pending = ledger.deliveries(status=("pending", "failed"))
    counts = report.counts()
    return f"{counts}; pending or failed deliveries: {len(pending)}"
