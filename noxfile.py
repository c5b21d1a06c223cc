"""The verbs users type: ``nox -s tests``, ``nox -s reproduce-table2``, ``nox -l`` for the list.

Every session that needs torch shares one virtual environment, ``.nox/tssd-env``, built once and
rebuilt only when pyproject.toml or constraints/ change (a stamp file holds their hash). Installing
torch once instead of once per session keeps a second ``nox -s reproduce-table2`` under a minute.
torch is pinned by constraints/cpu.txt: an unpinned torch downloads several GB of CUDA packages.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
ENV = ROOT / ".nox" / "tssd-env"
CONSTRAINTS = ROOT / "constraints" / "cpu.txt"
EXTRAS = "test,harness,backends,augment,neurobench"
# spikingjelly 2.0.0 declares torchvision/torchaudio/tensorboard as requirements; its neuron code
# needs none of them (only torch, numpy, loguru), and torchvision would drag in another torch.
# neurobench 2.3.0 declares librosa, numba, tonic and torchaudio; its metrics import only torch,
# snntorch, numpy and tqdm (the neurobench extra).
NO_DEPS = ["spikingjelly==2.0.0", "neurobench==2.3.0"]

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests"]


def _stamp() -> str:
    h = hashlib.sha256()
    for p in (ROOT / "pyproject.toml", CONSTRAINTS):
        h.update(p.read_bytes())
    h.update((EXTRAS + "|" + ",".join(NO_DEPS)).encode())
    return h.hexdigest()[:16]


def _python(session: nox.Session) -> str:
    """Path of the shared environment's python, creating or updating the environment first."""
    py = ENV / "bin" / "python"
    stamp_file = ENV / ".tssd-stamp"
    stamp = _stamp()
    if py.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return str(py)
    if not py.exists():
        session.run(sys.executable, "-m", "venv", str(ENV), external=True)
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    session.run(*pip, "-c", str(CONSTRAINTS), "-e", f"{ROOT}[{EXTRAS}]", external=True)
    session.run(*pip, "--no-deps", *NO_DEPS, external=True)
    stamp_file.write_text(stamp)
    return str(py)


