"""Each column rule is written once: dbt YAML for mart keys, not-nulls and accepted values; GX for
the rest. Enumerations live in one place (a dbt var, or a raw-only Python tuple), never twice."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml

import quality.suites
from quality import MART_SUITES, RAW_SUITES, SUITES, Check, TableSuite
from quality.checks import in_set, not_null, primary_key, regex
from quality.dbt_vars import DBT_PROJECT_FILE, DbtVar, dbt_project_vars

DBT_PROJECT_DIR = DBT_PROJECT_FILE.parent
CONTRACTS = DBT_PROJECT_DIR.parent / "docs" / "contracts.md"
VAR_REFERENCE = re.compile(r"var\(\s*['\"](\w+)['\"]\s*\)")

Rule = tuple[str, tuple[str, ...]]  # (kind, columns): ("not_null", ("deal_id",)), ("unique", (...))


def _test_name_and_args(test: str | dict) -> tuple[str, dict]:
    if isinstance(test, str):
        return test, {}
    ((name, body),) = test.items()
    body = body or {}
    return name, {**body, **(body.get("arguments") or {})}


def _values(raw: object) -> tuple[str, ...]:
    """accepted_values `values`: a literal list, or "{{ var('a') + var('b') }}"."""
    if isinstance(raw, list):
        return tuple(raw)
    names = VAR_REFERENCE.findall(str(raw))
    assert names, f"unsupported accepted_values values {raw!r}"
    return DbtVar(*names).values()


def dbt_models() -> dict[str, dict]:
    """Model name -> {"path", "rules": set of (kind, columns), "enums": {column: (values, literal?)}}."""
    models: dict[str, dict] = {}
    for path in sorted((DBT_PROJECT_DIR / "models").rglob("_*__models.yml")):
        for model in yaml.safe_load(path.read_text()).get("models") or []:
            rules: set[Rule] = set()
            enums: dict[str, tuple[tuple[str, ...], bool]] = {}
            for test in model.get("data_tests") or []:
                name, args = _test_name_and_args(test)
                if name == "unique_combination_of_columns":
                    rules.add(("unique", tuple(args["combination_of_columns"])))
            for column in model.get("columns") or []:
                for test in column.get("data_tests") or []:
                    name, args = _test_name_and_args(test)
                    rules.add((name, (column["name"],)))
                    if name == "accepted_values":
                        enums[column["name"]] = (_values(args["values"]), isinstance(args["values"], list))
            models[model["name"]] = {"path": path, "rules": rules, "enums": enums}
    return models


def duplicated_rules(suites: Iterable[TableSuite], models: dict[str, dict]) -> list[str]:
    """GX checks on marts that restate a dbt not_null / unique / accepted_values test."""
    found = []
    for suite in suites:
        schema, table = suite.table.split(".", 1)
        if schema != "marts":
            continue
        dbt_rules = models[table]["rules"]
        for check in suite.checks:
            kind = {"not_null": "not_null", "unique": "unique", "in_set": "accepted_values"}.get(check.kind)
            if kind is None:
                continue
            same = (kind, check.columns) in dbt_rules or (
                kind == "unique"
                and any(k == "unique" and set(cols) == set(check.columns) for k, cols in dbt_rules)
            )
            if same:
                found.append(f"{suite.table}: {check.name}")
    return found


def test_no_mart_suite_restates_a_dbt_test() -> None:
    models = dbt_models()
    assert {suite.table.split(".", 1)[1] for suite in MART_SUITES} <= set(models)
    assert duplicated_rules(MART_SUITES, models) == []


def test_the_duplicate_detector_catches_a_restated_rule() -> None:
    restated = TableSuite(
        "marts.fct_deals",
        (*primary_key("deal_id"), in_set("outcome", ("won", "lost", "open")), regex("deal_id", ".+")),
    )
    found = duplicated_rules([restated], dbt_models())
    assert found == [
        "marts.fct_deals: not_null:deal_id",
        "marts.fct_deals: unique:deal_id",
        "marts.fct_deals: in_set:outcome",
    ]
    composite = TableSuite("marts.fct_crm_funnel", (*not_null("transitioned_at"),))
    assert duplicated_rules([composite], dbt_models()) == ["marts.fct_crm_funnel: not_null:transitioned_at"]


def _contract_keys() -> dict[str, tuple[str, ...]]:
    """Mart -> primary key columns, from the grain / pk column of docs/contracts.md section 3."""
    section = CONTRACTS.read_text().split("## 3. Marts", 1)[1]
    keys = {}
    for line in section.splitlines():
        match = re.match(r"\| (\w+) \| \(?([\w, ]+?)\)?(?: \(.*\))? \| ", line)
        if match and match.group(1) != "model":
            keys[match.group(1)] = tuple(column.strip() for column in match.group(2).split(","))
    return keys


def test_every_mart_key_is_a_dbt_error_test() -> None:
    """The rules the mart suites gave up exist in dbt, at dbt's default (error) severity."""
    models = dbt_models()
    keys = _contract_keys()
    # every mart suite is a contract mart; the monitoring marts (daily aggregates of other marts)
    # have only dbt rules
    assert {suite.table.split(".", 1)[1] for suite in MART_SUITES} <= set(keys)
    assert len(keys) >= 12
    for model, key in keys.items():
        rules = models[model]["rules"]
        assert any(kind == "unique" and set(cols) == set(key) for kind, cols in rules), model
        for column in key:
            assert ("not_null", (column,)) in rules, f"{model}.{column}"
    project = yaml.safe_load(DBT_PROJECT_FILE.read_text())
    assert project["data_tests"]["loopwise"]["+severity"] == "error"
    for path in (DBT_PROJECT_DIR / "models" / "marts").rglob("_*__models.yml"):
        assert "severity" not in path.read_text(), f"{path}: a mart test is downgraded; update this test"


