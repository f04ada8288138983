"""The loop's governed half: proposals -> policy verdicts -> vendor writes -> decision log.

Each step is an asset downstream of the decision assets, so the UI's lineage reads
decisions -> actions -> executed writes -> decision log. The bodies only connect and call
``decision_engine`` (queue, execution, decision log) with the policy and the loop clock.
Approvals come from ``loopwise actions approve`` or the ``approve_actions`` job.
"""

import warnings
from collections import Counter
from pathlib import Path

import dagster as dg

from orchestration.asset_metadata import table_metadata
from orchestration.constants import ACTIONS, WAREHOUSE_WRITER_POOL
from orchestration.previews import preview
from orchestration.resources import VendorSourcesResource, WarehouseResource

ACTION_QUEUE_KEY = dg.AssetKey(["results", "actions"])
ACTION_LOG_KEY = dg.AssetKey(["results", "action_log"])
DECISION_LOG_KEY = dg.AssetKey(["results", "decision_log"])
ASSIGNMENTS_KEY = dg.AssetKey(["results", "experiment_assignments"])
SEND_TIME_ASSIGNMENTS_KEY = dg.AssetKey(["results", "send_time_assignments"])
CONTENT_ASSIGNMENTS_KEY = dg.AssetKey(["results", "content_assignments"])
MESSAGE_CONTENT_KEY = dg.AssetKey(["marts", "dim_message_content"])


