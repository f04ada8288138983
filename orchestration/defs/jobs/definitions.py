"""Jobs and schedules."""

import dagster as dg

from orchestration.defs.digest.definitions import DIGEST_KEY
from orchestration.defs.loop.definitions import ACTION_LOG_KEY, ACTION_QUEUE_KEY

DAILY_REFRESH_JOB = "daily_refresh"
TEST_SUBJECTS_JOB = "test_subjects_refresh"

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

# A marketer schedules a campaign a few hours to a week before it sends: a running test reaches
# it only if its subject is templated before then. This job re-reads just the Klaviyo campaigns
# and their messages, rebuilds their staging models and runs the action queue and the vendor
# writes (the tests' apply_test_subject proposals, any launch the policy allows, send times and
# content choice), so a campaign scheduled after the daily refresh still joins the tests and is
# personalised. Minutes, not the daily build.
test_subjects_refresh = dg.define_asset_job(
    TEST_SUBJECTS_JOB,
    selection=dg.AssetSelection.assets(
        dg.AssetKey(["raw_klaviyo", "campaigns"]),
        dg.AssetKey(["raw_klaviyo", "campaign_messages"]),
        dg.AssetKey(["staging", "stg_klaviyo__campaigns"]),
        dg.AssetKey(["staging", "stg_klaviyo__campaign_messages"]),
        dg.AssetKey(["marts", "dim_message_content"]),  # a new campaign's topic, for content choice
        ACTION_QUEUE_KEY,
        ACTION_LOG_KEY,
    ),
    description=(
        "Between daily refreshes: re-read Klaviyo's campaigns and messages and template the subjects "
        "of newly scheduled campaigns for Loopwise's running tests (queue, policy, vendor writes)."
    ),
)

test_subjects_schedule = dg.ScheduleDefinition(
    name="test_subjects_schedule",
    job=test_subjects_refresh,
    cron_schedule="30 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every hour at :30 UTC: newly scheduled campaigns join Loopwise's running tests.",
)


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        jobs=[daily_refresh, test_subjects_refresh],
        schedules=[daily_refresh_schedule, test_subjects_schedule],
    )
