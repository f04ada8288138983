"""The weekly digest: an asset downstream of every result it reads, its own job, and a schedule on
Monday 07:00 in the account's time zone (``LOOPWISE_ACCOUNT_TIMEZONE``, default UTC).

``daily_refresh`` leaves the digest out (it is weekly); the ``weekly_digest`` job materializes it
alone from the results already in the warehouse. The run writes the report files and sends the
digest through the notifier (once per week and channel: the delivery ledger); the schedule only
requests the run.
"""

from datetime import UTC, datetime

import dagster as dg

from orchestration.constants import REPORTS, WAREHOUSE_WRITER_POOL
from orchestration.previews import chart_links
from orchestration.resources import LoopwisePathsResource, WarehouseResource

DIGEST_KEY = dg.AssetKey(["reports", "weekly_digest"])
WEEKLY_DIGEST_JOB = "weekly_digest"
WEEKLY_DIGEST_SCHEDULE = "weekly_digest_schedule"
WEEKLY_CRON = "0 7 * * 1"  # Monday 07:00


def build_definitions(upstream_keys: list[dg.AssetKey]) -> dg.Definitions:
    from core.settings import account_timezone

    @dg.asset(
        key=DIGEST_KEY,
        deps=upstream_keys,
        group_name=REPORTS,
        tags={"domain": "loop"},
        pool=WAREHOUSE_WRITER_POOL,  # reads the warehouse: not while a writer holds it
        kinds={"python", "html"},
        description=(
            "The weekly digest for people: changes made and their measured impact, predicted vs realized, "
            "experiments running and concluded, budget moves, incidents and how they ended, and what "
            "needs a human decision, by name. Writes reports/digest/<YYYY-Www>.md and .html (charts draw "
            "offline) and sends it through the notifier (Slack, email or the local outbox)."
        ),
    )
    def weekly_digest(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, loopwise_paths: LoopwisePathsResource
    ) -> dg.MaterializeResult:
        from activation.notify import NotifySettings
        from activation.notify.digest import DigestNotice, send_digest
        from decision_engine.digest import run_weekly_digest
        from decision_engine.digest.summary import summarizer_from_env
        from orchestration.resources import loop_clock

        paths = loopwise_paths.paths()
        now = loop_clock(paths)
        with warehouse.connect(read_only=True) as con:
            run = run_weekly_digest(
                con, now, paths.report_dir("digest"), account_timezone(), summarizer_from_env()
            )
        notice = DigestNotice(
            week=run.digest.period.week,
            title=run.digest.title,
            text=run.text,
            links=(str(run.files.html), str(run.files.markdown)),
        )
        report = send_digest(notice, NotifySettings.from_env(), datetime.now(UTC))
        for outcome in report.failed:
            context.log.warning(
                f"digest to {outcome.channel} failed ({outcome.error}); a later notify run retries it"
            )
        context.log.info(f"Weekly digest {run.digest.period.week}: {run.files.html}")
        return dg.MaterializeResult(
            metadata={
                "week": run.digest.period.week,
                "path": dg.MetadataValue.path(str(run.files.html)),
                "markdown": dg.MetadataValue.md(run.text),
                "charts": chart_links([run.files.html], paths.reports_dir),
                "pending_approvals": len(run.digest.pending),
                "summary": "llm" if run.digest.summary else "none",
                "sent": dg.MetadataValue.json(
                    [{"channel": o.channel, "result": o.result} for o in report.outcomes]
                ),
            }
        )

    weekly_digest_job = dg.define_asset_job(
        WEEKLY_DIGEST_JOB,
        selection=dg.AssetSelection.assets(DIGEST_KEY),
        description="Write the weekly digest from the results in the warehouse and send it (notifier).",
    )
    timezone = account_timezone()
    weekly_digest_schedule = dg.ScheduleDefinition(
        name=WEEKLY_DIGEST_SCHEDULE,
        job=weekly_digest_job,
        cron_schedule=WEEKLY_CRON,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"The weekly digest on Monday 07:00 {timezone} (the account's time zone: "
        "LOOPWISE_ACCOUNT_TIMEZONE), from the results of the latest daily refresh.",
    )
    return dg.Definitions(
        assets=[weekly_digest], jobs=[weekly_digest_job], schedules=[weekly_digest_schedule]
    )
