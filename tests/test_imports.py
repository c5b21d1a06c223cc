"""No import cycle inside ``tssd/``: the layering the modules' docstrings promise, checked.

The graph is read from the source (``ast``), not by importing: module ``a`` depends on module
``b`` when ``a`` imports ``b`` (``from b import name`` too; ``from pkg import sub`` depends on
``pkg.sub`` only) or a package above ``b`` that is not above ``a`` (importing ``tssd.data.base``
from ``tssd.config`` runs ``tssd/data/__init__.py``; a package's own modules may import their
siblings while the package initialises, that is how registries fill). Imports under
``if TYPE_CHECKING:`` never run and are skipped.

Module-level imports must form no cycle. An import inside a function runs late, so it may close a
cycle, but only where :data:`DEFERRED` says why; every other function-level import must be one
that could be hoisted without a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "tssd"

DEFERRED: dict[tuple[str, str], str] = {}
"""Function-level imports that would close a cycle if hoisted: (importer, imported) -> why."""


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path, mods: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(module-level, function-level) tssd modules that ``name`` depends on."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top: set[str] = set()
    deferred: set[str] = set()

    def targets(node: ast.Import | ast.ImportFrom) -> set[str]:
        found: set[str] = set()
        if isinstance(node, ast.Import):
            found = {a.name for a in node.names}
        else:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in mods}
            found = subs if len(subs) == len(node.names) else {mod, *subs}
        out = set()
        for m in found:
            if m not in mods or m == name:
                continue
            out.add(m)
            parts = m.split(".")
            for i in range(1, len(parts)):  # packages above the target, not above the importer
                pkg = ".".join(parts[:i])
                if pkg in mods and pkg != name and not name.startswith(pkg + "."):
                    out.add(pkg)
        return out

    def visit(body: list[ast.stmt], in_function: bool) -> None:
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                (deferred if in_function else top).update(targets(node))
            elif isinstance(node, ast.If) and _is_type_checking(node):
                continue
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(node.body, True)
            elif isinstance(node, ast.ClassDef):
                visit(node.body, in_function)
            else:  # try / except / with / if / for bodies run where they stand
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.stmt):
                        visit([child], in_function)
                    elif isinstance(child, ast.excepthandler):
                        visit(child.body, in_function)

    visit(tree.body, False)
    return top, deferred - top


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    mods = modules()
    top, deferred = {}, {}
    for name, path in mods.items():
        top[name], deferred[name] = imports_of(name, path, mods)
    return top, deferred


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``g`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(g.get(v, ())):
            if state.get(w) == 1:
                return stack[stack.index(w) :] + [w]
            if w not in state and (c := dfs(w)) is not None:
                return c
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(g):
        if v not in state and (c := dfs(v)) is not None:
            return c
    return None


def reaches(g: dict[str, set[str]], a: str, b: str) -> bool:
    seen, todo = set(), [a]
    while todo:
        v = todo.pop()
        if v == b:
            return True
        if v not in seen:
            seen.add(v)
            todo.extend(g.get(v, ()))
    return False


def test_module_level_imports_have_no_cycle():
    top, _ = graph()
    assert len(top) > 40 and "tssd.config" in top  # the walk found the package
    cycle = find_cycle(top)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_function_level_imports_close_a_cycle_only_where_documented():
    top, deferred = graph()
    closing = sorted(
        (a, b) for a, targets in deferred.items() for b in targets if reaches(top, b, a)
    )
    undocumented = [edge for edge in closing if edge not in DEFERRED]
    assert not undocumented, (
        "function-level imports that close an import cycle without a reason in DEFERRED: "
        + ", ".join(f"{a} -> {b}" for a, b in undocumented)
    )


def test_the_checker_sees_a_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(g) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    mods = modules()
    top, _ = imports_of("tssd.config", mods["tssd.config"], mods)
    # importing tssd.data.base from outside tssd.data runs tssd/data/__init__.py
    assert {"tssd.data.base", "tssd.data", "tssd.methods", "tssd.errors"} <= top
