"""docs/results_tables.md is generated from core.results_schema and must be current."""

from pathlib import Path

from core.results_schema import render_markdown


def test_results_tables_doc_is_current():
    doc = Path(__file__).resolve().parents[1] / "docs" / "results_tables.md"
    assert doc.read_text() == render_markdown(), "run: python -m core.results_schema > docs/results_tables.md"
