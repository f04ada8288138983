"""One weekly digest run: build it from the warehouse, add the optional summary, write the files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from decision_engine.digest.build import build_digest
from decision_engine.digest.model import Digest
from decision_engine.digest.names import NameBook
from decision_engine.digest.render import DigestFiles, to_markdown, write_digest
from decision_engine.digest.summary import Summarizer, summarize


@dataclass(frozen=True)
class DigestRun:
    digest: Digest
    files: DigestFiles

    @property
    def text(self) -> str:
        """The Markdown, as the notifier sends it."""
        return to_markdown(self.digest)


def run_weekly_digest(
    con: Any,
    now: datetime,
    report_dir: Path,
    timezone: str = "UTC",
    summarizer: Summarizer | None = None,
) -> DigestRun:
    """Build the digest of the week before ``now`` and write ``<report_dir>/<YYYY-Www>.md`` / ``.html``.

    ``summarizer`` (``decision_engine.digest.summary.summarizer_from_env()``; None by default) adds
    the optional LLM paragraph; without it, or when it fails, the digest is complete without one.
    """
    digest = build_digest(con, now, timezone)
    summary = summarize(to_markdown(digest), summarizer)
    if summary:
        digest.summary = NameBook().humanize(summary)  # an id the model echoed is described, not printed
    return DigestRun(digest, write_digest(digest, report_dir))
