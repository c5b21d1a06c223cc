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
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from tssd.config import RunConfig
from tssd.cost import RunCost, StepCost, run_cost
from tssd.data.base import DATASETS, DatasetShape
from tssd.data.base import shape_of as data_shape_of
from tssd.fileio import atomic_write_text
from tssd.methods import METHODS
from tssd.models import build_for_run, encode_static
from tssd.runtime import (
    forget_compiled,
    peak_memory_mb,
    reset_peak_memory,
    resolve_device,
    use_compile_cache,
)
from tssd.steps import StepContext
from tssd.train import StepModule


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


def calibration_key(cfg: RunConfig, device: torch.device) -> str:
    """Everything that changes the cost of one training step."""
    s = shape_of(cfg)
    m = cfg.method
    t_t = m.t_t if METHODS[m.name].uses_teacher_steps else 0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    # the weak head's position and width: after the first stage it works on the largest feature
    # maps, a narrow one costs less (left out, every TSSD shape took the first head's timing)
    head = cfg.model.weak_head
    head_key = f"|head-{head.stage}-c{head.channels}" if METHODS[m.name].uses_weak_head else ""
    return (
        f"{name}|torch{torch.__version__}|{cfg.model.name}|w{cfg.model.width}|{m.name}|"
        f"ts{m.t_s}|tt{t_t}|b{cfg.data.batch_size}|{s.in_channels}x{s.input_size}|"
        f"{cfg.neuron.backend}|amp-{cfg.runtime.amp}|{m.student_input}{head_key}"
        + ("|compiled" if cfg.runtime.compile else "")
    )


def measure_step(cfg: RunConfig, device: torch.device, steps: int = 3, warmup: int = 1) -> dict:
    """Median seconds of one training step (forward, backward, optimiser) of ``cfg``'s method on
    synthetic inputs of the dataset's shape, and the peak memory while doing it."""
    s = shape_of(cfg)
    m = cfg.method
    spec = METHODS[m.name]
    if spec.uses_external_teacher:
        # The frozen teacher's forward adds roughly one no-grad pass; calibrate the student only
        # and let the caller add the teacher's share from its own calibration.
        spec = METHODS["baseline"]
    model, stage, head = build_for_run(cfg, s, spec.uses_weak_head)
    model.to(device)
    if head is not None:
        head.to(device)
    params = list(model.parameters()) + (list(head.parameters()) if head else [])
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    b = cfg.data.batch_size
    shape = (s.in_channels, s.input_size, s.input_size)
    if s.kind == "static":
        x: Any = torch.randn(b, *shape, device=device)
    else:
        x = {t: (torch.rand(b, t, *shape, device=device) < 0.1).float() for t in spec.timesteps(m)}
    y = torch.randint(0, s.num_classes, (b,), device=device)
    ctx = StepContext(model, head, m, stage, s.kind)
    runner = StepModule(model, head, spec.step, ctx)
    compile_s: dict[str, float] = {}
    if cfg.runtime.compile:
        use_compile_cache(cfg.runtime.compile_cache)
        compile_s = _compile_times(runner, x, y, device)
        runner = torch.compile(runner, dynamic=False)  # warm: graphs cached on disk now

    def one_step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.runtime.amp == "bf16"):
            loss = runner(x, y)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    times = []
    reset_peak_memory(device)
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        one_step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    peak = peak_memory_mb(device)
    # Evaluation: the deployed network's forward at t_s, no gradient (a separate measurement:
    # its share of a training step ranged from 0.15 for TSSD to 0.43 for the baseline on CPU).
    model.eval()
    x_eval = encode_static(x, m.t_s) if s.kind == "static" else x[m.t_s].transpose(0, 1)
    eval_times = []
    with torch.no_grad():
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            model(x_eval)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                eval_times.append(time.perf_counter() - t0)
    times.sort()
    eval_times.sort()
    return {
        "sec_per_step": times[len(times) // 2],
        "sec_per_eval_batch": eval_times[len(eval_times) // 2],
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
    cfg: RunConfig, device: str | torch.device = "auto", steps: int = 3, refresh: bool = False
) -> dict:
    """Cached :func:`measure_step` for ``cfg`` on ``device``."""
    dev = resolve_device(device) if isinstance(device, str) else device
    key = calibration_key(cfg, dev)
    path = cache_path()
    cache = json.loads(path.read_text()) if path.is_file() else {}
    if key not in cache or refresh:
        cache[key] = measure_step(cfg, dev, steps=steps)
        # Re-read before writing: another process may have added keys meanwhile.
        latest = json.loads(path.read_text()) if path.is_file() else {}
        latest[key] = cache[key]
        atomic_write_text(path, json.dumps(latest, indent=1, sort_keys=True))
    return {"key": key, **cache[key]}


def step_cost(calibration: dict, batch_size: int, startup_s: float = 0.0) -> StepCost:
    """The :class:`~tssd.cost.StepCost` of a calibration (measured at ``batch_size``)."""
    return StepCost(
        train_step_s=calibration["sec_per_step"],
        eval_image_s=calibration["sec_per_eval_batch"] / batch_size,
        warm_compile_s=calibration.get("warm_compile_s", 0.0),
        cold_compile_s=calibration.get("cold_compile_s", 0.0),
        startup_s=startup_s,
    )


def estimate(cfg: RunConfig, calibration: dict, startup_s: float = 0.0) -> RunCost:
    """A whole run's cost from a calibration of its step (:func:`tssd.cost.run_cost`; data
    loading is in ``startup_s``)."""
    return run_cost(cfg, shape_of(cfg), step_cost(calibration, cfg.data.batch_size, startup_s))
