"""The import graph of the ``vggt_py`` modules has no cycles.

The graph is built from the source with :mod:`ast`: every ``import``/``from ... import`` anywhere in a module
(top level, inside functions, under ``TYPE_CHECKING``) is an edge, so a lazy import does not hide a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "vggt_py"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# 11c's circle, handled by the data part of issue #11.


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module name -> the ``vggt_py`` modules it imports (a submodule import counts as the submodule)."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in files else base)
            for target in targets:
                while target and target not in files:  # `import vggt_py.a.b` of a non-module name
                    target = target.rpartition(".")[0]
                if target.startswith(PACKAGE) and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_known_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_graph_sees_function_level_imports(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from vggt_py.b import g\n")
    (pkg / "b.py").write_text("from . import a\n")
    graph = import_graph(pkg)
    assert graph["vggt_py.a"] == {"vggt_py.b"} and graph["vggt_py.b"] == {"vggt_py.a"}
    assert cycles(graph) == [frozenset({"vggt_py.a", "vggt_py.b"})]


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert [sorted(c) for c in found] == []


def private_imports(root: Path = ROOT) -> set[tuple[str, str, str]]:
    """(importer, module, name) for every ``from vggt_py... import _name`` across modules."""
    found = set()
    for path in root.rglob("*.py"):
        name = _module_name(path, root)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = _resolve(name, path.name == "__init__.py", node)
                if module.startswith(PACKAGE):
                    found |= {(name, module, a.name) for a in node.names if a.name.startswith("_")}
    return found


def test_no_private_names_imported_across_modules() -> None:
    assert private_imports() == set()


def cli_importers(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """Modules outside ``vggt_py.cli`` (``python -m vggt_py`` aside) -> the ``vggt_py.cli`` modules they import."""
    cli = f"{PACKAGE}.cli"

    def in_cli(name: str) -> bool:
        return name == cli or name.startswith(cli + ".")

    found = {
        name: sorted(t for t in targets if in_cli(t))
        for name, targets in graph.items()
        if not in_cli(name) and name != f"{PACKAGE}.__main__"
    }
    return {name: targets for name, targets in found.items() if targets}


def test_the_library_never_imports_the_cli() -> None:
    assert cli_importers(import_graph()) == {}


def test_cli_importers_finds_an_offender(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    (pkg / "cli").mkdir(parents=True)
    for rel in ("__init__.py", "__main__.py", "cli/__init__.py", "cli/common.py"):
        (pkg / rel).write_text("")
    (pkg / "__main__.py").write_text("from vggt_py.cli import main\n")
    (pkg / "cli" / "__init__.py").write_text("from vggt_py.cli.common import CLIError\n")
    (pkg / "lib.py").write_text("def f():\n    from vggt_py.cli.common import CLIError\n")
    assert cli_importers(import_graph(pkg)) == {"vggt_py.lib": ["vggt_py.cli.common"]}
