"""Everything that needs a GPU, in one prepared script of at most 8 minutes (issue 13 item 5).

    python3 benchmarks/gpu_check.py [OUT]        # on the GPU machine; OUT: results/benchmarks/
    nox -s gpu-check [-- OUT]                    # the same, with the python3 on PATH

GPU time is scarce (minutes, start-up included), so nothing is improvised on the GPU machine: this
script runs the steps below one after the other, each in its own process group with its own time
limit. A step that runs past its limit gets SIGINT (pytest then still writes its reports) and
SIGKILL 10 s later, is reported as ``timeout``, and the next step runs; a step that would start with
less than 5 s of the budget left is ``skipped``. The limits add up to at most ``--budget`` (470 s by
default, counted from the script's start), so the whole stays under 8 minutes.

Steps (limit), each writing under ``OUT/gpu-check/`` (its log: ``<step>.log``):

1. ``install-wheels`` (30 s), only where ``.whl/`` exists: spikingjelly, snntorch and loguru from
   ``.whl/*.whl`` into a temporary directory (``pip install --no-index --no-deps --target``) that
   is put first on the other steps' ``PYTHONPATH``;
2. ``gpu-tests`` (90 s): ``pytest -m gpu tests/test_gpu.py``: the CUDA path of every LIF
   implementation against the reference loop (spikes exact, gradients within 1e-5), one training
   step per backend in bf16 and float32 (``gpu-tests.xml``);
3. ``compiled-lif`` (100 s): ``pytest -m gpu tests/test_compiled_lif.py``: the compiled LIF's
   Triton kernels against the loop (``compiled-lif.xml``);
4. ``gpu-bench`` (170 s): ``pytest benchmarks/test_gpu_bench.py``: ResNet-19, CIFAR shape, T=4,
   bf16, images/s per backend, eager and compiled; the compiled LIF against spikingjelly's GPU
   kernels (``gpu-bench-<torch>.json``: pytest-benchmark's; ``ratios-<torch>.json``: the suite's
   ratio report);
5. ``small-1-epoch`` (60 s): ``python -m tssd train`` with the small profile's Fashion-MNIST
   settings (bench/profiles/small.yaml; TSSD, T_s=2, T_t=4, VGG-9 width 16), 1 epoch,
   ``runtime.device=cuda``; data under ``./data/fashion_mnist`` if present, else Debian's
   ``/usr/share/datasets/fashion-mnist`` (run directory ``small-1-epoch/``).

``OUT/gpu-check/summary.json`` holds each step's status (ok | failed | timeout | skipped), seconds,
limit and output, rewritten after every step; a short table is printed last; ``env.json`` records
the GPU, torch, CUDA and ``nvidia-smi``. Exit status: 0 when every step is ok, 1 otherwise. On a
machine without CUDA it says so in one line and exits 0.

Standard library only, apart from torch (imported to ask for CUDA), so it runs with the GPU
machine's own python.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 470.0
GRACE_S = 10.0  # between SIGINT and SIGKILL
MIN_STEP_S = 5.0
SMALL_DATA = ROOT / "data" / "fashion_mnist"
DEBIAN_ROOT = "/usr/share/datasets"  # holds fashion-mnist/ (Debian's dataset-fashion-mnist)


@dataclass
class Step:
    """One command of the check, with its time limit and what it writes (relative to OUT)."""

    name: str
    argv: list[str]
    limit_s: float
    output: str = ""
    env: dict[str, str] = field(default_factory=dict)


# ---- running steps ------------------------------------------------------------------------------


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def run_step(
    step: Step,
    out: Path,
    remaining_s: float,
    grace_s: float = GRACE_S,
    min_step_s: float = MIN_STEP_S,
    cwd: Path = ROOT,
) -> dict:
    """Run one step in its own process group, stopped at ``min(its limit, what remains of the
    budget less the grace)``; skipped when less than ``min_step_s`` would remain. Never raises
    for the step's own failure."""
    result = {"name": step.name, "limit_s": step.limit_s, "output": step.output, "rc": None}
    if remaining_s - grace_s < min_step_s:
        return {**result, "status": "skipped", "seconds": 0.0, "why": "no time left in the budget"}
    limit = min(step.limit_s, remaining_s - grace_s)
    log = out / f"{step.name}.log"
    result["log"] = log.name
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **step.env}
    t0 = time.monotonic()
    with open(log, "w") as f:
        f.write(f"$ {' '.join(step.argv)}\n")
        f.flush()
        try:
            proc = subprocess.Popen(
                step.argv,
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env=env,
                start_new_session=True,  # its own process group: a timeout ends all it started
                # a shell that started us in the background left SIGINT ignored, and children
                # inherit that: the step must die of (or catch) the SIGINT of its time limit
                preexec_fn=_default_sigint,
            )
        except OSError as exc:
            f.write(f"could not start: {exc}\n")
            return {**result, "status": "failed", "seconds": 0.0, "why": str(exc)}
        try:
            rc = proc.wait(timeout=limit)
            status = "ok" if rc == 0 else "failed"
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid, signal.SIGINT)  # pytest writes its reports on SIGINT
            try:
                rc = proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid, signal.SIGKILL)
                rc = proc.wait()
            status = "timeout"
        finally:
            _kill_group(proc.pid, signal.SIGKILL)  # what the step left running (e.g. workers)
    seconds = time.monotonic() - t0
    result.update(status=status, rc=rc, seconds=round(seconds, 1), applied_limit_s=round(limit))
    if status == "timeout":
        result["why"] = f"ran past its limit of {limit:.0f} s; stopped"
    elif status == "failed":
        result["why"] = f"exit status {rc}; see {log.name}"
    return result


