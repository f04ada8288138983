from __future__ import annotations

import email
import json
from pathlib import Path

import pytest
from notify_receivers import HttpRecorder, SmtpRecorder

from activation.notify import (
    DeliveryError,
    EmailNotifier,
    NotificationMessage,
    NotifySettings,
    OutboxNotifier,
    PagerDutyNotifier,
    RetryPolicy,
    SlackNotifier,
    build_notifiers,
)
from activation.notify.http import post_json

FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, max_wait_seconds=0.05)


def message(
    action: str = "trigger", severity: str = "critical", data_incident: bool = False
) -> NotificationMessage:
    return NotificationMessage(
        incident_id="abc123",
        action=action,
        incident_type="runaway_spend",
        title="Runaway ad spend (ad:meta:1)",
        severity=severity,
        summary="ad spend for ad:meta:1 was 2,500 against about 500 expected (+400%)",
        likely_cause="a budget change",
        options=["pause the ad or cap its daily budget"],
        entities=["ad:meta:1"],
        metrics=["spend"],
        window_start="2024-05-01",
        window_end="2024-05-02",
        data_incident=data_incident,
    )


def test_slack_posts_block_kit(http_receiver: HttpRecorder) -> None:
    SlackNotifier(http_receiver.url + "/hook", retry=FAST).send(message())
    (posted,) = http_receiver.accepted
    payload = posted["json"]
    assert payload["text"].startswith("[CRITICAL] Runaway ad spend")
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "section", "section", "context"]
    assert "pause the ad" in json.dumps(payload)


def test_pagerduty_trigger_and_resolve_share_dedup_key(http_receiver: HttpRecorder) -> None:
    pager = PagerDutyNotifier("routing-key-1", url=http_receiver.url + "/v2/enqueue", retry=FAST)
    pager.send(message("trigger"))
    pager.send(message("resolve"))
    trigger, resolve = (r["json"] for r in http_receiver.accepted)
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "abc123"
    assert trigger["routing_key"] == "routing-key-1"
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "loopwise"
    assert "payload" not in resolve


def test_pagerduty_routing() -> None:
    pager = PagerDutyNotifier("key")
    assert pager.accepts(message(severity="critical"))
    assert not pager.accepts(message(severity="warning"))
    assert not pager.accepts(message(data_incident=True))


def test_retries_honour_retry_after_then_succeed(http_receiver: HttpRecorder) -> None:
    http_receiver.fail_next(1, 429, {"Retry-After": "0.02"})
    http_receiver.fail_next(1, 503)
    waits: list[float] = []
    post_json(http_receiver.url, {"x": 1}, channel="slack", timeout=2, retry=FAST, sleep=waits.append)
    assert [r["status"] for r in http_receiver.requests] == [429, 503, 200]
    assert waits[0] == pytest.approx(0.02)


def test_client_errors_are_not_retried_and_secrets_stay_out_of_errors(http_receiver: HttpRecorder) -> None:
    http_receiver.fail_next(3, 400)
    secret_url = http_receiver.url + "/services/T000/B000/SECRET"
    with pytest.raises(DeliveryError) as raised:
        SlackNotifier(secret_url, retry=FAST).send(message())
    assert len(http_receiver.requests) == 1
    assert "SECRET" not in str(raised.value)


def test_unreachable_receiver_raises_delivery_error() -> None:
    with pytest.raises(DeliveryError):
        SlackNotifier("http://127.0.0.1:9/hook", timeout=0.5, retry=FAST).send(message())


def test_email_over_smtp(smtp_receiver: SmtpRecorder) -> None:
    notifier = EmailNotifier(
        "127.0.0.1",
        smtp_receiver.port,
        "loopwise@example.com",
        ("ops@example.com", "data@example.com"),
        starttls=False,
        timeout=5,
    )
    notifier.send(message())
    (received,) = smtp_receiver.messages
    assert received["to"] == ["ops@example.com", "data@example.com"]
    parsed = email.message_from_string(received["data"])
    assert parsed["Subject"].startswith("[Loopwise] [CRITICAL] Runaway ad spend")
    assert parsed["X-Loopwise-Incident"] == "abc123"
    assert "Likely cause" in parsed.get_payload()