def _run(session: nox.Session, *args: str) -> None:
    env = {"PYTHONUNBUFFERED": "1"}
    session.run(_python(session), *args, external=True, env=env)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, backend-parity and smoke tests (slow and GPU tests excluded; -- -m slow runs those)."""
    _run(session, "-m", "pytest", "-q", *session.posargs)


@nox.session(venv_backend="venv")
def lint(session: nox.Session) -> None:
    """ruff: lint and format check (in a small virtualenv of its own: no torch needed)."""
    session.install("-q", "ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def benchmark(session: nox.Session) -> None:
    """The benchmark suite (benchmarks/, pytest-benchmark): ratios of one run against targets.

    LIF layers, training steps eager and compiled, the data pipeline, and the GPU section where
    CUDA is. Prints every ratio of the run against its target (MET / NOT MET) and writes
    results/benchmarks/<device>-torch<v>.json (pytest-benchmark's), ratios-<device>-torch<v>.json
    (the ratios) and a numbered copy under results/benchmarks/<machine>/ for comparisons.

    Compare with a saved run: ``nox -s benchmark -- --benchmark-compare`` (the latest saved run;
    ``--benchmark-compare=0003`` picks one, ``--benchmark-compare-fail=median:15%`` fails on a
    slowdown); offline: ``.nox/tssd-env/bin/pytest-benchmark --storage results/benchmarks compare
    0002 0003 --group-by=group --columns=median`` (or two JSON paths). ``-- --bench-quick`` for a
    smoke run (small shapes, 2 rounds; saved as ...-quick.json, never numbered); ``-- -k layer``
    selects tests; ``-- --bench-rounds N``, ``--bench-threads N``.
    """
    py = _python(session)
    tag = session.run(
        py,
        "-c",
        "import torch; print(('cuda' if torch.cuda.is_available() else 'cpu')"
        " + '-torch' + torch.__version__.split('+')[0])",
        external=True,
        silent=True,
    ).strip()
    out = ROOT / "results" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    if "--bench-quick" in session.posargs:
        save = ["--benchmark-json", str(out / f"{tag}-quick.json")]
    else:
        save = [
            "--benchmark-json",
            str(out / f"{tag}.json"),
            "--benchmark-autosave",
            "--benchmark-storage",
            str(out),
        ]
    columns = "--benchmark-columns=median,iqr,min,max,rounds"
    _run(session, "-m", "pytest", "benchmarks", *save, columns, *session.posargs)


@nox.session(name="gpu-check")
def gpu_check(session: nox.Session) -> None:
    """Everything that needs a GPU, in one script of at most 8 minutes (benchmarks/gpu_check.py).

    CUDA parity tests, one training step per backend, the GPU benchmark, a 1-epoch small run.
    Runs with the python3 on PATH (a GPU machine's own CUDA torch: the shared environment's is
    the CPU build) or $TSSD_GPU_PYTHON; without CUDA it says so and exits 0. ``-- OUT`` sets
    the output directory (default results/benchmarks/)."""
    python = os.environ.get("TSSD_GPU_PYTHON", "python3")
    script = str(ROOT / "benchmarks" / "gpu_check.py")
    session.run(python, script, "--python", python, *session.posargs, external=True)


@nox.session(name="quick-run")
def quick_run(session: nox.Session) -> None:
    """One quick TSSD training run on the embedded digits (configs/quick_tssd.yaml)."""
    _run(session, "-m", "tssd", "train", "configs/quick_tssd.yaml", *session.posargs)


# ---- the reproduction harness (bench/): tables and figures, run, rendered and compared ----------
# Default profile: quick (embedded stand-in data, CPU, minutes). The real thing:
#   nox -s reproduce-table2 -- --profile paper --data-root DIR
REPRODUCIBLE = [f"table{i}" for i in range(1, 9)] + [f"figure{i}" for i in range(3, 7)]


def _reproduce_session(target: str):
    def reproduce(session: nox.Session) -> None:
        _run(session, "-m", "bench", "run", target, *session.posargs)

    reproduce.__doc__ = (
        f"Re-run {target}: runs (cached by config hash), CSV, LaTeX/Markdown or PDF/PNG, verdicts."
    )
    return nox.session(name=f"reproduce-{target}")(reproduce)


for _target in REPRODUCIBLE:
    globals()[f"reproduce_{_target}"] = _reproduce_session(_target)


@nox.session(name="reproduce-all")
def reproduce_all(session: nox.Session) -> None:
    """Re-run every table and figure (runs shared between them run once)."""
    _run(session, "-m", "bench", "run", "all", *session.posargs)


def _with_profile(args: list[str], default: str) -> list[str]:
    return (
        args
        if any(a == "--profile" or a.startswith("--profile=") for a in args)
        else [
            "--profile",
            default,
            *args,
        ]
    )


@nox.session
def reconstruction(session: nox.Session) -> None:
    """The reconstruction study on the small profile: each open choice of the paper varied alone,
    TSSD - baseline per variant and dataset with its 95 % interval (table and forest plot).
    Hours on 2 cores; runs are cached and resume, so it may span several sittings."""
    _run(session, "-m", "bench", "run", "reconstruction", *_with_profile(session.posargs, "small"))


@nox.session
def report(session: nox.Session) -> None:
    """Every table, claim, figure and REPORT.md regenerated from the committed run records
    (quick and small, then the README's claims table; ``-- --profile P`` for one profile).
    Runs nothing, reads no run cache: works on a fresh clone in under a minute."""
    if session.posargs:
        _run(session, "-m", "bench", "report", *session.posargs)
        return
    for profile in ("quick", "small"):
        _run(session, "-m", "bench", "report", "--profile", profile)
    _run(session, "-m", "bench", "claims", "--readme")


@nox.session
def regression(session: nox.Session) -> None:
    """CI regression: re-run the quick subset and compare it with results/reference/quick/."""
    _run(session, "-m", "bench", "regression", *session.posargs)
