"""Plotly chart: lift with confidence intervals over analysis dates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def build_lift_chart(
    results: pd.DataFrame,
    experiment_id: str,
    metric: str,
    html_path: str | Path | None = None,
    include_plotlyjs: bool | str = "cdn",
) -> go.Figure:
    """Relative lift per variant over analysis dates, with the fixed-horizon CI (light band)
    and the sequential CI (the one that is safe to read daily, dashed). Writes HTML when
    ``html_path`` is given (``include_plotlyjs=True`` embeds plotly.js for offline viewing)."""
    frame = results[(results["experiment_id"] == experiment_id) & (results["metric"] == metric)]
    frame = frame[frame["variant"].notna()].sort_values("analysis_date")
    figure = go.Figure()
    for i, (variant, rows) in enumerate(frame.groupby("variant", sort=True)):
        color = _COLORS[i % len(_COLORS)]
        x = rows["analysis_date"].astype(str).tolist()
        figure.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=(rows["relative_ci_upper"] * 100).tolist() + (rows["relative_ci_lower"] * 100).tolist()[::-1],
                fill="toself", fillcolor=_rgba(color, 0.15), line={"width": 0},
                name=f"{variant} fixed-horizon CI", hoverinfo="skip",
            )
        )  # fmt: skip
        for side in ("lower", "upper"):
            figure.add_trace(
                go.Scatter(
                    x=x, y=rows[f"sequential_relative_ci_{side}"] * 100, mode="lines",
                    line={"color": color, "dash": "dash", "width": 1},
                    name=f"{variant} sequential CI", showlegend=side == "lower",
                )
            )  # fmt: skip
        figure.add_trace(
            go.Scatter(
                x=x,
                y=rows["relative_lift"] * 100,
                mode="lines+markers",
                line={"color": color},
                name=f"{variant} lift",
            )
        )
    figure.add_hline(y=0, line={"color": "grey", "width": 1})
    control = frame["control"].iloc[0] if not frame.empty else "control"
    figure.update_layout(
        title=f"{experiment_id}: {metric.replace('_', ' ')} lift vs {control}",
        xaxis_title="analysis date", yaxis_title="relative lift (%)", template="plotly_white",
    )  # fmt: skip
    if html_path is not None:
        figure.write_html(str(html_path), include_plotlyjs=include_plotlyjs)
    return figure
