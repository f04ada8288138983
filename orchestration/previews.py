"""What a decision asset's page shows beside its row count: a Markdown preview of its headline rows
(``preview``) and links to its charts (``charts``), served by ``loopwise dev``'s chart server.

The rows come from ``decision_engine.previews`` (which rows, in which order); here they become a
Markdown table (``MetadataValue.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from core.settings import charts_url


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, total: int | None = None) -> str:
    """A GitHub-flavoured Markdown table; with ``total`` a line saying how many rows it leaves out."""
    if not rows:
        return "_No rows in the latest analysis._"
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(" --- " for _ in columns) + "|",
        *("| " + " | ".join(_cell(value) for value in row) + " |" for row in rows),
    ]
    if total is not None and total > len(rows):
        lines.append(f"\n_{len(rows)} of {total} rows._")
    return "\n".join(lines)


def preview(con: Any, table: str) -> dg.MetadataValue:
    """The headline rows of ``results.<table>`` (``decision_engine.previews``) as a Markdown table."""
    from decision_engine.previews import headline_rows

    headline = headline_rows(con, table)
    return dg.MetadataValue.md(markdown_table(headline.columns, headline.rows, total=headline.total))


def chart_url(path: str | Path, reports_dir: Path) -> str:
    """The chart server's URL for a chart written under ``reports_dir``."""
    relative = Path(path).resolve().relative_to(reports_dir.resolve())
    return f"{charts_url()}/{relative.as_posix()}"


def chart_links(paths: Sequence[str | Path], reports_dir: Path) -> dg.MetadataValue:
    """A Markdown list linking each chart (opens in the browser while ``loopwise dev`` runs)."""
    if not paths:
        return dg.MetadataValue.md("_No charts in this run._")
    lines = [f"- [{Path(path).stem}]({chart_url(path, reports_dir)})" for path in paths]
    lines.append("\n_Served by `loopwise dev` from the reports directory._")
    return dg.MetadataValue.md("\n".join(lines))
