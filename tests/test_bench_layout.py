"""The harness's layout: it uses the core only through its public surface, :mod:`tssd.api`, and
its stages (``bench/plan`` < ``execute`` < ``analyse`` < ``present``) import no later one.

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
    return sorted(out)


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


STAGES = ("plan", "execute", "analyse", "present")
"""The sub-packages of ``bench/`` in the order a result passes through them."""
SHARED = {"bench", "bench.stats"}
"""What every stage may import: the package's paths and the statistics."""


def bench_targets(path: Path, name: str = "") -> list[tuple[int, str]]:
    """``(line, bench module)`` for each bench module that ``path`` imports; ``from bench.x import
    y`` names ``bench.x.y`` when that is a module of ``bench/``, else ``bench.x``."""
    known = {module_name(p) for p in bench_files()}
    out = []
    for line, mod, names in imports(path, name):
        if mod.split(".")[0] != "bench":
            continue
        subs = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in known]
        out += [(line, s) for s in subs]
        if len(subs) < len(names) or not names:
            out.append((line, mod))
    return out


def stage_of(module: str) -> int | None:
    parts = module.split(".")
    return STAGES.index(parts[1]) if len(parts) > 1 and parts[1] in STAGES else None


def later_imports(path: Path, name: str = "") -> list[tuple[int, str]]:
    """``(line, module)`` for each import of a stage module ``path`` that it may not make: a
    later stage, or a module at the top of ``bench/`` other than :data:`SHARED` (the
    orchestration: pipeline, regression, cli)."""
    own = stage_of(name or module_name(path))
    if own is None:
        return []
    bad = []
    for line, target in bench_targets(path, name):
        stage = stage_of(target)
        if (stage is None and target not in SHARED) or (stage is not None and stage > own):
            bad.append((line, target))
    return bad


def test_every_bench_module_is_in_a_stage_or_drives_them():
    top = {module_name(p) for p in bench_files() if stage_of(module_name(p)) is None}
    drivers = {"bench.__main__", "bench.cli", "bench.pipeline", "bench.regression"}
    assert top == SHARED | drivers
    assert all((ROOT / "bench" / s / "__init__.py").is_file() for s in STAGES)


def test_no_stage_imports_a_later_one():
    bad = [
        f"{p.relative_to(ROOT)}:{line}: {m}" for p in bench_files() for line, m in later_imports(p)
    ]
    assert bad == [], "a stage imports a later stage or the orchestration:\n" + "\n".join(bad)


def test_the_shared_statistics_import_nothing_of_bench():
    assert bench_targets(ROOT / "bench" / "stats.py") == []


def test_the_stage_checker_sees_later_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from bench import ROOT\n"
        "from bench.stats import mean_std\n"
        "from bench.plan.schema import Profile\n"
        "from bench.execute import records\n"
        "def f():\n"
        "    from bench.present.render import render_table\n"
        "    from bench import pipeline\n"
        "    import bench.analyse.claims\n"
    )
    assert later_imports(probe, "bench.execute.probe") == [
        (6, "bench.present.render"),
        (7, "bench.pipeline"),
        (8, "bench.analyse.claims"),
    ]
    assert later_imports(probe, "bench.present.probe") == [(7, "bench.pipeline")]
    assert later_imports(probe, "bench.probe") == []  # the orchestration may import anything
