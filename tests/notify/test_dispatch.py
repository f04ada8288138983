from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from notify_receivers import HttpRecorder

from activation.notify import (
    DeliveryLedger,
    NotificationMessage,
    OutboxNotifier,
    PagerDutyNotifier,
    RetryPolicy,
    SlackNotifier,
    dispatch,
)
from decision_engine.anomalies import Incident

FAST = RetryPolicy(attempts=2, backoff_seconds=0.01, max_wait_seconds=0.02)
T0 = datetime(2024, 5, 1, 6, tzinfo=UTC)


def incident(
    status: str = "open",
    severity: str = "critical",
    kind: str = "runaway_spend",
    start: str = "2024-05-01",
    data_quality_failed: bool = False,
    scope: str = "ad:meta:1",
) -> Incident:
    return Incident(
        incident_id=f"{kind}-{scope}-{start}",
        incident_type=kind,
        scope=scope,
        title=f"{kind} ({scope})",
        severity=severity,
        status=status,
        window_start=pd.Timestamp(start),
        window_end=pd.Timestamp(start),
        entities=[scope],
        metrics=["spend"],
        summary="spend up",
        likely_cause="budget",
        options=["pause the ad"],
        data_quality_failed=data_quality_failed,
    )


class Recording:
    def __init__(self, name: str = "recording", fail: int = 0) -> None:
        self.name, self.fail, self.sent = name, fail, []

    def accepts(self, message: NotificationMessage) -> bool:
        return True

    def send(self, message: NotificationMessage) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("receiver down")
        self.sent.append((message.incident_id, message.action))


def test_one_page_per_incident_despite_repeated_ticks(http_receiver: HttpRecorder, tmp_path: Path) -> None:
    pager = PagerDutyNotifier("key", url=http_receiver.url, retry=FAST)
    with DeliveryLedger(tmp_path / "ledger.sqlite") as ledger:
        for tick in range(10):
            dispatch([incident()], ledger, [pager], now=T0 + timedelta(minutes=tick))
    with DeliveryLedger(tmp_path / "ledger.sqlite") as ledger:  # survives a restart
        report = dispatch([incident()], ledger, [pager], now=T0 + timedelta(hours=1))
    assert len(http_receiver.accepted) == 1
    assert report.counts() == {"deduplicated": 1}


def test_resolve_is_sent_once_on_recovery(http_receiver: HttpRecorder) -> None:
    pager = PagerDutyNotifier("key", url=http_receiver.url, retry=FAST)
    ledger = DeliveryLedger(":memory:")
    dispatch([incident()], ledger, [pager], now=T0)
    for tick in range(1, 5):
        dispatch([incident(status="resolved")], ledger, [pager], now=T0 + timedelta(hours=tick))
    actions = [r["json"]["event_action"] for r in http_receiver.accepted]
    assert actions == ["trigger", "resolve"]
    assert {r["json"]["dedup_key"] for r in http_receiver.accepted} == {incident().incident_id}


def test_outage_does_not_lose_the_alert(http_receiver: HttpRecorder) -> None:
    http_receiver.fail_next(2, 500)  # the whole first tick fails (2 attempts)
    slack = SlackNotifier(http_receiver.url, retry=FAST)
    ledger = DeliveryLedger(":memory:")
    first = dispatch([incident()], ledger, [slack], now=T0)
    assert first.counts() == {"failed": 1}
    (pending,) = ledger.deliveries(status=("pending", "failed"))
    assert pending.status == "failed" and pending.attempts == 1 and pending.last_error == "slack: HTTP 500"
    early = dispatch([incident()], ledger, [slack], now=T0 + timedelta(minutes=1))  # backoff not over yet
    assert early.counts() == {"deferred": 1}
    later = dispatch([incident()], ledger, [slack], now=T0 + timedelta(minutes=10))
    assert later.counts() == {"sent": 1}
    assert len(http_receiver.accepted) == 1 and ledger.deliveries(status=("pending", "failed")) == []


def test_failed_retry_continues_after_the_incident_leaves_the_window() -> None:
    flaky = Recording(fail=1)
    ledger = DeliveryLedger(":memory:")
    dispatch([incident()], ledger, [flaky], now=T0)
    dispatch([], ledger, [flaky], now=T0 + timedelta(hours=1))
    assert flaky.sent == [(incident().incident_id, "trigger")]


def test_data_quality_failures_never_page_marketing(tmp_path: Path, http_receiver: HttpRecorder) -> None:
    pager = PagerDutyNotifier("key", url=http_receiver.url, retry=FAST)
    outbox = OutboxNotifier(tmp_path)
    ledger = DeliveryLedger(":memory:")
    report = dispatch([incident(data_quality_failed=True)], ledger, [pager, outbox], now=T0)
    assert http_receiver.requests == []
    assert [(o.channel, o.result) for o in report.outcomes] == [("outbox", "sent")]
    written = (tmp_path / f"{incident().incident_id}_trigger.json").read_text()
    assert "[data incident]" in written


def test_history_and_low_severity_send_nothing() -> None:
    recording = Recording()
    ledger = DeliveryLedger(":memory:")
    dispatch(
        [incident(status="resolved"), incident(severity="info", start="2024-05-02")],
        ledger,
        [recording],
        now=T0,
    )
    assert recording.sent == []


def test_cooldown_defers_a_flapping_incident() -> None:
    recording = Recording()
    ledger = DeliveryLedger(":memory:")
    dispatch([incident(start="2024-05-01")], ledger, [recording], now=T0)
    dispatch(
        [incident(start="2024-05-01", status="resolved"), incident(start="2024-05-02")],
        ledger,
        [recording],
        now=T0 + timedelta(hours=1),
    )
    assert len([s for s in recording.sent if s[1] == "trigger"]) == 1
    dispatch([incident(start="2024-05-02")], ledger, [recording], now=T0 + timedelta(hours=7))
    assert [s[1] for s in recording.sent] == ["trigger", "resolve", "trigger"]


def test_resolved_before_delivery_is_cancelled_not_resolved() -> None:
    down = Recording(fail=5)
    ledger = DeliveryLedger(":memory:")
    dispatch([incident()], ledger, [down], now=T0)
    report = dispatch([incident(status="resolved")], ledger, [down], now=T0 + timedelta(hours=1))
    assert report.counts() == {"cancelled": 1} and down.sent == []
    assert ledger.status_counts() == {"cancelled": 1}
