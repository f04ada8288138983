"""The package layering of docs/architecture.md section 2, enforced by reading the imports.

Every import counts, including those inside functions (lazy imports are still dependencies).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "core",
    "sandbox",
    "ingestion",
    "quality",
    "decision_engine",
    "activation",
    "orchestration",
    "loopwise",
)

# package -> packages of ours it must never import
FORBIDDEN: dict[str, set[str]] = {
    "core": set(PACKAGES) - {"core"},
    "sandbox": set(PACKAGES) - {"sandbox"},
    "ingestion": {"sandbox", "quality", "decision_engine", "activation", "orchestration", "loopwise"},
    "quality": {"sandbox", "decision_engine", "activation", "orchestration", "loopwise"},
    "decision_engine": {
        "sandbox",
        "ingestion",
        "quality",
        "activation",
        "orchestration",
        "loopwise",
        "dagster",
    },
    "activation": {
        "sandbox",
        "ingestion",
        "quality",
        "decision_engine",
        "orchestration",
        "loopwise",
        "dagster",
    },
    "orchestration": {"loopwise"},
}
# The only modules that read the environment (settings modules).
SETTINGS_MODULES = {
    "core/settings.py",
    "ingestion/config.py",
    "activation/notify/settings.py",
    "activation/writeback/settings.py",
    "decision_engine/digest/settings.py",
}


def _modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_its_layer_may(package):
    violations = []
    for path in _modules(package):
        bad = _imported_packages(path) & FORBIDDEN[package]
        if bad:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not violations, "\n".join(violations)


def _reads_environ(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "getenv":
        return True
    method = isinstance(node, ast.Attribute) and node.attr in ("get", "setdefault", "items", "copy")
    subscript = isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
    target = getattr(node, "value", None)
    return (method or subscript) and isinstance(target, ast.Attribute) and target.attr == "environ"


def _environment_reads(path: Path) -> list[int]:
    """Lines that read ``os.environ`` / ``os.getenv`` (writing the environment for a child is allowed)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return sorted(node.lineno for node in ast.walk(tree) if _reads_environ(node))


def test_the_environment_is_read_only_in_settings_modules():
    violations = []
    for package in PACKAGES:
        for path in _modules(package):
            relative = path.relative_to(ROOT).as_posix()
            if relative in SETTINGS_MODULES:
                continue
            violations += [f"{relative}:{line}" for line in _environment_reads(path)]
    assert not violations, "environment read outside a settings module:\n" + "\n".join(violations)


def test_the_rules_can_fail(tmp_path):
    """The readers above see a lazy import and an environment read inside a function."""
    module = tmp_path / "module.py"
    module.write_text(
        "def f():\n    import os\n    from loopwise.cli import main\n    return os.environ.get('X')\n"
    )
    assert "loopwise" in _imported_packages(module)
    assert _environment_reads(module) == [4]