def run_steps(
    steps: Sequence[Step],
    out: Path,
    budget_s: float = BUDGET_S,
    started: float | None = None,
    grace_s: float = GRACE_S,
    min_step_s: float = MIN_STEP_S,
    header: dict | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[dict]:
    """Run the steps in order within ``budget_s`` (from ``started``), rewriting
    ``out/summary.json`` after each one; returns the per-step results."""
    started = clock() if started is None else started
    out.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    for step in steps:
        remaining = budget_s - (clock() - started)
        print(
            f"gpu-check: {step.name} (limit {step.limit_s:.0f} s, {remaining:.0f} s left)",
            flush=True,
        )
        results.append(run_step(step, out, remaining, grace_s, min_step_s))
        write_summary(out, results, budget_s, clock() - started, header)
    return results


def write_summary(
    out: Path, results: list[dict], budget_s: float, elapsed_s: float, header: dict | None
) -> Path:
    """``out/summary.json``, written atomically."""
    path = out / "summary.json"
    data = {
        **(header or {}),
        "budget_s": budget_s,
        "elapsed_s": round(elapsed_s, 1),
        "all_ok": all(r["status"] == "ok" for r in results),
        "steps": results,
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def table(results: list[dict]) -> str:
    """The short table printed last."""
    lines = [f"{'step':<16}{'status':<10}{'seconds':>8}{'limit':>7}  output"]
    for r in results:
        detail = r.get("output") or ""
        if r["status"] != "ok" and r.get("why"):
            detail = f"{detail}  ({r['why']})" if detail else f"({r['why']})"
        lines.append(
            f"{r['name']:<16}{r['status']:<10}{r['seconds']:>8.1f}{r['limit_s']:>7.0f}  {detail}"
        )
    return "\n".join(lines)


# ---- what runs ----------------------------------------------------------------------------------


def small_run_settings(data_root: str, device: str = "cuda") -> list[str]:
    """``--set`` overrides of the 1-epoch run: the small profile's Fashion-MNIST column
    (bench/profiles/small.yaml: base settings, the ``cifar10`` stand-in, VGG-9) with TSSD.

    All but ``runtime.deterministic``: the profile sets it for CPU runs; on CUDA torch's
    deterministic mode raises for ``NLLLoss`` (the cross-entropy) and the backward of
    ``AdaptiveAvgPool2d`` (the weak head), which have no deterministic CUDA implementation.
    """
    return [
        "name=gpu-check-small",
        "seed=0",
        "method.name=tssd",
        "method.t_s=2",
        "method.t_t=4",
        "model.name=vgg9",
        "model.width=16",
        "data.name=fashion_mnist",
        f"data.root={data_root}",
        "data.batch_size=64",
        "data.size=16",
        "data.options.train_per_class=200",
        "optim.name=adamw",
        "optim.lr=0.002",
        "optim.weight_decay=0.0001",
        "optim.schedule=cosine",
        "optim.epochs=1",
        "eval.every=5",
        f"runtime.device={device}",
        "runtime.deterministic=false",
    ]


def small_data_root() -> str:
    """``./data`` when it holds fashion_mnist/, else the directory of Debian's package."""
    return str(ROOT / "data") if SMALL_DATA.is_dir() else DEBIAN_ROOT


def plan(out: Path, python: str, site: str, wheels: list[str], tag: str, quick: bool) -> list[Step]:
    """The steps, in order (see the module docstring)."""
    path = os.pathsep.join(p for p in (site, str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path}
    pytest = [python, "-m", "pytest", "-p", "no:cacheprovider", "-rs"]
    steps = []
    if wheels:
        steps.append(
            Step(
                "install-wheels",
                [
                    python,
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--no-index",
                    "--no-deps",
                    "--target",
                    site,
                    *wheels,
                ],
                30,
                site,
            )
        )
    steps += [
        Step(
            "gpu-tests",
            [
                *pytest,
                "-q",
                "-m",
                "gpu",
                "tests/test_gpu.py",
                "--junitxml",
                str(out / "gpu-tests.xml"),
            ],
            90,
            "gpu-tests.xml",
            env,
        ),
        Step(
            "compiled-lif",
            [
                *pytest,
                "-q",
                "-m",
                "gpu",
                "tests/test_compiled_lif.py",
                "--junitxml",
                str(out / "compiled-lif.xml"),
            ],
            100,
            "compiled-lif.xml",
            env,
        ),
        Step(
            "gpu-bench",
            [
                *pytest,
                "benchmarks/test_gpu_bench.py",
                "--benchmark-json",
                str(out / f"gpu-bench-{tag}.json"),
                "--bench-ratios",
                str(out / f"ratios-{tag}.json"),
                "--benchmark-columns=median,min,max,rounds",
                *(["--bench-quick"] if quick else []),
            ],
            170,
            f"gpu-bench-{tag}.json",
            env,
        ),
        Step(
            "small-1-epoch",
            [
                python,
                "-m",
                "tssd",
                "train",
                "--force",
                "--out",
                str(out / "small-1-epoch"),
                *[a for s in small_run_settings(small_data_root()) for a in ("--set", s)],
            ],
            60,
            "small-1-epoch/",
            env,
        ),
    ]
    return steps


def select(steps: list[Step], names: str) -> list[Step]:
    """The steps named in ``names`` (comma-separated), in that order, after ``install-wheels``;
    all of them when ``names`` is empty. An unknown name is an error naming the known ones."""
    if not names:
        return steps
    by_name = {s.name: s for s in steps}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise SystemExit(
            f"gpu-check: --steps: unknown step {', '.join(unknown)}; expected some of "
            f"{', '.join(by_name)}"
        )
    first = [by_name["install-wheels"]] if "install-wheels" in by_name else []
    return first + [by_name[n] for n in wanted if n != "install-wheels"]


def cuda_probe() -> tuple[bool, str, dict]:
    """(CUDA usable, why not, facts about the device)."""
    try:
        import torch
    except ImportError as exc:
        return False, f"torch is not importable ({exc})", {}
    facts = {"torch": torch.__version__, "cuda": torch.version.cuda}
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU build"
        return False, f"no CUDA device on this machine (torch {torch.__version__}, {build})", facts
    facts.update(
        gpu=torch.cuda.get_device_name(0),
        capability=".".join(map(str, torch.cuda.get_device_capability(0))),
        device_count=torch.cuda.device_count(),
    )
    return True, "", facts


def _environment(facts: dict, wheels: list[str]) -> dict:
    env = {**facts, "python": platform.python_version(), "wheels": [Path(w).name for w in wheels]}
    try:
        import cupy  # noqa: F401

        env["cupy"] = cupy.__version__
    except ImportError:
        env["cupy"] = None
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            env["nvidia_smi"] = subprocess.run(
                [smi], capture_output=True, text=True, timeout=10
            ).stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            env["nvidia_smi"] = f"failed: {exc}"
    return env


def main(argv: list[str] | None = None) -> int:
    """Probe for CUDA, run the steps, print the table."""
    started = time.monotonic()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "out",
        nargs="?",
        default=str(ROOT / "results" / "benchmarks"),
        help="where everything goes (under OUT/gpu-check/)",
    )
    ap.add_argument(
        "--budget",
        type=float,
        default=BUDGET_S,
        help=f"seconds for all steps together (default {BUDGET_S:.0f})",
    )
    ap.add_argument(
        "--quick", action="store_true", help="the GPU benchmark at small shapes (a rehearsal)"
    )
    ap.add_argument("--python", default=sys.executable, help="interpreter of the steps")
    ap.add_argument(
        "--steps",
        default="",
        help="comma-separated step names to run, in this order (default: all, in the order "
        "above; install-wheels always runs first where .whl/ exists)",
    )
    args = ap.parse_args(argv)
    ok, why, facts = cuda_probe()
    if not ok:
        print(f"gpu-check: {why}; nothing to check (the checks need a CUDA GPU).")
        return 0
    out = Path(args.out).resolve() / "gpu-check"
    out.mkdir(parents=True, exist_ok=True)
    wheels = sorted(glob.glob(str(ROOT / ".whl" / "*.whl")))
    site = tempfile.mkdtemp(prefix="tssd-site-") if wheels else ""
    env = _environment(facts, wheels)
    (out / "env.json").write_text(json.dumps(env, indent=1) + "\n")
    tag = f"torch{facts['torch'].split('+')[0]}"
    print(
        f"gpu-check: {facts['gpu']}, torch {facts['torch']}, CUDA {facts['cuda']}; "
        f"budget {args.budget:.0f} s; writing {out}",
        flush=True,
    )
    steps = select(plan(out, args.python, site, wheels, tag, args.quick), args.steps)
    header = {"gpu": facts["gpu"], "torch": facts["torch"], "cuda": facts["cuda"]}
    try:
        results = run_steps(steps, out, args.budget, started, header=header)
    finally:
        if site:
            shutil.rmtree(site, ignore_errors=True)
    print(
        f"\n{table(results)}\nsummary: {out / 'summary.json'} "
        f"({time.monotonic() - started:.0f} s in all)"
    )
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
