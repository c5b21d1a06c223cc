"""Cost calibration: measured seconds per training step, turned into run-time estimates.

``python -m bench run TABLE --profile paper --dry-run --estimate`` needs to say how many GPU-hours a
table costs before anyone books a cluster. A guess from FLOPs is wrong by integer factors for SNNs
(the time loop, the surrogate, memory traffic), so we *measure*: a few real training steps (the
method's own step function, synthetic inputs of the dataset's shape) per (architecture, width,
method, T_s, T_t, batch, input, device, amp) and cache the result in a JSON file keyed by all of
them, so a calibration runs once per machine.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from tssd.config import RunConfig
from tssd.data.base import DATASETS, DatasetShape
from tssd.data.base import shape_of as data_shape_of
from tssd.fileio import atomic_write_text
from tssd.methods import METHODS, StepContext
from tssd.models import build_for_run, encode_static
from tssd.runtime import peak_memory_mb, reset_peak_memory, resolve_device


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
    return (
        f"{name}|torch{torch.__version__}|{cfg.model.name}|w{cfg.model.width}|{m.name}|"
        f"ts{m.t_s}|tt{t_t}|b{cfg.data.batch_size}|{s.in_channels}x{s.input_size}|"
        f"{cfg.neuron.backend}|amp-{cfg.runtime.amp}|{m.student_input}"
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
    times = []
    reset_peak_memory(device)
    for i in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.runtime.amp == "bf16"):
            out = spec.step(ctx, x, y)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
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
        "peak_mem_mb": peak,
        "steps": steps,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


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


def estimate_seconds(cfg: RunConfig, calibration: dict) -> float:
    """Wall seconds of a whole run from a calibration: every epoch's training steps plus its
    evaluation batches (each at the measured cost; data loading is not included)."""
    s = shape_of(cfg)
    steps_per_epoch = -(-s.n_train // cfg.data.batch_size)
    eval_batches = -(-s.n_test // cfg.data.batch_size)
    # test accuracy every eval.every epochs and after the last, plus the final measurement
    evaluations = cfg.optim.epochs // cfg.eval.every + (cfg.optim.epochs % cfg.eval.every > 0) + 1
    return (
        cfg.optim.epochs * steps_per_epoch * calibration["sec_per_step"]
        + evaluations * eval_batches * calibration["sec_per_eval_batch"]
    )
