"""Planning, reporting and writing text load no torch: ``bench report``, ``records``, ``claims``
and ``render`` run, and the modules of the planning and presentation paths import, without torch
in ``sys.modules``.

Each check runs in a fresh interpreter (this test process has imported torch long ago). Planning
builds, validates and hashes every run's :class:`~tssd.config.RunConfig`; the registries it asks
(methods, models, datasets, neuron backends) are declarations that name their torch code
(:class:`tssd.deferred.Deferred`), which is imported only when a run is built or trained.
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

PLANNING = (
    "bench.plan.expand",
    "bench.plan.schema",
    "tssd.config",
    "tssd.methods",
    "tssd.models",
    "tssd.models.registry",
    "tssd.neurons",
    "tssd.neurons.registry",
    "tssd.data",
    "tssd.data.spec",
    "tssd.data.catalog",
    "tssd.deferred",
    "tssd.cost",
    "tssd.plugins",
)
"""The modules that expand plans: the run config, its validation and hash, the registries and
the cost model."""

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


def test_the_presentation_and_planning_modules_import_no_torch():
    out = python("; ".join(f"import {m}" for m in (*PRESENTATION, *PLANNING)) + "; " + PROBE)
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


def test_bench_report_and_records_run_without_torch(tmp_path):
    """``bench report --profile quick`` (every plan expanded, every output regenerated from the
    committed records, into a temporary folder) and ``bench records``: no torch imported."""
    out = tmp_path / "quick"
    code = (
        "from bench.cli import main; "
        f"assert main(['report', '--profile', 'quick', '--out', {str(out)!r}]) == 0; "
        "assert main(['records', '--profile', 'quick']) == 0; " + PROBE
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
    assert "table2" in done.stdout and (out / "REPORT.md").is_file()
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_every_run_of_every_profile_is_planned_without_torch():
    """Each experiment under each profile expands (configs built, validated, hashed, priced)."""
    code = (
        "from bench.plan.expand import expand\n"
        "from bench.plan.schema import experiment_ids, experiment_path, load_experiment, "
        "load_profile, profile_ids\n"
        "n = 0\n"
        "for p in profile_ids():\n"
        "    for e in experiment_ids():\n"
        "        plan = expand(load_experiment(experiment_path(e)), load_profile(p), "
        "runs_dir='runs')\n"
        "        n += len(plan.runs)\n"
        "print(n)\n" + PROBE
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
    planned, probe = done.stdout.strip().splitlines()
    assert int(planned) > 100 and probe == "[]"


def test_the_declared_torch_code_resolves_and_is_preloaded():
    """Every step, network factory, loader and check the registries declare by name resolves to
    a function of its module, and that module is one the fork server preloads
    (:data:`tssd.api.TRAIN_MODULES`)."""
    from tssd.api import TRAIN_MODULES
    from tssd.data import DATASETS
    from tssd.deferred import Deferred
    from tssd.methods import METHODS
    from tssd.models import MODELS

    builtin_methods = ("baseline", "tsd", "ssd", "tssd", "ce_tt", "kd")
    builtin_models = ("micro_cnn", "resnet19", "resnet34", "sew_resnet34", "vgg9")
    builtin_data = ("digits", "digits_dvs", "mnist", "fashion_mnist", "fashion_dvs")
    builtin_data += ("cifar10", "cifar100", "imagenet", "cifar10_dvs", "dvs_gesture")
    declared = [METHODS[m].step for m in builtin_methods] + [MODELS[m] for m in builtin_models]
    declared += [f for d in builtin_data for f in (DATASETS[d].build, DATASETS[d].check)]
    assert all(isinstance(d, Deferred) for d in declared)
    for d in declared:
        module = d.target.partition(":")[0]
        assert module in TRAIN_MODULES, d
        assert callable(d.resolve()) and d.resolve() is d.resolve()


def test_the_catalog_states_the_class_counts_of_the_loaders():
    """The facts the catalog declares without importing a loader are the loaders' own."""
    from tssd.data import DATASETS, cifar, cifar10_dvs, dvs_gesture

    assert DATASETS["cifar10_dvs"].num_classes == len(cifar10_dvs.CLASSES)
    assert DATASETS["dvs_gesture"].num_classes == len(dvs_gesture.CLASSES)
    for name, spec in cifar.VARIANTS.items():
        assert DATASETS[name].num_classes == spec.num_classes