def _raw_value_set(check: Check) -> object:
    """The value set as declared (a tuple, or an unresolved DbtVar)."""
    return dict(check.params)["value_set"]


def _dbt_enumerations() -> list[tuple[str, tuple[str, ...], bool]]:
    return [
        (f"{model}.{column}", values, literal)
        for model, spec in dbt_models().items()
        for column, (values, literal) in spec["enums"].items()
    ]


def test_no_python_enumeration_duplicates_a_dbt_accepted_values_list() -> None:
    dbt_sets = {frozenset(values): where for where, values, _ in _dbt_enumerations()}
    literal_sets = []
    for suite in SUITES.values():
        for check in suite.checks:
            if check.kind == "in_set" and not isinstance(_raw_value_set(check), DbtVar):
                literal_sets.append((f"{suite.table}: {check.name}", _raw_value_set(check)))
    for name, value in vars(quality.suites).items():
        if isinstance(value, tuple) and value and all(isinstance(item, str) for item in value):
            literal_sets.append((f"quality.suites.{name}", value))
    duplicates = [
        f"{where} repeats dbt's {dbt_sets[frozenset(values)]}"
        for where, values in literal_sets
        if frozenset(values) in dbt_sets
    ]
    assert duplicates == []


def test_shared_enumerations_resolve_to_vars_dbt_uses() -> None:
    used_vars = set()
    for path in (DBT_PROJECT_DIR / "models").rglob("_*__models.yml"):
        used_vars.update(VAR_REFERENCE.findall(path.read_text()))
    shared = [
        _raw_value_set(check)
        for suite in RAW_SUITES
        for check in suite.checks
        if check.kind == "in_set" and isinstance(_raw_value_set(check), DbtVar)
    ]
    assert len(shared) >= 4
    project_vars = dbt_project_vars()
    for dbt_var in shared:
        assert set(dbt_var.names) <= used_vars, dbt_var
        assert all(isinstance(project_vars[name], list) for name in dbt_var.names)
    lifecycle = SUITES["raw_hubspot.contacts"].checks
    (stage_check,) = [check for check in lifecycle if check.name == "in_set:lifecycle_stage"]
    assert stage_check.options["value_set"][-1] == "other"
    assert "subscriber" in stage_check.options["value_set"]


def test_no_enumeration_is_written_twice_in_dbt_yaml() -> None:
    literal = {}
    for where, values, is_literal in _dbt_enumerations():
        if not is_literal:
            continue
        assert frozenset(values) not in literal, f"{where} repeats {literal[frozenset(values)]}: use a var"
        literal[frozenset(values)] = where


@pytest.mark.parametrize("code", ["import quality", "import quality.suites; import quality.checks"])
def test_import_reads_no_dbt_file(code: str) -> None:
    import subprocess
    import sys

    probe = (
        f"{code}\n"
        "from quality.dbt_vars import dbt_project_vars\n"
        "import sys\n"
        "assert dbt_project_vars.cache_info().currsize == 0, 'dbt_project.yml read at import'\n"
        "assert 'dbt' not in sys.modules and 'dagster' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=Path(__file__).parent)
