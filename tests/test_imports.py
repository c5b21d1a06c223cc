"""No import cycle inside ``tssd/``, function-level and annotation-only imports included.

The graph is read from the source (``ast``), not by importing: module ``a`` depends on module
``b`` when ``a`` imports ``b`` (``from b import name`` too; ``from pkg import sub`` depends on
``pkg.sub`` only) or a package above ``b`` that is not above ``a`` (importing ``tssd.data.spec``
from ``tssd.config`` runs ``tssd/data/__init__.py``; a package's own modules may import their
siblings while the package initialises, that is how registries fill).

Every import counts: at module level, inside a function (it runs late, but a cycle it closes is
still a layer that knows the one above it) and under ``if TYPE_CHECKING:`` (an annotation that
names a module above is the same knowledge). So :mod:`tssd.config`, which composes the sections
the subsystems own, is imported by nothing it imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "tssd"


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
    """(module-level, late) tssd modules that ``name`` depends on; late: imported inside a
    function or under ``if TYPE_CHECKING:`` only."""
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
                visit(node.body, True)  # never runs, but names what the module knows
                visit(node.orelse, in_function)
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


def test_module_level_imports_have_no_cycle():
    top, _ = graph()
    assert len(top) > 40 and "tssd.config" in top  # the walk found the package
    cycle = find_cycle(top)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_import_cycle_at_all():
    """Function-level and TYPE_CHECKING imports included: no whitelist."""
    top, late = graph()
    every = {name: top[name] | late[name] for name in top}
    cycle = find_cycle(every)
    assert cycle is None, "import cycle (late imports included): " + " -> ".join(cycle)


def test_the_checker_sees_a_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(g) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    mods = modules()
    top, _ = imports_of("tssd.config", mods["tssd.config"], mods)
    # importing tssd.data.spec from outside tssd.data runs tssd/data/__init__.py
    assert {"tssd.data.spec", "tssd.data", "tssd.methods", "tssd.errors"} <= top


def test_the_checker_sees_late_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "from tssd import errors\n"
        "if TYPE_CHECKING:\n"
        "    from tssd.config import RunConfig\n"
        "def f():\n"
        "    from tssd.train import train\n"
    )
    top, late = imports_of("tssd.probe", probe, modules())
    assert top == {"tssd.errors"}
    assert late == {"tssd.config", "tssd.train"}
