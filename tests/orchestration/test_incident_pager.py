"""The incident pager sensor against real local receivers (Slack webhook and PagerDuty Events API)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from orchestration.defs.anomalies.definitions import ANOMALY_ALERTS_KEY, page_incidents

GATE = dg.AssetCheckKey(dg.AssetKey(["raw_meta_ads", "ad_insights_daily"]), "great_expectations_suite")


class Receiver:
    """Records JSON posts; answers 500 while ``failing`` is set."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.failing = False
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
    for name in ("LOOPWISE_SMTP_HOST", "LOOPWISE_OUTBOX_DIR", "LOOPWISE_NOTIFY_LEDGER_PATH"):
        isolated_env.delenv(name, raising=False)
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


def test_one_page_per_incident_and_one_resolve(receiver):
    from orchestration.definitions import build_defs

    sensor = build_defs().get_sensor_def("incident_pager")
    with dg.DagsterInstance.ephemeral() as instance:
        _report_incidents(instance, [_incident("open")])
        for _ in range(3):  # repeated ticks
            sensor(dg.build_sensor_context(instance=instance))
        triggers = receiver.paths("/pagerduty")
        assert [event["event_action"] for event in triggers] == ["trigger"]
        assert triggers[0]["dedup_key"] == "runaway-0001"
        assert triggers[0]["payload"]["severity"] == "critical"
        assert len(receiver.paths("/slack")) == 1

        _report_incidents(instance, [_incident("resolved")])
        for _ in range(2):
            sensor(dg.build_sensor_context(instance=instance))
        assert [event["event_action"] for event in receiver.paths("/pagerduty")] == ["trigger", "resolve"]
        assert receiver.paths("/pagerduty")[1]["dedup_key"] == "runaway-0001"
        assert len(receiver.paths("/slack")) == 2


def test_notifier_outage_does_not_lose_the_alert(receiver):
    now = datetime(2026, 3, 1, 10, tzinfo=UTC)
    with dg.DagsterInstance.ephemeral() as instance:
        _report_incidents(instance, [_incident("open")])
        receiver.failing = True
        first = page_incidents(instance, [GATE], now)
        assert "pending or failed deliveries: 0" not in first
        assert receiver.posts == []
        receiver.failing = False
        page_incidents(instance, [GATE], now + timedelta(hours=2))
        assert len(receiver.paths("/pagerduty")) == 1
        assert len(receiver.paths("/slack")) == 1
        page_incidents(instance, [GATE], now + timedelta(hours=3))
        assert len(receiver.paths("/pagerduty")) == 1  # delivered once, not again


def test_failed_quality_gate_is_a_data_incident_not_a_marketing_page(receiver):
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
        page_incidents(instance, [GATE], datetime.now(UTC))
    assert receiver.paths("/pagerduty") == []  # nobody is paged for bad data
    slack = receiver.paths("/slack")
    assert len(slack) == 1
    assert "data incident" in json.dumps(slack[0]).lower()
    assert "raw_meta_ads.ad_insights_daily" in json.dumps(slack[0])
