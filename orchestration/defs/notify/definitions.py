"""Paging: the ``notify`` job and the two sensors that request it.

Sensors decide, runs deliver (STYLE 18). ``incident_pager`` reads the latest incidents (the
anomaly scan's metadata, failed quality gates as data incidents), plans what a delivery
would send against a read-only copy of the ledger, and requests a ``notify`` run listing
those incidents and pages; a preview or a tick sends nothing. ``run_failure_notifier`` does
the same for a failed run. The ``notify`` run delivers through ``activation.notify`` and is
the only writer of the delivery ledger (one page per incident and channel, a resolve on
recovery, failed deliveries retried by a later run); its output metadata lists what was sent.
"""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from orchestration.defs.anomalies.definitions import ANOMALY_ALERTS_KEY

if TYPE_CHECKING:
    from activation.notify import IncidentRecord
    from activation.notify.runs import NotificationPlan

NOTIFY_JOB = "notify"
NOTIFY_OP = "send_notifications"
INCIDENT_PAGER = "incident_pager"
RUN_FAILURE_NOTIFIER = "run_failure_notifier"
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
MAX_INCIDENT_IDS_IN_TAG = 5


class NotifyConfig(dg.Config):
    incidents: list[dict[str, Any]] = Field(
        description="The incidents to notify about (activation.notify.IncidentRecord fields)."
    )
    deliveries: list[str] = Field(
        default_factory=list,
        description="What the requesting sensor planned to send; the run decides again against the ledger.",
    )


@dg.op(
    name=NOTIFY_OP,
    description="Delivers the incidents' pages (Slack, PagerDuty, email or the local outbox) and records "
    "them in the delivery ledger; a page already sent is not sent again.",
)
def send_notifications_op(context: dg.OpExecutionContext, config: NotifyConfig) -> dg.Output[dict[str, int]]:
    from activation.notify import IncidentRecord, NotifySettings
    from activation.notify.runs import send_notifications

    incidents = [IncidentRecord(**item) for item in config.incidents]
    result = send_notifications(incidents, NotifySettings.from_env(), datetime.now(UTC))
    for outcome in result.report.sent:
        context.log.info(f"sent {outcome.action} for {outcome.incident_id} to {outcome.channel}")
    for outcome in result.report.failed:
        context.log.warning(
            f"{outcome.channel} {outcome.action} for {outcome.incident_id} failed: {outcome.error}"
        )
    return dg.Output(
        result.report.counts(),
        metadata={
            "summary": result.describe(),
            "sent": dg.MetadataValue.json(
                [
                    {"incident_id": o.incident_id, "channel": o.channel, "action": o.action}
                    for o in result.report.sent
                ]
            ),
            "failed": dg.MetadataValue.json(
                [
                    {"incident_id": o.incident_id, "channel": o.channel, "action": o.action, "error": o.error}
                    for o in result.report.failed
                ]
            ),
            "pending_or_failed_in_ledger": result.pending_or_failed,
        },
    )


@dg.job(name=NOTIFY_JOB, description="Send the pages a sensor asked for, once each (delivery ledger).")
def notify_job() -> None:
    send_notifications_op()


def build_definitions(gate_check_keys: list[dg.AssetCheckKey]) -> dg.Definitions:
    @dg.sensor(
        name=INCIDENT_PAGER,
        job=notify_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests a notify run when new incidents need a page (Slack, PagerDuty, email or the "
        "local outbox), once per incident, with a resolve on recovery; failed quality gates go out as data "
        "incidents. Evaluating it (a tick or a preview) sends nothing.",
    )
    def incident_pager(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        return pager_request(context.instance, gate_check_keys, datetime.now(UTC))

    @dg.run_failure_sensor(
        name=RUN_FAILURE_NOTIFIER,
        request_job=notify_job,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Requests a notify run (a data incident: Slack, email or the outbox, never PagerDuty) "
        "when a run of this code location fails.",
    )
    def run_failure_notifier(context: dg.RunFailureSensorContext) -> dg.RunRequest | dg.SkipReason:
        run = context.dagster_run
        if run.job_name == NOTIFY_JOB:
            # A failed delivery stays in the ledger and is retried; paging about it could loop.
            return dg.SkipReason(
                f"run {run.run_id} is a notify run; its deliveries are retried from the ledger"
            )
        return run_failure_request(run.job_name, run.run_id, context.failure_event.message, datetime.now(UTC))

    return dg.Definitions(jobs=[notify_job], sensors=[incident_pager, run_failure_notifier])


def pager_request(
    instance: dg.DagsterInstance, gate_check_keys: list[dg.AssetCheckKey], now: datetime
) -> dg.RunRequest | dg.SkipReason:
    """The incident pager's decision: a notify run for what is due now, or why there is none."""
    from activation.notify import NotifySettings
    from activation.notify.runs import plan_notifications

    in_flight = instance.get_runs(dg.RunsFilter(job_name=NOTIFY_JOB, statuses=IN_FLIGHT), limit=1)
    if in_flight:
        return dg.SkipReason(f"notify run {in_flight[0].run_id} has not finished; deciding after it")
    incidents = latest_incidents(instance) + data_quality_incidents(instance, gate_check_keys)
    plan = plan_notifications(incidents, NotifySettings.from_env(), now)
    if not plan.due:
        return dg.SkipReason(f"{len(incidents)} incidents, nothing to send")
    return notify_run_request(plan, INCIDENT_PAGER)


def run_failure_request(
    job: str, run_id: str, error: str | None, now: datetime
) -> dg.RunRequest | dg.SkipReason:
    from activation.notify import IncidentRecord, NotifySettings
    from activation.notify.runs import plan_notifications
    from decision_engine.anomalies.data_incidents import run_failure_incident

    incident = IncidentRecord.from_incident(run_failure_incident(job, run_id, error))
    plan = plan_notifications([incident], NotifySettings.from_env(), now)
    if not plan.due:
        return dg.SkipReason(f"the failure of run {run_id} was already notified")
    return notify_run_request(plan, RUN_FAILURE_NOTIFIER, run_key=f"run_failure:{run_id}")


def notify_run_request(
    plan: "NotificationPlan", requested_by: str, run_key: str | None = None
) -> dg.RunRequest:
    from activation.notify.runs import incident_to_config

    incident_ids = [incident.incident_id for incident in plan.incidents]
    shown = ",".join(incident_ids[:MAX_INCIDENT_IDS_IN_TAG])
    if len(incident_ids) > MAX_INCIDENT_IDS_IN_TAG:
        shown += f",+{len(incident_ids) - MAX_INCIDENT_IDS_IN_TAG} more"
    return dg.RunRequest(
        run_key=run_key,
        run_config={
            "ops": {
                NOTIFY_OP: {
                    "config": {
                        "incidents": [incident_to_config(incident) for incident in plan.incidents],
                        "deliveries": [delivery.describe() for delivery in plan.deliveries],
                    }
                }
            }
        },
        tags={
            "loopwise/requested_by": requested_by,
            "loopwise/deliveries": plan.describe(),
            "loopwise/incidents": shown,
        },
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