def _code_reference(relative_path: str) -> dict[str, dg.CodeReferencesMetadataValue]:
    """``dagster/code_references`` metadata linking one repository file (the API is beta in Dagster
    1.13: its warnings are silenced here, as orchestration.asset_metadata does)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        reference = dg.LocalFileCodeReference(
            file_path=str(Path(__file__).resolve().parents[3] / relative_path), line_number=1
        )
        return {"dagster/code_references": dg.CodeReferencesMetadataValue(code_references=[reference])}


# Written by the action log's executed test writes and read back by dbt (fct_experiment_exposures):
# declared here as an external asset, since the action log itself is downstream of the exposures.
EXPERIMENT_ASSIGNMENTS = dg.AssetSpec(
    ASSIGNMENTS_KEY,
    group_name=ACTIONS,
    tags={"domain": "loop"},
    kinds={"duckdb"},
    description=(
        "Loopwise's test arms per contact (control / variant at launch; variant / holdback after a "
        "rollout), appended by results/action_log when a bulk property write succeeds; the dbt source "
        "of the loopwise_test exposures."
    ),
    # a spec has no function for with_source_code_references to find: link the code that writes it
    metadata=_code_reference("decision_engine/experiments/assignment.py"),
)
# Appended by results/action_log when a schedule_send_times write succeeds (like the tests' arms).
SEND_TIME_ASSIGNMENTS = dg.AssetSpec(
    SEND_TIME_ASSIGNMENTS_KEY,
    group_name=ACTIONS,
    tags={"domain": "loop"},
    kinds={"duckdb"},
    description=(
        "Send time per contact and campaign: each moved recipient's arm (personalized, control at the "
        "account's best local hour, explore at a random hour), local hour and the hourly clone it went "
        "under (joins marts.fct_email_sends on campaign_id and contact_id), appended by results/action_log."
    ),
    metadata=_code_reference("decision_engine/personalization/send_time_schedule.py"),
)
# Appended by results/action_log when a personalize_content write succeeds.
CONTENT_ASSIGNMENTS = dg.AssetSpec(
    CONTENT_ASSIGNMENTS_KEY,
    group_name=ACTIONS,
    tags={"domain": "loop"},
    kinds={"duckdb"},
    description=(
        "Content angle per contact and campaign: each recipient's arm (personalized: its preferred "
        "approved angle; control: a random approved angle) and the angle it was shown (joins "
        "marts.fct_email_sends on campaign_id and contact_id, or through a send-time clone's "
        "parent_campaign_id), appended by results/action_log."
    ),
    metadata=_code_reference("decision_engine/personalization/content_choice.py"),
)
APPROVE_ACTIONS_JOB = "approve_actions"


def _policy():
    from decision_engine.policy import load_policy

    return load_policy()


def build_definitions(decision_keys: list[dg.AssetKey]) -> dg.Definitions:
    proposers = [
        key
        for key in decision_keys
        if key.path[-1]
        in ("budget_recommendations", "experiment_results", "send_time_profiles", "content_affinity")
    ]

    @dg.asset(
        key=ACTION_QUEUE_KEY,
        # content choice reads each upcoming campaign's topic (test_subjects_refresh rebuilds it first)
        deps=[*proposers, MESSAGE_CONTENT_KEY],
        group_name=ACTIONS,
        tags={"domain": "loop"},
        pool=WAREHOUSE_WRITER_POOL,
        kinds={"python", "duckdb"},
        description=(
            "The action queue under policy.yaml: an open incident on an entity Loopwise changed "
            "recently proposes the reverse change; Loopwise's own tests propose launch_experiment for "
            "the top untested library entry (while fewer than experiments.max_running_tests run) and "
            "apply_test_subject for every upcoming campaign of a running test; send time proposes "
            "schedule_send_times for every upcoming campaign not yet scheduled (each contact at its own "
            "best local hour, with a randomized control and exploration); content choice proposes "
            "personalize_content for the same campaigns (each contact its preferred approved angle, with "
            "a randomized control at a random approved angle); each new proposal gets a verdict (auto_approved, "
            "pending_approval or rejected, with reasons), older unexecuted proposals for the same "
            "entity are superseded and lapsed approvals expire. Every transition is appended to "
            "results.action_events."
        ),
    )
    def action_queue(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, vendor_sources: VendorSourcesResource
    ) -> dg.MaterializeResult:
        from decision_engine.actions import write_actions
        from decision_engine.experiments.launch import propose_and_govern
        from decision_engine.personalization.content_choice import propose_content_actions
        from decision_engine.personalization.send_time_schedule import propose_send_time_actions
        from decision_engine.queue import list_actions
        from decision_engine.rollback import propose_rollbacks

        policy = _policy()
        now = vendor_sources.loop_now()
        with warehouse.connect() as con:
            rollbacks = propose_rollbacks(con, policy, now)
            for rollback in rollbacks:
                context.log.warning(f"Rollback proposed: {rollback.reason}")
            send_times = propose_send_time_actions(con, policy, now)
            write_actions(con, send_times.actions, now, now.date())
            for note in send_times.notes:
                context.log.info(f"Send time: {note}")
            contents = propose_content_actions(con, policy, now)
            write_actions(con, contents.actions, now, now.date())
            for note in contents.notes:
                context.log.info(f"Content: {note}")
            # governs every proposal (the engines' too); a launch it approves gets its subjects at once
            tests, summary = propose_and_govern(con, policy, now)
            for note in tests.notes:
                context.log.info(f"Tests: {note}")
            pending = len(list_actions(con, status="pending_approval"))
            table = table_metadata(con, ACTION_QUEUE_KEY)
            live_actions = preview(con, "actions")
        context.log.info(
            f"Queue: {summary.auto_approved} auto-approved, {summary.pending_approval} need approval, "
            f"{summary.rejected} refused by policy, {summary.superseded} superseded, {summary.expired} expired; "
            f"{pending} waiting for a human (`loopwise actions list --status pending_approval`)."
        )
        return dg.MaterializeResult(
            metadata={
                **table,
                "preview": live_actions,
                "auto_approved": summary.auto_approved,
                "pending_approval_new": summary.pending_approval,
                "pending_approval_total": pending,
                "rejected": summary.rejected,
                "superseded": summary.superseded,
                "expired": summary.expired,
                "test_actions_proposed": dg.MetadataValue.json(
                    sorted(Counter(action.action_type for action in tests.actions).items())
                ),
                "send_time_actions_proposed": len(send_times.actions),
                "content_actions_proposed": len(contents.actions),
                "autonomy": policy.autonomy,
                "mode": policy.mode,
                "policy_hash": policy.hash(),
                # read by the incident pager, so the page says what Loopwise proposes to undo
                "rollbacks": dg.MetadataValue.json(
                    [
                        {
                            "incident_id": r.evidence["incident_id"],
                            "action_id": r.action_id(now.date()),
                            "text": (
                                f"Loopwise proposes reversing its budget change on {r.platform} "
                                f"{r.target_id} to {r.payload['daily_budget']} (action {r.action_id(now.date())}; "
                                + (
                                    "runs on its own under the policy)"
                                    if policy.rollback.auto_execute
                                    else f"approve with `loopwise actions approve {r.action_id(now.date())} --by NAME`)"
                                )
                            ),
                        }
                        for r in rollbacks
                    ]
                ),
            }
        )

    @dg.asset(
        key=ACTION_LOG_KEY,
        deps=[ACTION_QUEUE_KEY],
        group_name=ACTIONS,
        tags={"domain": "loop"},
        pool=WAREHOUSE_WRITER_POOL,
        kinds={"python", "duckdb"},
        description=(
            "Vendor writes: every approved action is written to Meta, Google Ads or Klaviyo as an "
            "absolute value after a read (hard limits re-checked against the vendor's current value), "
            "read back and logged in results.action_log (before, request, response, after; append-only). "
            "Actions executed by earlier runs are read back and marked verified."
        ),
    )
    def action_log(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, vendor_sources: VendorSourcesResource
    ) -> dg.MaterializeResult:
        from decision_engine.execution import execute_approved, verify_executed
        from orchestration.defs.loop.vendor_port import WritebackPort

        policy = _policy()
        now = vendor_sources.loop_now()
        port = WritebackPort(vendor_sources.writeback_settings())
        with warehouse.connect() as con:
            verified = verify_executed(con, policy, now, port)
            summary = execute_approved(con, policy, now, port, log=context.log.info)
            table = table_metadata(con, ACTION_LOG_KEY)
            assignments = table_metadata(con, ASSIGNMENTS_KEY)
            send_times = table_metadata(con, SEND_TIME_ASSIGNMENTS_KEY)
            contents = table_metadata(con, CONTENT_ASSIGNMENTS_KEY)
        # the external assets this step appends to: their materializations, so the UI shows their rows
        context.log_event(dg.AssetMaterialization(asset_key=ASSIGNMENTS_KEY, metadata=assignments))
        context.log_event(dg.AssetMaterialization(asset_key=SEND_TIME_ASSIGNMENTS_KEY, metadata=send_times))
        context.log_event(dg.AssetMaterialization(asset_key=CONTENT_ASSIGNMENTS_KEY, metadata=contents))
        summary.verified = verified
        context.log.info(
            f"Write-back ({policy.mode}): {summary.executed} executed, {summary.validated} validated (dry run), "
            f"{summary.failed} failed, {summary.retry_later} to retry, {summary.blocked} blocked by policy, "
            f"{summary.verified} verified."
        )
        return dg.MaterializeResult(metadata={**table, **summary.as_metadata(), "mode": policy.mode})

    @dg.asset(
        key=DECISION_LOG_KEY,
        deps=[ACTION_LOG_KEY],
        group_name=ACTIONS,
        tags={"domain": "loop"},
        pool=WAREHOUSE_WRITER_POOL,
        kinds={"python", "duckdb"},
        description=(
            "Every action that left the queue (executed, verified, failed, rejected, expired, "
            "superseded, rolled back): what changed, who decided and why, the predicted impact "
            "and, once its window matured, the realized impact and the verdict."
        ),
    )
    def decision_log(
        warehouse: WarehouseResource, vendor_sources: VendorSourcesResource
    ) -> dg.MaterializeResult:
        from decision_engine.decision_log import calibration, write_decision_log

        with warehouse.connect() as con:
            write_decision_log(con, vendor_sources.loop_now())
            table = table_metadata(con, DECISION_LOG_KEY)
            figures = calibration(con)
        predictions = {
            "matured_changes": figures["matured"],
            "judged_changes": figures["judged"],
            **{
                key: figures[key]
                for key in ("calibration", "realized_vs_predicted")
                if figures[key] is not None
            },
        }
        return dg.MaterializeResult(metadata={**table, **predictions})

    return dg.Definitions(
        assets=[
            EXPERIMENT_ASSIGNMENTS,
            SEND_TIME_ASSIGNMENTS,
            CONTENT_ASSIGNMENTS,
            action_queue,
            action_log,
            decision_log,
        ],
        asset_checks=[_within_policy_check(ACTION_QUEUE_KEY), _within_policy_check(ACTION_LOG_KEY)],
        jobs=[approve_actions_job],
    )


# Approved actions are about to be written: outside the policy, the write must not happen (blocking,
# so the action log does not run). Executed ones were written already: the check says so loudly.
APPROVED_STATUSES = ("auto_approved", "approved")
EXECUTED_STATUSES = ("executed", "verified")


def _within_policy_check(key: dg.AssetKey) -> dg.AssetChecksDefinition:
    approved = key == ACTION_QUEUE_KEY
    statuses = APPROVED_STATUSES if approved else EXECUTED_STATUSES

    @dg.asset_check(
        asset=key,
        name="approved_actions_within_policy" if approved else "executed_actions_within_policy",
        blocking=approved,
        description=(
            f"Every {' or '.join(statuses)} action passes the policy's hard limits "
            "(decision_engine/governance.py) under the policy in force"
            + ("; every auto-approved one would still be auto-approved by it." if approved else ".")
        ),
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from decision_engine.result_checks import check_actions_within_policy

        with warehouse.connect(read_only=True) as con:
            outcome = check_actions_within_policy(con, _policy(), statuses)
        return dg.AssetCheckResult(passed=outcome.passed, metadata=outcome.metadata)

    return _check


class ApproveActionsConfig(dg.Config):
    """Launch config of ``approve_actions``: which actions, who decides, and why."""

    action_ids: list[str]
    by: str
    decision: str = "approve"  # approve | reject
    reason: str | None = None


@dg.op(pool=WAREHOUSE_WRITER_POOL)
def decide_actions(
    context: dg.OpExecutionContext, config: ApproveActionsConfig, warehouse: WarehouseResource
) -> None:
    """Approve or reject the given actions (the same rules as ``loopwise actions approve|reject``)."""
    from decision_engine.queue import approve, reject
    from orchestration.resources import loop_clock

    if config.decision not in ("approve", "reject"):
        raise dg.Failure(f"decision must be 'approve' or 'reject', not {config.decision!r}")
    now = loop_clock()
    with warehouse.connect() as con:
        for action_id in config.action_ids:
            if config.decision == "approve":
                record = approve(con, action_id, config.by, config.reason, now)
            else:
                record = reject(con, action_id, config.by, config.reason or "", now)
            context.log.info(f"{action_id}: {record['status']} by {config.by}")


@dg.job(
    name=APPROVE_ACTIONS_JOB,
    description=(
        "Approve or reject queued actions from the UI: launch with the action ids, your name and "
        "a reason. An approval holds for the exact payload shown; the next daily run executes it."
    ),
)
def approve_actions_job() -> None:
    decide_actions()
