"""Cost calibration: measured seconds per training step, turned into run-time estimates.

``python -m bench run TABLE --profile paper --dry-run --estimate`` needs to say how many GPU-hours a
table costs before anyone books a cluster. A guess from FLOPs is wrong by integer factors for SNNs
(the time loop, the surrogate, memory traffic), so we *measure*: a few real training steps (the
method's own step function, synthetic inputs of the dataset's shape) per (architecture, width,
method, T_s, T_t, batch, input, device, amp, compiled) and cache the result in a JSON file keyed by
all of them, so a calibration runs once per machine. A compiled calibration also measures the
step's cold compile (nothing cached) and its warm compile (the on-disk cache holding its graphs,
the process's in-memory state emptied, as in a new worker). :func:`step_cost` turns a calibration
into the :class:`tssd.cost.StepCost` that :func:`tssd.cost.run_cost` prices a run with.

On the CPU a step is timed the way the harness trains it: with ``parallel_runs`` runs at once,
each on its share of the cores (``runtime.threads: 0``), the others played by copies of the same
step in other processes. Timed alone, the step took the cores the load average left it (2 threads
on idle cores where a harness run gets 1) and never met the other run's memory traffic: the
estimate ran 15-30 % short on event runs (README, "Benchmarks").
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from tssd.config import RunConfig
from tssd.cost import RunCost, StepCost, run_cost
from tssd.data.base import DATASETS, DatasetShape
from tssd.data.base import shape_of as data_shape_of
from tssd.fileio import atomic_write_text
from tssd.host import available_cpus
from tssd.methods import METHODS
from tssd.models import build_for_run, encode_static
from tssd.runtime import (
    forget_compiled,
    peak_memory_mb,
    reset_peak_memory,
    resolve_device,
    torch_threads,
    use_compile_cache,
)
from tssd.steps import StepContext
from tssd.train import StepModule, make_optimizer

MEASURED = ("sec_per_step", "sec_per_eval_batch", "eval_batch", "sec_per_forward_batch")
"""What a cached calibration must hold; an entry written before one of them existed is measured
again."""

NEIGHBOUR_START_S = 300.0
"""How long a neighbour run of a calibration may take to start and warm up."""


def cache_path() -> Path:
    """Calibration cache file (``$TSSD_CACHE`` or ``~/.cache/tssd``)."""
    root = Path(os.environ.get("TSSD_CACHE", Path.home() / ".cache" / "tssd"))
    return root / "calibration.json"


def shape_of(cfg: RunConfig) -> DatasetShape:
    """The run's data shape and sizes from its dataset's spec (:func:`tssd.data.shape_of`: a
    ``train_per_class`` subset counted as such).

    Raises:
        KeyError: the dataset is not registered.
    """
    if cfg.data.name not in DATASETS:
        raise KeyError(f"no size known for dataset {cfg.data.name!r}; known: {', '.join(DATASETS)}")
    return data_shape_of(cfg.data)


def calibration_threads(cfg: RunConfig, parallel_runs: int = 1) -> int:
    """The intra-op threads a run of ``cfg`` trains with when ``parallel_runs`` runs share this
    machine: ``runtime.threads``, or (0) its share of the cores, as the harness's workers give it
    (the load average left out: a calibration must not depend on what else ran then)."""
    return cfg.runtime.threads or max(1, available_cpus() // max(1, parallel_runs))


def calibration_key(cfg: RunConfig, device: torch.device, parallel_runs: int = 1) -> str:
    """Everything that changes the cost of one training step (on the CPU: the threads it gets and
    how many runs train beside it)."""
    s = shape_of(cfg)
    m = cfg.method
    t_t = m.t_t if METHODS[m.name].uses_teacher_steps else 0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    # the weak head's position and width: after the first stage it works on the largest feature
    # maps, a narrow one costs less (left out, every TSSD shape took the first head's timing)
    head = cfg.model.weak_head
    head_key = (
        f"|head-{head.stage}-c{head.channels}" + (f"-f{head.fraction:g}" if head.fraction else "")
        if METHODS[m.name].uses_weak_head
        else ""
    )
    return (
        f"{name}|torch{torch.__version__}|{cfg.model.name}|w{cfg.model.width}|{m.name}|"
        f"ts{m.t_s}|tt{t_t}|b{cfg.data.batch_size}|{s.in_channels}x{s.input_size}|"
        f"{cfg.neuron.backend}|amp-{cfg.runtime.amp}|{m.student_input}{head_key}|"
        f"{cfg.optim.name}|eval-b{cfg.data.test_batch_size}"
        + ("|compiled" if cfg.runtime.compile else "")
        + (
            f"|th{calibration_threads(cfg, parallel_runs)}|runs{max(1, parallel_runs)}"
            if device.type == "cpu"
            else ""
        )
    )


class _Fixture:
    """One training step of ``cfg``'s method on synthetic inputs of the dataset's shape, built as
    :class:`tssd.train.Trainer` builds it (network, weak head, step module, the run's optimiser),
    and the deployed network's evaluation input at T_s."""

    def __init__(self, cfg: RunConfig, device: torch.device):
        s = shape_of(cfg)
        m = cfg.method
        spec = METHODS[m.name]
        if spec.uses_external_teacher:
            # The frozen teacher's forward adds roughly one no-grad pass; calibrate the student
            # only and let the caller add the teacher's share from its own calibration.
            spec = METHODS["baseline"]
        self.model, stage, head = build_for_run(cfg, s, spec.uses_weak_head)
        b, shape = cfg.data.batch_size, (s.in_channels, s.input_size, s.input_size)
        if s.kind == "static":
            self.x: Any = torch.randn(b, *shape, device=device)
        else:
            self.x = {
                t: (torch.rand(b, t, *shape, device=device) < 0.1).float()
                for t in spec.timesteps(m)
            }
        self.y = torch.randint(0, s.num_classes, (b,), device=device)
        self.runner = StepModule(
            self.model, head, spec.step, StepContext(self.model, head, m, stage, s.kind)
        ).to(device)
        # the trainable parameters of network and head, as Trainer hands them to its optimiser
        self.opt = make_optimizer(
            [p for p in self.runner.parameters() if p.requires_grad], cfg.optim
        )
        self.cfg, self.device, self.static = cfg, device, s.kind == "static"

    def step(self) -> None:
        """One training step: forward, backward, optimiser."""
        amp = self.cfg.runtime.amp == "bf16"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
            loss = self.runner(self.x, self.y)[0]
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def eval_input(self, batch: int) -> torch.Tensor:
        """``batch`` samples for the deployed network at T_s, ``[T_s, batch, ...]``."""
        t_s = self.cfg.method.t_s
        x = encode_static(self.x, t_s) if self.static else self.x[t_s].transpose(0, 1)
        reps = -(-batch // x.shape[1])
        return x.repeat(1, reps, *[1] * (x.dim() - 2))[:, :batch].contiguous()


class CalibrationFailed(RuntimeError):
    """A step could not be timed as the harness trains it (a neighbour run did not start), or,
    asked not to measure, the step has no cached calibration."""


def _neighbour(config: dict, threads: int, ready: Any, stop: Any, count: Any) -> None:
    """Another run training beside the timed one (a process of its own): the same step (eager),
    on ``threads`` threads, until ``stop`` is set; ``ready`` once warmed up; ``count``: its
    steps. Ctrl-C is the timed process's to handle: it sets ``stop``."""
    from tssd.config import from_dict

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    fixture = _Fixture(from_dict(config, "calibration"), torch.device("cpu"))
    fixture.step()
    ready.release()
    while not stop.is_set():
        fixture.step()
        with count.get_lock():
            count.value += 1


@contextlib.contextmanager
def _neighbours(cfg: RunConfig, threads: int, n: int) -> Iterator[Callable[[], int]]:
    """``n`` neighbour runs (:func:`_neighbour`) training while the block runs; yields a
    function that counts their steps so far.

    Raises:
        CalibrationFailed: a neighbour exited, or was not warmed up within
            :data:`NEIGHBOUR_START_S`.
    """
    if n == 0:
        yield lambda: 0
        return
    mp = multiprocessing.get_context("spawn")
    ready, stop, count = mp.Semaphore(0), mp.Event(), mp.Value("q", 0)
    args = (cfg.to_dict(), threads, ready, stop, count)
    procs = [mp.Process(target=_neighbour, args=args, daemon=True) for _ in range(n)]
    try:
        for p in procs:
            p.start()
        deadline, warm = time.monotonic() + NEIGHBOUR_START_S, 0
        while warm < n:
            if ready.acquire(timeout=1.0):
                warm += 1
                continue
            exited = any(p.exitcode is not None for p in procs)
            if exited or time.monotonic() > deadline:
                raise CalibrationFailed(
                    "a neighbour run of the calibration (a second process training the same "
                    f"step) {'exited' if exited else 'did not warm up'} within "
                    f"{NEIGHBOUR_START_S:.0f} s"
                )
        yield lambda: count.value
    finally:
        stop.set()
        for p in procs:
            if p.pid is None:  # never started
                continue
            p.join(timeout=60)
            if p.is_alive():
                p.kill()


def _timed(fn, steps: int, warmup: int, device: torch.device) -> float:
    """Median seconds of ``fn`` over ``steps`` calls after ``warmup``."""
    times = []
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def measure_step(
    cfg: RunConfig,
    device: torch.device,
    steps: int = 8,
    warmup: int = 2,
    parallel_runs: int = 1,
) -> dict:
    """Median seconds of one training step (forward, backward, optimiser) of ``cfg``'s method on
    synthetic inputs of the dataset's shape, of the deployed network's forward at T_s on a batch
    of ``data.test_batch_size`` (evaluation) and of ``data.batch_size`` (a frozen teacher's
    share of a knowledge-distillation step), with the peak memory while training. On the CPU all
    are timed on :func:`calibration_threads` threads while ``parallel_runs - 1`` other
    processes train the same step eagerly, as the harness's other workers would.

    Raises:
        CalibrationFailed: a neighbour run did not start.
    """
    fixture = _Fixture(cfg, device)
    others = max(0, parallel_runs - 1) if device.type == "cpu" else 0
    threads = calibration_threads(cfg, parallel_runs)
    compile_s: dict[str, float] = {}
    with torch_threads(threads if device.type == "cpu" else 0):
        if cfg.runtime.compile:
            use_compile_cache(cfg.runtime.compile_cache)
            compile_s = _compile_times(fixture.runner, fixture.x, fixture.y, device)
            fixture.runner = torch.compile(fixture.runner, dynamic=False)  # warm: graphs cached
        with _neighbours(cfg, threads, others) as neighbour_steps:
            reset_peak_memory(device)
            counted = neighbour_steps()
            sec_per_step = _timed(fixture.step, steps, warmup, device)
            peak = peak_memory_mb(device)
            # the deployed network's forward at t_s, no gradient (its share of a training step
            # ranged from 0.15 for TSSD to 0.43 for the baseline on CPU)
            fixture.model.eval()
            forward_s = {}
            with torch.no_grad():
                for batch in dict.fromkeys((cfg.data.test_batch_size, cfg.data.batch_size)):
                    x = fixture.eval_input(batch)
                    forward_s[batch] = _timed(lambda x=x: fixture.model(x), steps, warmup, device)
            during = neighbour_steps() - counted
    return {
        "sec_per_step": sec_per_step,
        "sec_per_eval_batch": forward_s[cfg.data.test_batch_size],
        "eval_batch": cfg.data.test_batch_size,
        "sec_per_forward_batch": forward_s[cfg.data.batch_size],
        "threads": threads if device.type == "cpu" else 0,
        "parallel_runs": others + 1,
        "neighbour_steps": during,  # the others' steps while this one was timed
        **compile_s,
        "peak_mem_mb": peak,
        "steps": steps,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def _compile_times(step: StepModule, x: Any, y: torch.Tensor, device: torch.device) -> dict:
    """Seconds of the first call of the compiled step (forward and backward, which compile)
    minus a steady call, cold (as the on-disk cache stands: cold on first use of a graph) and
    then warm (that cache holding the graphs, the in-memory state emptied)."""

    def first_call_s() -> float:
        forget_compiled()
        runner = torch.compile(step, dynamic=False)  # as tssd.train compiles it
        t0 = time.perf_counter()
        runner(x, y)[0].backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        runner(x, y)[0].backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return max(0.0, first - (time.perf_counter() - t0))

    cold = first_call_s()
    warm = first_call_s()
    forget_compiled()
    return {"cold_compile_s": cold, "warm_compile_s": warm}


def calibrate(
    cfg: RunConfig,
    device: str | torch.device = "auto",
    steps: int = 8,
    refresh: bool = False,
    parallel_runs: int = 1,
    measure: bool = True,
) -> dict:
    """Cached :func:`measure_step` for ``cfg`` on ``device``, with ``parallel_runs`` runs training
    at once (the harness's workers). ``measure=False``: the cached entry only, CalibrationFailed
    without one (the harness's ETA, which must not time steps beside its own runs)."""
    dev = resolve_device(device) if isinstance(device, str) else device
    key = calibration_key(cfg, dev, parallel_runs)
    path = cache_path()
    cache = json.loads(path.read_text()) if path.is_file() else {}
    if refresh or not all(k in cache.get(key, {}) for k in MEASURED):  # older entries lack some
        if not measure:
            raise CalibrationFailed(f"{key}: not calibrated on this machine")
        cache[key] = measure_step(cfg, dev, steps=steps, parallel_runs=parallel_runs)
        # Re-read before writing: another process may have added keys meanwhile.
        latest = json.loads(path.read_text()) if path.is_file() else {}
        latest[key] = cache[key]
        atomic_write_text(path, json.dumps(latest, indent=1, sort_keys=True))
    return {"key": key, **cache[key]}


def step_cost(calibration: dict, startup_s: float = 0.0) -> StepCost:
    """The :class:`~tssd.cost.StepCost` of a calibration."""
    return StepCost(
        train_step_s=calibration["sec_per_step"],
        eval_image_s=calibration["sec_per_eval_batch"] / calibration["eval_batch"],
        warm_compile_s=calibration.get("warm_compile_s", 0.0),
        cold_compile_s=calibration.get("cold_compile_s", 0.0),
        startup_s=startup_s,
    )


def estimate(cfg: RunConfig, calibration: dict, startup_s: float = 0.0) -> RunCost:
    """A whole run's cost from a calibration of its step (:func:`tssd.cost.run_cost`; data
    loading is in ``startup_s``)."""
    return run_cost(cfg, shape_of(cfg), step_cost(calibration, startup_s))
