"""Boundaries enforced by imports, read from the source with ``ast`` (imports inside functions count):

- ground truth is reachable only through ``sandbox.truth``: the served ``World`` has no truth
  method, the served side of the sandbox (world, vendors, server) never imports it, and no product
  package imports it (the one exception: ``loopwise demo`` prepare may import ``write_truth`` to
  write the truth files for tests and benchmarks; it never builds or reads them);
- ingestion reaches the sandbox only through configuration: it imports nothing from ``sandbox``;
- the import graph of the modules inside ``sandbox/`` has no cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from sandbox import World

REPO = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = (
    "core",
    "ingestion",
    "quality",
    "decision_engine",
    "activation",
    "orchestration",
    "loopwise",
)
TRUTH = "sandbox.truth"
# Modules that read the ground truth: the truth itself and the oracle built on it.
TRUTH_READERS = (TRUTH, "sandbox.oracle")
# file (relative to the repo) -> names it may import from the truth readers
TRUTH_WRITERS = {
    "loopwise/commands/demo.py": {"write_truth"},
    # the proof harness scores the loop against the truth; nothing in the loop imports it
    "loopwise/simulate.py": {
        "email_order_revenue",
        "expected_ad_revenue",
        "apply_oracle_subjects",
        "oracle_budgets",
        "oracle_winner",
        "running_tests",
        "subject_style_effect",
        "variant_conversion_rates",
    },
}


# ---- reading imports -------------------------------------------------------------------------------
def package_modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``root/package`` (``__init__`` = the package)."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(path: Path, module: str) -> Iterator[tuple[str, list[str], int]]:
    """(imported module, names imported from it ([] for ``import x``), line) for every import in
    ``path``, wherever it is (module level, functions, branches), relative imports resolved.
    ``importlib.import_module("x")`` / ``__import__("x")`` with a literal name count as ``import x``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)] + ([node.module] if node.module else [])
                target = ".".join(base)
            else:
                target = node.module or ""
            yield target, [alias.name for alias in node.names], node.lineno
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            value = getattr(node.args[0], "value", None)
            if name in ("import_module", "__import__") and isinstance(value, str):
                yield value, [], node.lineno


def resolve(target: str, names: list[str], modules: set[str]) -> set[str]:
    """The modules of ``modules`` an import binds: ``from a.b import c`` is module ``a.b.c`` when that
    is a module, else ``a.b``; ``import a.b.c`` is its deepest known prefix."""
    if not names:
        parts = target.split(".")
        while parts and ".".join(parts) not in modules:
            parts.pop()
        return {".".join(parts)} if parts else set()
    out = set()
    for name in names:
        if f"{target}.{name}" in modules:
            out.add(f"{target}.{name}")
        elif target in modules:
            out.add(target)
    return out


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> modules of the same package it imports explicitly. Importing ``a.b`` also runs
    ``a/__init__``; those implicit parent edges are left out (they would make every package with
    an ``__init__`` that re-exports its submodules look cyclic)."""
    modules = package_modules(root, package)
    names = set(modules)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for target, imported, _ in imports(path, module):
            graph[module] |= resolve(target, imported, names)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None when the graph is acyclic (depth-first search)."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> list[str] | None:
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_stack:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in done:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        on_stack.discard(node)
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def truth_imports(root: Path, packages: tuple[str, ...]) -> list[tuple[str, int, list[str]]]:
    """(file, line, names) of every import of a truth reader (``sandbox.truth``, ``sandbox.oracle``,
    or ``from sandbox import truth``)."""
    found = []
    for package in packages:
        if not (root / package).is_dir():
            continue
        for module, path in package_modules(root, package).items():
            for target, names, line in imports(path, module):
                rel = str(path.relative_to(root))
                if any(target == t or target.startswith(t + ".") for t in TRUTH_READERS):
                    found.append((rel, line, names))
                elif target == "sandbox" and {"truth", "oracle"} & set(names):
                    found.append((rel, line, sorted({"truth", "oracle"} & set(names))))
    return found


# ---- the boundaries --------------------------------------------------------------------------------
def test_world_has_no_truth(tiny_world: World) -> None:
    for name in ("truth", "write_truth", "build_truth"):
        assert not hasattr(World, name), f"World.{name} exists: ground truth must only come from {TRUTH}"
        assert not hasattr(tiny_world, name)


def test_no_product_package_imports_the_truth() -> None:
    offenders = []
    for rel, line, names in truth_imports(REPO, PRODUCT_PACKAGES):
        allowed = TRUTH_WRITERS.get(rel, set())
        if not names or not set(names) <= allowed:
            offenders.append(f"{rel}:{line} imports {names or TRUTH} from {TRUTH}")
    assert not offenders, "product code must not read the sandbox's ground truth:\n" + "\n".join(offenders)


def test_the_served_sandbox_never_imports_the_truth() -> None:
    graph = import_graph(REPO, "sandbox")
    assert graph["sandbox.truth"] >= {"sandbox.world.core", "sandbox.ids"}  # the parser sees imports
    for reader in TRUTH_READERS:
        importers = {m for m, targets in graph.items() if reader in targets}
        assert importers <= {"sandbox.__main__", *TRUTH_READERS}, f"{sorted(importers)} import {reader}"


def test_ingestion_does_not_import_the_sandbox() -> None:
    found = [
        f"{path.relative_to(REPO)}:{line} imports {target}"
        for module, path in package_modules(REPO, "ingestion").items()
        for target, _, line in imports(path, module)
        if target == "sandbox" or target.startswith("sandbox.")
    ]
    assert not found, "\n".join(found)


def test_sandbox_import_graph_has_no_cycle() -> None:
    graph = import_graph(REPO, "sandbox")
    assert "sandbox.ids" in graph["sandbox.world.email_plan"]  # `from sandbox import ids` is a module edge
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in sandbox/: " + " -> ".join(cycle or [])


# ---- the checks themselves can fail ----------------------------------------------------------------
def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_cycle_through_a_lazy_relative_import_is_found(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.world.core import World\n",
            "pkg/util.py": "X = 1\n",
            "pkg/world/__init__.py": "",
            "pkg/world/core.py": "from pkg.util import X\n\n\ndef f():\n    from ..truth import build\n",
            "pkg/truth.py": "from pkg.world import core\n",
        },
    )
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.world.core"] == {"pkg.util", "pkg.truth"}
    assert find_cycle(graph) == ["pkg.world.core", "pkg.truth", "pkg.world.core"]
    (tmp_path / "pkg/world/core.py").write_text("from pkg.util import X\n")
    assert find_cycle(import_graph(tmp_path, "pkg")) is None


def test_truth_imports_are_found_inside_functions(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/a.py": "def f():\n    from sandbox import truth, World\n",
            "app/b.py": "import importlib\n\nimportlib.import_module('sandbox.truth')\n",
            "app/c.py": "from sandbox import World\nfrom sandbox.truth import write_truth\n",
        },
    )
    found = truth_imports(tmp_path, ("app",))
    assert found == [("app/a.py", 2, ["truth"]), ("app/b.py", 3, []), ("app/c.py", 2, ["write_truth"])]
