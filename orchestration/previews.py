"""What a decision asset's page shows beside its row count: a Markdown preview of its headline rows
(``preview``) and links to its charts (``charts``), served by ``loopwise dev``'s chart server.

Each preview reads the latest analysis of a ``results`` table and renders at most
``PREVIEW_ROWS`` rows as a Markdown table (``MetadataValue.md``), the rows a marketer would look
at first: the biggest budget moves, every experiment's decision, the worst open incidents, the
actions waiting for a human, the highest scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from core.settings import charts_url

PREVIEW_ROWS = 10


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


# What each decision table previews: the columns shown, and which rows come first.
PREVIEWS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "budget_recommendations": (
        ("platform", "budget_entity_id", "ad_id", "current_daily_spend", "recommended_daily_budget",
         "change_pct", "expected_roas", "reason_code"),
        "true",
        "abs(recommended_daily_budget - current_daily_spend) desc, platform, ad_id",
    ),
    "experiment_decisions": (
        ("experiment_id", "decision", "target_variant", "primary_metric", "relative_lift",
         "relative_ci_lower", "relative_ci_upper", "reason_code"),
        "true",
        "experiment_id",
    ),
    "anomaly_alerts": (
        ("severity", "status", "incident_type", "metric", "entity", "window_end", "observed", "expected"),
        "status = 'open'",
        "case severity when 'critical' then 0 when 'high' then 1 when 'medium' then 2 else 3 end, "
        "window_end desc, incident_id",
    ),
    "actions": (
        ("action_id", "status", "action_type", "platform", "target_id", "policy_verdict", "reason_code"),
        "status in ('proposed', 'pending_approval', 'auto_approved', 'approved')",
        "status_at desc, action_id",
    ),
    "customer_value": (
        ("contact_id", "expected_value", "expected_purchases", "p_alive", "frequency"),
        "true",
        "expected_value desc nulls last, contact_id",
    ),
    "churn_risk": (
        ("contact_id", "churn_risk", "churn_tier", "segment", "days_since_last_engagement"),
        "true",
        "churn_risk desc nulls last, contact_id",
    ),
    "lead_scores": (
        ("contact_id", "probability", "tier", "days_in_stage", "emails_clicked_30d"),
        "true",
        "probability desc nulls last, contact_id",
    ),
    "score_models": (
        ("score", "status", "model", "scored", "validation_mae", "auc", "calibration_error", "note"),
        "true",
        "score",
    ),
}  # fmt: skip


def preview(con: Any, table: str, limit: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """The headline rows of the latest analysis of ``results.<table>`` as Markdown. The action queue
    has no single analysis: it previews the actions still live, newest first."""
    columns, where, order = PREVIEWS[table]
    if table != "actions":
        latest = f"analysis_timestamp = (select max(analysis_timestamp) from results.{table})"
        where = f"({where}) and {latest}"
    (total,) = con.execute(f"select count(*) from results.{table} where {where}").fetchone()
    rows = con.execute(
        f"select {', '.join(columns)} from results.{table} where {where} order by {order} limit {int(limit)}"
    ).fetchall()
    return dg.MetadataValue.md(markdown_table(columns, rows, total=int(total)))


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
