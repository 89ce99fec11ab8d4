"""The layout holds: which way imports point, no cycles, small modules.

Read from the source with :mod:`ast`, every import counted wherever it sits
(a function-level import is still a dependency)."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGES = ("plugin", "runtime", "connectors", "simulator")
MAX_MODULE_LINES = 600
MAX_CLASS_METHODS = 25
# Faces over the services: only these may build on aiohttp's server.
FACES = ("plugin.http", "plugin.cli", "plugin.extensions", "plugin.web")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it, resolved to a module name."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


@cache
def graph() -> dict[str, frozenset[str]]:
    """Module → the project modules it imports."""
    known = modules()
    return {name: frozenset(m for m in imported(path) if m in known and m != name)
            for name, path in known.items()}


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in edges.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def capability(module: str) -> str:
    """``plugin.audience.filters.ast`` → ``plugin.audience``."""
    return ".".join(module.split(".")[:2])


def test_the_cycle_finder_names_a_cycle() -> None:
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert cycles({"a": ["b"], "b": []}) == []


def test_no_import_cycle_between_modules() -> None:
    assert cycles(graph()) == []


def test_capability_packages_depend_one_way() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in graph().items():
        if module.startswith("plugin."):
            packages.setdefault(capability(module), set()).update(
                capability(t) for t in targets
                if t.startswith("plugin.") and capability(t) != capability(module))
    assert cycles(packages) == []


def test_plugin_imports_no_runtime_connector_or_simulator() -> None:
    bad = {m: sorted(t for t in targets if t.split(".")[0] in ("runtime", "connectors",
                                                                 "simulator"))
           for m, targets in graph().items() if m.split(".")[0] == "plugin"}
    assert {m: t for m, t in bad.items() if t} == {}


def test_services_know_no_http_server() -> None:
    services = [m for m in modules() if m.startswith("plugin")
                and not any(m == f or m.startswith(f + ".") for f in FACES)]
    bad = {m: sorted(i for i in imported(modules()[m])
                     if i == "aiohttp.web" or i.startswith("aiohttp.web."))
           for m in services}
    assert {m: found for m, found in bad.items() if found} == {}


def test_only_the_cli_puts_the_web_tab_into_a_server() -> None:
    # The web tab is a face over the services: none of them, nor the API, imports it.
    users = {m for m, targets in graph().items() if not m.startswith("plugin.web")
             and any(t == "plugin.web" or t.startswith("plugin.web.") for t in targets)}
    assert users <= {"plugin.cli.serve"}


def test_a_service_importing_the_http_server_is_caught(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from aiohttp import web\n    return web\n")
    assert "aiohttp.web" in {i for i in _imported_outside_root(sample)}


def _imported_outside_root(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_and_classes_stay_small(package: str) -> None:
    too_long, too_wide = {}, {}
    for name, path in modules().items():
        if not name.startswith(package):
            continue
        text = path.read_text("utf-8")
        if (lines := text.count("\n")) > MAX_MODULE_LINES:
            too_long[name] = lines
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                methods = [n for n in node.body
                           if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                if len(methods) > MAX_CLASS_METHODS:
                    too_wide[f"{name}.{node.name}"] = len(methods)
    assert (too_long, too_wide) == ({}, {})
