"""The weekly digest: what Loopwise changed and what it did, experiments, budget moves, incidents
and what needs a human decision, in plain English with charts (docs/digest.md).

``run_weekly_digest(con, now, report_dir, timezone)`` builds it from the ``results`` tables and
writes ``<report_dir>/<YYYY-Www>.md`` and ``.html``; no Dagster here (the asset is in
``orchestration/defs/digest``).
"""

from decision_engine.digest.build import build_digest
from decision_engine.digest.model import Digest, DigestPeriod, SectionCode, period_for
from decision_engine.digest.names import BARE_ID_PATTERNS, NameBook, bare_ids
from decision_engine.digest.render import DigestFiles, to_html, to_markdown, write_digest
from decision_engine.digest.run import DigestRun, run_weekly_digest

__all__ = [
    "BARE_ID_PATTERNS",
    "Digest",
    "DigestFiles",
    "DigestPeriod",
    "DigestRun",
    "NameBook",
    "SectionCode",
    "bare_ids",
    "build_digest",
    "period_for",
    "run_weekly_digest",
    "to_html",
    "to_markdown",
    "write_digest",
]
