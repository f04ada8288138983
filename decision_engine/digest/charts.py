"""The digest's charts (plotly figures); every axis label is a human name, never an id."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from decision_engine.digest.model import Chart
from decision_engine.digest.names import NameBook, platform_name
from decision_engine.digest.wording import number, predicted_column, realized_column

if TYPE_CHECKING:
    import plotly.graph_objects as go

LABEL_CHARS = 60


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _unique(labels: list[str]) -> list[str]:
    """Labels made distinct (plotly merges equal category labels into one bar)."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def _figure(title: str) -> go.Figure:
    import plotly.graph_objects as go

    figure = go.Figure()
    figure.update_layout(template="plotly_white", title=title, height=420, margin={"l": 260, "r": 30})
    return figure


def impact_chart(changes: pd.DataFrame, names: NameBook) -> Chart | None:
    """Predicted (and, once measured, realized) daily revenue change of this week's changes."""
    import plotly.graph_objects as go

    predicted = predicted_column(changes)
    if changes.empty or predicted is None:
        return None
    rows = changes[changes[predicted].map(number).notna()]
    if rows.empty:
        return None
    labels = _unique([_short(names.short(target)) for target in rows["target_id"]])
    figure = _figure("This week's changes: expected and measured daily revenue change")
    figure.add_trace(go.Bar(y=labels, x=rows[predicted].map(number), orientation="h", name="expected"))
    realized = realized_column(rows)
    if realized is not None and rows[realized].map(number).notna().any():
        figure.add_trace(go.Bar(y=labels, x=rows[realized].map(number), orientation="h", name="measured"))
    figure.update_layout(barmode="group", xaxis_title="change in revenue per day")
    return Chart(
        "impact",
        "Expected and measured impact",
        "Each change Loopwise applied this week, with the revenue change per day it expected "
        "(and what was measured once its window matured).",
        figure,
    )


def budget_chart(latest: pd.DataFrame, names: NameBook) -> Chart | None:
    """Current and recommended daily budget of each budget entity in the latest analysis."""
    import plotly.graph_objects as go

    if latest.empty:
        return None
    labels = []
    for _, row in latest.iterrows():
        name = row.get("budget_entity_name")
        if not (isinstance(name, str) and name.strip()):
            name = names.short(row["budget_entity_id"], str(row["budget_entity_type"]))
        labels.append(_short(f"{platform_name(row.get('platform'))}: {name.strip()}"))
    labels = _unique(labels)
    figure = _figure("Daily budgets: now and recommended")
    figure.add_trace(go.Bar(y=labels, x=latest["current_daily_budget"], orientation="h", name="now"))
    figure.add_trace(
        go.Bar(y=labels, x=latest["recommended_daily_budget"], orientation="h", name="recommended")
    )
    figure.update_layout(barmode="group", xaxis_title="daily budget")
    return Chart(
        "budget",
        "Budget moves",
        "Each budget (ad set, campaign or campaign budget) now and as the latest analysis recommends.",
        figure,
    )


def experiments_chart(latest: pd.DataFrame, names: NameBook, limit: int = 15) -> Chart | None:
    """Relative lift of each experiment's primary metric with its interval (most recent first)."""
    import plotly.graph_objects as go

    if latest.empty or "relative_lift" not in latest:
        return None
    rows = latest[latest["relative_lift"].notna()].sort_values("analysis_date", ascending=False).head(limit)
    if rows.empty:
        return None
    labels = _unique([_short(names.short_experiment(str(e))) for e in rows["experiment_id"]])
    lift = rows["relative_lift"].astype(float)
    upper = (rows["relative_ci_upper"].astype(float) - lift).fillna(0)
    lower = (lift - rows["relative_ci_lower"].astype(float)).fillna(0)
    figure = _figure("Experiments: lift of the primary metric, with its interval")
    figure.add_trace(
        go.Scatter(
            x=lift,
            y=labels,
            mode="markers",
            marker={"size": 10},
            error_x={"type": "data", "array": upper.clip(upper=5), "arrayminus": lower.clip(upper=5)},
            text=[str(d).replace("_", " ") for d in rows["decision"]],
            hovertemplate="%{y}<br>lift %{x:.1%}<br>%{text}<extra></extra>",
            name="relative lift",
        )
    )
    figure.add_vline(x=0, line_dash="dot")
    figure.update_layout(xaxis_tickformat=".0%", xaxis_title="relative lift of the variant over the control")
    return Chart(
        "experiments",
        "Experiments",
        "The latest estimate of each experiment (newest first): the dot is the lift, the bar its interval.",
        figure,
    )
