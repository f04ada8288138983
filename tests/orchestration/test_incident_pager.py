"""The incident pager and run-failure sensors and the notify job, against real local receivers
(Slack webhook, PagerDuty Events API) and the local outbox.

Sensors only decide: evaluating one (a tick, a preview in the UI) sends nothing and writes no
ledger; the notify run they request delivers, once.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from activation.notify import IncidentRecord, NotifySettings
from activation.notify.runs import plan_notifications, send_notifications
from orchestration.defs.anomalies.definitions import ANOMALY_ALERTS_KEY
from orchestration.defs.notify.definitions import INCIDENT_PAGER, NOTIFY_JOB, RUN_FAILURE_NOTIFIER
from orchestration.defs.quality.definitions import BLOCKING_CHECK_NAME

GATE = dg.AssetCheckKey(dg.AssetKey(["raw_meta_ads", "ad_insights_daily"]), BLOCKING_CHECK_NAME)


class Receiver:
    """Records JSON posts; answers 500 while ``failing`` is set."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.failing = False
        self.outbox: Path | None = None
        self.ledger: Path | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                if receiver.failing:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.posts.append((self.path, body))
                self.send_response(202 if self.path == "/pagerduty" else 200)
                self.end_headers()
                self.wfile.write(b'{"status":"success"}' if self.path == "/pagerduty" else b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self, path: str) -> list[dict]:
        return [body for posted, body in self.posts if posted == path]


@pytest.fixture
def receiver(isolated_env, tmp_path):
    receiver = Receiver()
    isolated_env.setenv("LOOPWISE_HOME", str(tmp_path))
    isolated_env.setenv("LOOPWISE_SLACK_WEBHOOK_URL", f"{receiver.url}/slack")
    isolated_env.setenv("LOOPWISE_PAGERDUTY_ROUTING_KEY", "routing-key-for-tests")
    isolated_env.setenv("LOOPWISE_PAGERDUTY_URL", f"{receiver.url}/pagerduty")
    isolated_env.setenv("LOOPWISE_OUTBOX_DIR", str(tmp_path / "outbox"))
    for name in ("LOOPWISE_SMTP_HOST", "LOOPWISE_NOTIFY_LEDGER_PATH"):
        isolated_env.delenv(name, raising=False)
    receiver.outbox = tmp_path / "outbox"
    receiver.ledger = tmp_path / "notify_ledger.sqlite"
    yield receiver
    receiver.server.shutdown()


def _incident(status: str = "open") -> dict:
    return {
        "incident_id": "runaway-0001",
        "incident_type": "runaway_spend",
        "title": "Runaway spend on ad 42",
        "severity": "critical",
        "status": status,
        "summary": "Spend on ad 42 is 5x its usual level since 09:00.",
        "likely_cause": "A budget or bid changed outside Loopwise.",
        "options": ["Pause the ad", "Check the change history"],
        "entities": ["ad:meta_ads:42"],
        "metrics": ["spend"],
        "scope": "ad:meta_ads:42",
        "data_quality_failed": False,
        "window_start": "2026-03-01",
        "window_end": "2026-03-01",
    }


def _report_incidents(instance: dg.DagsterInstance, incidents: list[dict]) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(ANOMALY_ALERTS_KEY, metadata={"incidents": dg.MetadataValue.json(incidents)})
    )


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from orchestration.definitions import build_defs

    return build_defs()


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.RunRequest | dg.SkipReason:
    return defs.resolve_sensor_def(INCIDENT_PAGER)(dg.build_sensor_context(instance=instance))


