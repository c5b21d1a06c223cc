"""Writing text loads no torch: ``bench render`` and ``bench claims`` run, and the modules of the
presentation path import, without torch in ``sys.modules``.

Each check runs in a fresh interpreter (this test process has imported torch long ago). What
stays torch-bound is planning: ``bench report``, ``records`` and ``aggregate`` expand the plans
(:mod:`bench.plan.expand` builds every run's :class:`~tssd.config.RunConfig` to hash it), and the
registries that validation asks (methods, models, datasets) are defined beside their torch code.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]

PRESENTATION = (
    "bench.cli",
    "bench.pipeline",
    "bench.present.render",
    "bench.present.report",
    "bench.analyse.claims",
    "bench.execute.records",
    "bench.analyse.aggregate",
    "bench.present.figures",
    "bench.present.forest",
    "bench.present.verdicts",
    "tssd.fileio",
    "tssd.host",
    "tssd.hashing",
    "tssd.rundir",
    "tssd.errors",
    "tssd.api",
)
"""The modules ``render``, ``report``, ``claims``, ``records`` and ``aggregate`` import to read
CSVs and records and write tables, figures and reports."""

PROBE = "import sys; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"


def python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_presentation_modules_import_no_torch():
    out = python("; ".join(f"import {m}" for m in PRESENTATION) + "; " + PROBE)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_torch_free_names_of_the_public_surface_import_no_torch():
    """Reading every name of :data:`tssd.api.TORCH_FREE` loads no torch."""
    out = python("import tssd.api as a; [getattr(a, n) for n in a.TORCH_FREE]; " + PROBE)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_bench_claims_runs_without_torch():
    out = python("from bench.cli import main; assert main(['claims']) == 0; " + PROBE)
    assert out.returncode == 0, out.stderr
    assert "| experiment | claim |" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_bench_render_imports_no_torch(tmp_path):
    """``python -X importtime -m bench render table2`` on a copy of the quick profile's CSVs:
    no torch module among the imports it times."""
    src = ROOT / "results" / "quick"
    quick = tmp_path / "quick"
    quick.mkdir()
    for f in src.glob("*.csv"):
        shutil.copy(f, quick / f.name)
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bench", "render", "table2"]
        + ["--results", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert (quick / "table2.md").is_file() and (quick / "macros.tex").is_file()
    imported = [
        ln.rsplit("|", 1)[1].strip()
        for ln in out.stderr.splitlines()
        if ln.startswith("import time:") and "|" in ln
    ]
    assert "bench.present.render" in imported  # the timing was read
    assert [m for m in imported if m.split(".")[0] == "torch"] == []
