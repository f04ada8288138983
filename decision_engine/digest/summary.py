"""The optional LLM summary: off unless a key is configured, never required.

With ``LOOPWISE_LLM_API_KEY`` set, :func:`summarizer_from_env` returns a client for an
OpenAI-compatible chat completions endpoint (``LOOPWISE_LLM_URL``, default
``https://api.openai.com/v1``; ``LOOPWISE_LLM_MODEL``, default ``gpt-4o-mini``) that turns the
digest's Markdown (names and numbers only: no ids, no personal data) into a short paragraph. Any
failure leaves the digest without a summary; it is never retried (the digest goes out anyway).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from decision_engine.digest.settings import LlmSettings

log = logging.getLogger(__name__)

PROMPT = (
    "You write the opening paragraph of a weekly marketing report. Summarise the report below in at "
    "most four plain sentences for a marketing lead: what changed, whether it worked, and what needs "
    "their decision. Use only facts and numbers in the report; do not invent any."
)


class Summarizer(Protocol):
    def summarize(self, report_markdown: str) -> str: ...


@dataclass
class ChatCompletionsSummarizer:
    """One POST to ``<url>/chat/completions`` with a timeout; no retry (the summary is optional)."""

    settings: LlmSettings
    session: Any = None

    def summarize(self, report_markdown: str) -> str:
        import requests

        session = self.session or requests.Session()
        response = session.post(
            f"{self.settings.url}/chat/completions",
            headers={"Authorization": f"Bearer {self.settings.api_key}"},
            json={
                "model": self.settings.model,
                "messages": [
                    {"role": "system", "content": PROMPT},
                    {"role": "user", "content": report_markdown},
                ],
                "temperature": 0,
            },
            timeout=self.settings.timeout_seconds,
        )
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"]).strip()


def summarizer_from_env(environ: Mapping[str, str] | None = None) -> Summarizer | None:
    settings = LlmSettings.from_env(environ)
    return ChatCompletionsSummarizer(settings) if settings else None


def summarize(report_markdown: str, summarizer: Summarizer | None) -> str | None:
    """The summary, or None when no summarizer is configured or it failed (logged, never raised)."""
    if summarizer is None:
        return None
    try:
        text = summarizer.summarize(report_markdown)
    except Exception as error:  # optional: a broken or slow LLM must never stop the digest
        log.warning("digest summary skipped: %s", type(error).__name__)
        return None
    return text or None
