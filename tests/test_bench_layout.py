"""The harness uses the core only through its public surface, :mod:`tssd.api`.

Imports are read from the source (``ast``), not by importing, so an import inside a function
or under ``if TYPE_CHECKING:`` counts like one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tssd.api

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SURFACE = "tssd.api"


def bench_files() -> list[Path]:
    return sorted((ROOT / "bench").rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str = "") -> list[tuple[int, str, tuple[str, ...]]]:
    """Every import of module ``name`` (default: from ``path``) at ``path``: ``(line, absolute
    module, names)``; ``import a.b`` gives ``("a.b", ())``, ``from a import b, c`` gives
    ``("a", ("b", "c"))``."""
    tree = ast.parse(path.read_text(), str(path))
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod, tuple(a.name for a in node.names)))
    return out


def tssd_uses(path: Path, name: str = "") -> list[tuple[int, str]]:
    """``(line, what)`` for each tssd import of ``path`` that is not ``tssd.api``."""
    bad = []
    for line, mod, names in imports(path, name):
        if mod == "tssd":
            bad += [(line, f"tssd.{n}") for n in names if f"tssd.{n}" != SURFACE]
        elif mod.split(".")[0] == "tssd" and mod != SURFACE:
            bad.append((line, mod))
    return bad


def test_bench_imports_only_the_public_surface():
    files = bench_files()
    assert len(files) > 20  # the walk found the harness
    bad = [f"{p.relative_to(ROOT)}:{line}: {m}" for p in files for line, m in tssd_uses(p)]
    assert bad == [], "bench imports tssd beyond tssd.api:\n" + "\n".join(bad)


def test_bench_imports_only_names_the_surface_has():
    """A typo in a function-level import would fail only when that function runs."""
    missing = [
        f"{p.relative_to(ROOT)}:{line}: {n}"
        for p in bench_files()
        for line, mod, names in imports(p)
        if mod == SURFACE
        for n in names
        if n not in tssd.api.__all__
    ]
    assert missing == [], "not in tssd.api.__all__:\n" + "\n".join(missing)


def test_every_name_of_the_surface_resolves():
    for name in tssd.api.__all__:
        assert getattr(tssd.api, name) is not None, name
    assert not set(tssd.api.TORCH_FREE) & set(tssd.api.TORCH)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = tssd.api.nothing


def test_the_checker_sees_every_kind_of_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from typing import TYPE_CHECKING\n"
        "from tssd.api import RunDir\n"
        "from tssd import api, config\n"
        "import tssd.train\n"
        "if TYPE_CHECKING:\n"
        "    from tssd.rundir import RunDir\n"
        "def f():\n"
        "    from tssd.methods import METHODS\n"
    )
    assert [m for _, m in sorted(tssd_uses(probe, "bench.probe"))] == [
        "tssd.config",
        "tssd.train",
        "tssd.rundir",
        "tssd.methods",
    ]
