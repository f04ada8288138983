"""The dbt monitoring models (dbt_project/models/marts/monitoring) as views over hand-built marts.

Tests build ``marts.fct_*`` by hand; :func:`create_monitoring_views` renders the very model
files (``ref('x')`` -> ``<schema>.x``, with the project's portable macros) into views beside them, so the SQL is written once and
later edits of the hand-built marts show through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
MONITORING_DIR = DBT_PROJECT / "models" / "marts" / "monitoring"
# the engine-neutral macros the models call (union_all_by_name), defined ahead of each model
MACROS = (DBT_PROJECT / "macros" / "portable.sql").read_text()


def create_monitoring_views(con: Any, schema: str = "marts", refs: dict[str, str] | None = None) -> None:
    """Create ``<schema>.fct_monitoring_*`` views; ``refs`` maps a model name to the relation it
    reads (default ``marts.<name>``)."""
    refs = refs or {}
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    con.execute(f"create schema if not exists {schema}")
    for path in sorted(MONITORING_DIR.glob("*.sql")):
        sql = environment.from_string(MACROS + path.read_text()).render(
            ref=lambda name: refs.get(name, f"marts.{name}")
        )
        con.execute(f"create or replace view {schema}.{path.stem} as {sql}")
