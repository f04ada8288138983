"""The digest goes out through the notifier once per week and channel; the LLM summary is optional,
off by default and never reaches the network in tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from digest_warehouse import NOW

from activation.notify import NotifySettings, PagerDutyNotifier
from activation.notify.digest import DigestNotice, digest_message, send_digest
from decision_engine.digest import run_weekly_digest
from decision_engine.digest.settings import LlmSettings
from decision_engine.digest.summary import ChatCompletionsSummarizer, summarize, summarizer_from_env

SENT_AT = datetime(2026, 5, 4, 7, 5, tzinfo=UTC)


def _settings(tmp_path) -> NotifySettings:
    return NotifySettings(outbox_dir=tmp_path / "outbox", ledger_path=tmp_path / "ledger.sqlite")


def test_the_digest_lands_in_the_outbox_once_per_week(digest_run, tmp_path) -> None:
    notice = DigestNotice(
        week=digest_run.digest.period.week,
        title=digest_run.digest.title,
        text=digest_run.text,
        links=(str(digest_run.files.html),),
    )
    first = send_digest(notice, _settings(tmp_path), SENT_AT)
    again = send_digest(notice, _settings(tmp_path), SENT_AT)
    assert [(o.channel, o.result) for o in first.outcomes] == [("outbox", "sent")]
    assert [(o.channel, o.result) for o in again.outcomes] == [("outbox", "deduplicated")]
    (page,) = (tmp_path / "outbox").glob("*.json")
    assert page.name == "digest-2026-W18_digest.json"
    body = json.loads(page.read_text())
    assert body["headline"] == "Loopwise weekly digest, 2026-W18"
    assert body["text"].startswith("# Loopwise weekly digest, 2026-W18")
    assert body["text"].endswith(f"Full report: {digest_run.files.html}")
    assert "## What needs your decision" in body["text"]


def test_pagerduty_never_receives_a_digest() -> None:
    message = digest_message(DigestNotice(week="2026-W18", title="t", text="x"))
    assert not PagerDutyNotifier(routing_key="key").accepts(message)


def test_no_key_no_summary() -> None:
    assert LlmSettings.from_env({}) is None
    assert summarizer_from_env({"LOOPWISE_LLM_API_KEY": "  "}) is None
    assert summarize("# report", None) is None


class FakeResponse:
    def raise_for_status(self) -> None:
        return None

    def json(self) -> dict:
        return {"choices": [{"message": {"content": " Three budgets moved; one needs you. "}}]}


class RecordingSession:
    """Stands in for requests.Session: records the call, never opens a socket."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def post(self, url: str, **kwargs) -> FakeResponse:
        self.calls.append((url, kwargs))
        return FakeResponse()


def test_with_a_key_the_summary_is_one_timed_request_to_the_configured_endpoint() -> None:
    settings = LlmSettings.from_env(
        {
            "LOOPWISE_LLM_API_KEY": "sk-test",
            "LOOPWISE_LLM_URL": "http://llm.invalid/v1/",
            "LOOPWISE_LLM_MODEL": "m",
        }
    )
    assert settings is not None and "sk-test" not in repr(settings)
    session = RecordingSession()
    text = summarize("# report", ChatCompletionsSummarizer(settings, session=session))
    assert text == "Three budgets moved; one needs you."
    ((url, kwargs),) = session.calls
    assert url == "http://llm.invalid/v1/chat/completions"
    assert kwargs["timeout"] == 30.0 and kwargs["headers"] == {"Authorization": "Bearer sk-test"}
    assert kwargs["json"]["model"] == "m" and kwargs["json"]["messages"][1]["content"] == "# report"


class Broken:
    def summarize(self, report_markdown: str) -> str:
        raise TimeoutError("slow")


class Echo:
    def summarize(self, report_markdown: str) -> str:
        return "Budgets moved on ad set 120210000000001142."


def test_the_summary_goes_on_top_and_a_failing_llm_never_stops_the_digest(warehouse, tmp_path) -> None:
    con, _ids = warehouse
    broken = run_weekly_digest(con, NOW, tmp_path / "a", summarizer=Broken())
    assert broken.digest.summary is None and "## In short" not in broken.files.markdown.read_text()
    echoed = run_weekly_digest(con, NOW, tmp_path / "b", summarizer=Echo())
    markdown = echoed.files.markdown.read_text()
    assert markdown.index("## In short") < markdown.index("## What needs your decision")
    # an id the model echoes is described, not printed
    assert "Budgets moved on ad set an entity with no name in the export." in markdown


class FlakyChannel:
    """Fails the first send, then accepts."""

    name = "flaky"

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.calls = 0

    def accepts(self, message) -> bool:
        return True

    def send(self, message) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("down")
        self.sent.append(message.incident_id)


def test_a_failed_digest_delivery_is_retried_once_due_and_then_not_again() -> None:
    from datetime import timedelta

    from activation.notify import DeliveryLedger, DispatchPolicy
    from activation.notify.dispatch import deliver_once

    message = digest_message(DigestNotice(week="2026-W18", title="t", text="x"))
    channel = FlakyChannel()
    policy = DispatchPolicy()
    with DeliveryLedger(":memory:") as ledger:
        results = []
        for minutes in (0, 1, 10, 20):  # fails; backoff not over; retried and sent; already sent
            report = deliver_once(message, ledger, [channel], SENT_AT + timedelta(minutes=minutes), policy)
            results.append([o.result for o in report.outcomes])
    assert results == [["failed"], ["deferred"], ["sent"], ["deduplicated"]]
    assert channel.sent == ["digest-2026-W18"]