def test_email_failure_is_a_delivery_error() -> None:
    with pytest.raises(DeliveryError):
        EmailNotifier("127.0.0.1", 9, "a@b.c", ("d@e.f"), starttls=False, timeout=0.5).send(message())


def test_outbox_writes_one_json_file_per_event(tmp_path: Path) -> None:
    outbox = OutboxNotifier(tmp_path / "outbox")
    outbox.send(message("trigger"))
    outbox.send(message("resolve"))
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == ["abc123_resolve.json", "abc123_trigger.json"]
    assert json.loads((tmp_path / "outbox" / "abc123_trigger.json").read_text())["severity"] == "critical"


def test_settings_from_env_hide_secrets(tmp_path: Path) -> None:
    env = {
        "LOOPWISE_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/SECRETHOOK",
        "LOOPWISE_PAGERDUTY_ROUTING_KEY": "SECRETKEY",
        "LOOPWISE_PAGERDUTY_URL": "http://127.0.0.1:1/enqueue",
        "LOOPWISE_SMTP_HOST": "127.0.0.1",
        "LOOPWISE_SMTP_PORT": "2525",
        "LOOPWISE_SMTP_PASSWORD": "SECRETPW",
        "LOOPWISE_SMTP_TO": "a@x.com, b@x.com",
        "LOOPWISE_OUTBOX_DIR": str(tmp_path),
    }
    settings = NotifySettings.from_env(env)
    assert settings.smtp_to == ("a@x.com", "b@x.com") and settings.smtp_port == 2525
    assert settings.smtp_starttls is False and settings.pagerduty_url.endswith("/enqueue")
    text = repr(settings) + "".join(repr(n) for n in build_notifiers(settings))
    assert "SECRET" not in text
    assert [n.name for n in build_notifiers(settings)] == ["slack", "pagerduty", "email", "outbox"]


def test_default_is_the_local_outbox(tmp_path: Path) -> None:
    settings = NotifySettings.from_env({"LOOPWISE_HOME": str(tmp_path)})
    (only,) = build_notifiers(settings)
    assert only.name == "outbox" and only.directory == tmp_path / "outbox"


def test_slack_escapes_mrkdwn_control_characters_in_data(http_receiver: HttpRecorder) -> None:
    from dataclasses import replace

    hostile = replace(
        message(),
        title="<!channel> spend & <http://x|y>",
        summary="see <http://x|y> & <!here>",
        likely_cause="<@U123> changed it",
        options=["click <http://evil|here>"],
        entities=["ad:<meta>"],
        metrics=["a&b"],
    )
    SlackNotifier(http_receiver.url + "/hook", retry=FAST).send(hostile)
    (posted,) = http_receiver.accepted
    payload = posted["json"]
    flat = json.dumps(payload)
    for raw in ("<!channel>", "<http://x|y>", "<!here>", "<@U123>", "<http://evil|here>", "<meta>"):
        assert raw not in flat
    assert payload["text"] == "[CRITICAL] &lt;!channel&gt; spend &amp; &lt;http://x|y&gt;"
    assert payload["blocks"][0]["text"]["text"] == payload["text"]
    assert payload["blocks"][1]["text"]["text"] == "see &lt;http://x|y&gt; &amp; &lt;!here&gt;"
    # Slack's own markup (bold, the bullet) survives; only the data is escaped.
    assert "*Likely cause:* &lt;@U123&gt; changed it" in payload["blocks"][3]["text"]["text"]
    assert "a&amp;b" in payload["blocks"][2]["fields"][2]["text"]


def test_slack_escape_never_cuts_an_entity_in_half() -> None:
    from activation.notify.channels import slack_escape

    assert slack_escape("ab<", 4) == "ab"  # "ab&l" would show a broken entity
    assert slack_escape("ab<", 6) == "ab&lt;"
    assert slack_escape("a & b") == "a &amp; b"
