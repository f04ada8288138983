"""Enumerations shared with dbt, read from the `vars:` of `dbt_project/dbt_project.yml`.

The dbt models' accepted_values tests reference these lists with `{{ var('...') }}`; the raw-table
suites (tables dlt loads, which dbt does not test) point at the same vars with `DbtVar`, so each
enumeration is written once. Nothing is read at import: the file is parsed (plain YAML, no dbt)
the first time a value set is needed, i.e. when a suite runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DBT_PROJECT_FILE = Path(__file__).resolve().parents[1] / "dbt_project" / "dbt_project.yml"


@cache
def dbt_project_vars(path: Path = DBT_PROJECT_FILE) -> dict[str, Any]:
    """The project-level `vars:` of a dbt_project.yml (cached per path)."""
    import yaml

    with open(path, encoding="utf-8") as handle:
        project = yaml.safe_load(handle) or {}
    return dict(project.get("vars") or {})


@dataclass(frozen=True)
class DbtVar:
    """A value set that is the concatenation of one or more list-valued dbt project vars."""

    names: tuple[str, ...]

    def __init__(self, *names: str) -> None:
        if not names:
            raise ValueError("DbtVar needs at least one var name")
        object.__setattr__(self, "names", tuple(names))

    def values(self) -> tuple[Any, ...]:
        project_vars = dbt_project_vars()
        resolved: list[Any] = []
        for name in self.names:
            value = project_vars.get(name)
            if not isinstance(value, list):
                raise KeyError(f"dbt var {name!r} is not a list in {DBT_PROJECT_FILE}")
            resolved.extend(value)
        return tuple(resolved)

    def __str__(self) -> str:
        return " + ".join(f"var('{name}')" for name in self.names)
