"""``loopwise demo`` delivers the incidents' pages through the pager's notify run and shows one."""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from orchestration.defs.anomalies.definitions import ANOMALY_ALERTS_KEY

INCIDENT = {
    "incident_id": "runaway-0001",
    "incident_type": "runaway_spend",
    "title": "Runaway spend on ad 42",
    "severity": "critical",
    "status": "open",
    "summary": "Spend on ad 42 is 5x its usual level since 09:00.",
    "likely_cause": "A budget or bid changed outside Loopwise.",
    "options": ["Pause the ad", "Check the change history"],
    "entities": ["ad:meta_ads:42"],
    "metrics": ["spend"],
}


def test_demo_writes_the_page_to_the_outbox_and_prints_it(isolated_env, tmp_path, capsys):
    from core.settings import load_paths
    from loopwise.commands.demo import deliver_pages
    from loopwise.runner import prepare_environment
    from loopwise.summary import print_pages

    for name in (
        "LOOPWISE_SLACK_WEBHOOK_URL",
        "LOOPWISE_PAGERDUTY_ROUTING_KEY",
        "LOOPWISE_SMTP_HOST",
        "LOOPWISE_OUTBOX_DIR",
        "LOOPWISE_NOTIFY_LEDGER_PATH",
    ):
        isolated_env.delenv(name, raising=False)
    prepare_environment(load_paths(str(tmp_path)))
    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                ANOMALY_ALERTS_KEY, metadata={"incidents": dg.MetadataValue.json([INCIDENT])}
            )
        )

    pages = deliver_pages()
    assert pages.success
    with dg.DagsterInstance.get() as instance:  # the notify run is listed under the code location's job
        (run,) = instance.get_runs(
            filters=dg.RunsFilter(job_name="notify", tags={REPOSITORY_LABEL_TAG: "__repository__@loopwise"})
        )
    from orchestration.definitions import build_defs

    assert run.job_snapshot_id == build_defs().resolve_job_def("notify").get_job_snapshot_id()
    assert pages.channels == ("outbox",)
    assert [path.name for path in pages.outbox_files] == ["runaway-0001_trigger.json"]
    assert pages.outbox_files[0].parent == (tmp_path / "outbox").resolve()
    print_pages(pages)
    printed = capsys.readouterr().out
    assert str(tmp_path / "outbox") in printed
    for text in (
        "[CRITICAL] Runaway spend on ad 42",
        "5x its usual level",
        "Likely cause: A budget",
        "- Pause the ad",
    ):
        assert text in printed

    again = deliver_pages()  # a rerun sends nothing new
    assert again.outbox_files == ()
    assert "nothing to send" in again.message
