"""The digest as Markdown and as an HTML page whose charts draw with the network off.

The HTML loads plotly.js from ``plotly.min.js`` in its own directory (written there when missing,
as the other reports' ``include_plotlyjs="directory"`` does), never from a CDN.
"""

from __future__ import annotations

import html
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from decision_engine.digest.model import Digest

PLOTLY_BUNDLE = "plotly.min.js"


@dataclass(frozen=True)
class DigestFiles:
    markdown: Path
    html: Path


def to_markdown(digest: Digest) -> str:
    lines = [f"# {digest.title}", ""]
    lines.append(
        f"_{digest.period.describe()}; data up to {_day(digest)}; written {digest.generated_at:%Y-%m-%d %H:%M %Z}._"
    )
    lines.append("")
    if digest.summary:
        lines += ["## In short", "", digest.summary.strip(), ""]
    lines += [f"- {line}" for line in digest.headline]
    for section in digest.sections:
        lines += ["", f"## {section.title}", ""]
        if section.note:
            lines += [section.note, ""]
        lines += [f"- {line}" for line in section.lines] or [section.empty]
    if digest.charts:
        lines += ["", "## Charts", ""]
        lines += [f"- {chart.title}: {chart.caption} (in the HTML version)" for chart in digest.charts]
    return "\n".join(lines) + "\n"


def _day(digest: Digest) -> str:
    return f"{digest.data_as_of:%a %d %b %Y}" if digest.data_as_of else "no analysis yet"


STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 980px; color: #1f2933; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
     border-bottom: 1px solid #e4e7eb; padding-bottom: 0.2rem; }
.meta { color: #616e7c; font-size: 0.9rem; } .note { color: #3e4c59; }
.headline { background: #f5f7fa; border-radius: 6px; padding: 0.8rem 1.2rem; }
.decision li { margin-bottom: 0.4rem; } .empty { color: #7b8794; font-style: italic; }
.chart { margin-top: 1.5rem; } .caption { color: #616e7c; font-size: 0.9rem; }
"""


def to_html(digest: Digest) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(digest.title)}</title>",
        f"<style>{STYLE}</style>",
        f'<script src="{PLOTLY_BUNDLE}"></script>' if digest.charts else "",
        "</head><body>",
        f"<h1>{e(digest.title)}</h1>",
        f'<p class="meta">{e(digest.period.describe())}; data up to {e(_day(digest))}; '
        f"written {e(f'{digest.generated_at:%Y-%m-%d %H:%M %Z}')}.</p>",
    ]
    if digest.summary:
        parts.append(f"<h2>In short</h2><p>{e(digest.summary.strip())}</p>")
    parts.append(
        '<ul class="headline">' + "".join(f"<li>{e(line)}</li>" for line in digest.headline) + "</ul>"
    )
    for section in digest.sections:
        parts.append(f'<section id="{e(section.code.value)}"><h2>{e(section.title)}</h2>')
        if section.note:
            parts.append(f'<p class="note">{e(section.note)}</p>')
        if section.lines:
            css = ' class="decision"' if section.code.value == "needs_decision" else ""
            parts.append(f"<ul{css}>" + "".join(f"<li>{e(line)}</li>" for line in section.lines) + "</ul>")
        else:
            parts.append(f'<p class="empty">{e(section.empty)}</p>')
        parts.append("</section>")
    if digest.charts:
        parts.append('<section id="charts"><h2>Charts</h2>')
        for chart in digest.charts:
            figure_html = chart.figure.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"chart-{chart.name}",
                config={"displaylogo": False},
            )
            parts.append(
                f'<div class="chart" data-chart="{e(chart.name)}"><h3>{e(chart.title)}</h3>'
                f'<p class="caption">{e(chart.caption)}</p>{figure_html}</div>'
            )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(part for part in parts if part)


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(temporary, 0o644)  # readable like the other reports (mkstemp creates 0600)
    os.replace(temporary, path)


def ensure_plotly_bundle(directory: Path) -> Path:
    """plotly.js next to the HTML (the installed plotly's own copy), so the page needs no network."""
    from plotly.offline import get_plotlyjs

    bundle = directory / PLOTLY_BUNDLE
    source = get_plotlyjs()
    if not bundle.exists() or bundle.stat().st_size != len(source.encode("utf-8")):
        _write_atomically(bundle, source)
    return bundle


def write_digest(digest: Digest, directory: Path) -> DigestFiles:
    """``<directory>/<YYYY-Www>.md`` and ``.html`` (replaced atomically), plus plotly.js beside them."""
    directory.mkdir(parents=True, exist_ok=True)
    files = DigestFiles(directory / f"{digest.period.week}.md", directory / f"{digest.period.week}.html")
    if digest.charts:
        ensure_plotly_bundle(directory)
    _write_atomically(files.markdown, to_markdown(digest))
    _write_atomically(files.html, to_html(digest))
    return files
