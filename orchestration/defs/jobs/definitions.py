"""Jobs and schedules."""

import dagster as dg

from orchestration.defs.digest.definitions import DIGEST_KEY

DAILY_REFRESH_JOB = "daily_refresh"

daily_refresh = dg.define_asset_job(
    DAILY_REFRESH_JOB,
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(DIGEST_KEY),  # the digest is weekly
    description="Ingest every source, build and check the models, decide, and publish the BI snapshot.",
)

daily_refresh_schedule = dg.ScheduleDefinition(
    name="daily_refresh_schedule",
    job=daily_refresh,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily ingest and build at 06:00 UTC (turn on in the UI or with `dagster schedule start`).",
)


def build_definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[daily_refresh], schedules=[daily_refresh_schedule])