def _run(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    result = defs.resolve_job_def(NOTIFY_JOB).execute_in_process(
        run_config=request.run_config, instance=instance, tags=request.tags
    )
    assert result.success
    return result


def _outbox_files(receiver: Receiver) -> list[str]:
    return sorted(p.name for p in receiver.outbox.glob("*.json")) if receiver.outbox.exists() else []


def test_evaluating_the_pager_sends_nothing_and_requests_a_notify_run(receiver, defs):
    with dg.DagsterInstance.ephemeral() as instance:
        _report_incidents(instance, [_incident("open")])
        requests = [_tick(defs, instance) for _ in range(3)]  # ticks or previews in the UI
        assert receiver.posts == []
        assert _outbox_files(receiver) == []
        assert not receiver.ledger.exists()
        for request in requests:
            assert isinstance(request, dg.RunRequest)
            config = request.run_config["ops"]["send_notifications"]["config"]
            assert [item["incident_id"] for item in config["incidents"]] == ["runaway-0001"]
            assert sorted(config["deliveries"]) == [
                "trigger runaway-0001 -> outbox",
                "trigger runaway-0001 -> pagerduty",
                "trigger runaway-0001 -> slack",
            ]
            assert request.tags["loopwise/requested_by"] == INCIDENT_PAGER
            assert request.tags["loopwise/incidents"] == "runaway-0001"

        result = _run(defs, instance, requests[0])
        assert _outbox_files(receiver) == ["runaway-0001_trigger.json"]
        page = json.loads((receiver.outbox / "runaway-0001_trigger.json").read_text())
        assert page["likely_cause"] == "A budget or bid changed outside Loopwise."
        assert page["options"] == ["Pause the ad", "Check the change history"]
        assert len(receiver.paths("/pagerduty")) == 1
        assert len(receiver.paths("/slack")) == 1
        sent = result.output_for_node("send_notifications")
        assert sent == {"sent": 3}

        # The run wrote the ledger: the next evaluation has nothing to send, and a second run
        # with the same config (a re-execution) sends nothing again.
        assert isinstance(_tick(defs, instance), dg.SkipReason)
        _run(defs, instance, requests[1])
        assert len(receiver.paths("/pagerduty")) == 1
        assert len(receiver.paths("/slack")) == 1
        assert _outbox_files(receiver) == ["runaway-0001_trigger.json"]


def test_one_page_per_incident_and_one_resolve(receiver, defs):
    with dg.DagsterInstance.ephemeral() as instance:
        _report_incidents(instance, [_incident("open")])
        _run(defs, instance, _tick(defs, instance))
        assert isinstance(_tick(defs, instance), dg.SkipReason)
        triggers = receiver.paths("/pagerduty")
        assert [event["event_action"] for event in triggers] == ["trigger"]
        assert triggers[0]["dedup_key"] == "runaway-0001"
        assert triggers[0]["payload"]["severity"] == "critical"
        assert len(receiver.paths("/slack")) == 1

        _report_incidents(instance, [_incident("resolved")])
        ledger_before = receiver.ledger.read_bytes()
        request = _tick(defs, instance)
        assert isinstance(request, dg.RunRequest)
        assert receiver.ledger.read_bytes() == ledger_before  # the sensor only read the ledger
        assert receiver.paths("/pagerduty")[-1]["event_action"] == "trigger"  # not yet: the run resolves
        _run(defs, instance, request)
        assert isinstance(_tick(defs, instance), dg.SkipReason)
        assert [event["event_action"] for event in receiver.paths("/pagerduty")] == ["trigger", "resolve"]
        assert receiver.paths("/pagerduty")[1]["dedup_key"] == "runaway-0001"
        assert len(receiver.paths("/slack")) == 2


def test_notifier_outage_does_not_lose_the_alert(receiver):
    now = datetime(2026, 3, 1, 10, tzinfo=UTC)
    settings = NotifySettings.from_env()
    incidents = [IncidentRecord(**_incident("open"))]
    receiver.failing = True
    first = send_notifications(incidents, settings, now)
    assert first.pending_or_failed > 0
    assert receiver.posts == []
    assert plan_notifications(incidents, settings, now + timedelta(minutes=1)).deliveries == []  # backing off
    receiver.failing = False
    later = now + timedelta(hours=2)
    assert {d.channel for d in plan_notifications(incidents, settings, later).deliveries} == {
        "slack",
        "pagerduty",
    }
    send_notifications(incidents, settings, later)
    assert len(receiver.paths("/pagerduty")) == 1
    assert len(receiver.paths("/slack")) == 1
    assert not plan_notifications(incidents, settings, now + timedelta(hours=3)).due
    send_notifications(incidents, settings, now + timedelta(hours=3))
    assert len(receiver.paths("/pagerduty")) == 1  # delivered once, not again


def test_failed_quality_gate_is_a_data_incident_not_a_marketing_page(receiver, defs):
    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=GATE.asset_key,
                check_name=GATE.name,
                passed=False,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"summary": "1 value of spend falls outside >= 0 (e.g. -50.0)."},
            )
        )
        _run(defs, instance, _tick(defs, instance))
    assert receiver.paths("/pagerduty") == []  # nobody is paged for bad data
    slack = receiver.paths("/slack")
    assert len(slack) == 1
    assert "data incident" in json.dumps(slack[0]).lower()
    assert "raw_meta_ads.ad_insights_daily" in json.dumps(slack[0])


@dg.op
def _broken_step() -> None:
    raise RuntimeError("the source refused the credentials")


@dg.job
def _broken_job() -> None:
    _broken_step()


def test_run_failure_notifier_requests_one_data_incident_page(receiver, defs):
    with dg.DagsterInstance.ephemeral() as instance:
        failed = _broken_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not failed.success
        context = dg.build_run_status_sensor_context(
            sensor_name=RUN_FAILURE_NOTIFIER,
            dagster_event=failed.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(failed.run_id),
        ).for_run_failure()
        request = defs.resolve_sensor_def(RUN_FAILURE_NOTIFIER)(context)
        assert isinstance(request, dg.RunRequest)
        assert request.run_key == f"run_failure:{failed.run_id}"
        assert receiver.posts == [] and _outbox_files(receiver) == []
        _run(defs, instance, request)
    assert receiver.paths("/pagerduty") == []  # a failed run is a data incident: no marketing page
    slack = json.dumps(receiver.paths("/slack"))
    assert "_broken_job" in slack and failed.run_id in slack
    assert len(_outbox_files(receiver)) == 1
