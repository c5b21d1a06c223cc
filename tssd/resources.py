"""Memory a run needs, estimated before any of it is allocated.

``model.width: 1000000`` asks for 5.4e13 parameters and ``data.size: 200000`` for images of 4e10
pixels: allocated, either takes the machine (or fails deep inside torch's allocator). A run is
refused before its data and network exist when this estimate, a lower bound, exceeds the memory
the machine has:

* the network and its weak head, built on torch's ``meta`` device (shapes only, no storage),
  with their gradients and the optimiser's state (one buffer for SGD with momentum, two for
  AdamW);
* the activations of one training batch: every leaf module's output in a ``meta`` forward pass at
  the run's largest timestep count (autograd keeps at least these);
* the dataset held in memory: training, validation and test images at the network's input size,
  once per framing for event data (:meth:`tssd.config.RunConfig.timesteps_needed`); ImageNet is
  read from its files per batch and not counted.

The weak head's stage is resolved on the same ``meta`` network, so a stage the architecture does
not have (``model.weak_head.stage: '99'``) is a :class:`ConfigError` naming the key before the run
starts. Nothing here touches a random number generator (their states are restored).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

from tssd.data.base import shape_of
from tssd.errors import ConfigError
from tssd.methods import METHODS
from tssd.models import build_for_run

BYTES = 4
"""float32."""
LAZY_DATASETS = ("imagenet",)
"""Datasets read from their files batch by batch (not held in memory)."""
SIZE_KEYS = (
    ("model.name", lambda c: c.model.name, "micro_cnn"),
    ("model.width", lambda c: c.model.width, 0),
    ("data.size", lambda c: c.data.size, 0),
    ("data.batch_size", lambda c: c.data.batch_size, 64),
    ("method.t_s", lambda c: c.method.t_s, 2),
    ("method.t_t", lambda c: c.method.t_t, 4),
)
"""The keys that set a run's size, named in the refusal when they differ from their defaults."""


@dataclass(frozen=True)
class Estimate:
    """Bytes a run needs at least."""

    params: int
    """Parameters of the network and its weak head."""
    model_bytes: int
    """Parameters, gradients and optimiser state."""
    batch_bytes: int
    """Activations of one training batch (0 when the meta forward pass was not possible)."""
    data_bytes: int
    """The dataset held in memory."""

    @property
    def total(self) -> int:
        """Everything together."""
        return self.model_bytes + self.batch_bytes + self.data_bytes


def fmt_bytes(n: float) -> str:
    """``1536`` -> ``1.5 kB`` (powers of 1000, as a reader estimates)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} ZB"


def machine_bytes(device: torch.device) -> int:
    """The memory of ``device``: a GPU's total, or the machine's physical memory."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


class _KeepRandomState:
    """Restore Python's, NumPy's and torch's CPU generators on exit."""

    def __enter__(self):
        self.states = (random.getstate(), np.random.get_state(), torch.get_rng_state())

    def __exit__(self, *exc):
        random.setstate(self.states[0])
        np.random.set_state(self.states[1])
        torch.set_rng_state(self.states[2])


def estimate(cfg, source: str = "<config>") -> Estimate:
    """The memory run ``cfg`` needs at least (module docstring).

    Raises:
        ConfigError: the weak head's stage does not exist in the architecture.
    """
    shape = shape_of(cfg.data)
    method = METHODS[cfg.method.name]
    t_max = max(cfg.timesteps_needed())
    with _KeepRandomState(), torch.device("meta"):
        try:
            model, _, head = build_for_run(cfg, shape, method.uses_weak_head)
        except ValueError as exc:
            if "weak head stage" in str(exc):
                raise ConfigError(f"{source}: key 'model.weak_head.stage': {exc}") from None
            raise
        modules = [model] + ([head] if head is not None else [])
        params = sum(p.numel() for m in modules for p in m.parameters())
        batch = _activations(model, cfg.data.batch_size, t_max, shape)
    state = 2 if cfg.optim.name == "adamw" else 1
    frames = sum(cfg.timesteps_needed()) if shape.kind == "event" else 1
    n_samples = 0 if cfg.data.name in LAZY_DATASETS else shape.n_train + shape.n_test
    data = n_samples * frames * shape.in_channels * shape.input_size**2 * BYTES
    return Estimate(params, params * BYTES * (2 + state), batch * BYTES, data)


def _activations(model, batch: int, t: int, shape) -> int:
    """Elements of every leaf module's output in one forward pass on ``meta`` (0 when the
    network cannot run there: a backend with its own kernels; the estimate is then smaller)."""
    seen: list[int] = []

    def hook(_module, _inputs, out) -> None:
        if isinstance(out, torch.Tensor):
            seen.append(out.numel())

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        x = torch.empty(t, batch, shape.in_channels, shape.input_size, shape.input_size)
        model(x)
    except Exception:  # noqa: BLE001  (an estimate without activations is still a lower bound)
        return 0
    finally:
        for h in handles:
            h.remove()
    return sum(seen)


def check_fits(cfg, device: torch.device | None, source: str = "<config>") -> Estimate:
    """Refuse run ``cfg`` when :func:`estimate` exceeds ``device``'s memory (the dataset is
    compared with the machine's memory, the network and batch with the device's).

    Raises:
        ConfigError: naming the keys that set the size, the estimate and the memory there is.
    """
    if device is None:  # not yet chosen by a distributed setup
        from tssd.runtime import resolve_device

        device = resolve_device(cfg.runtime.device)
    est = estimate(cfg, source)
    host = machine_bytes(torch.device("cpu"))
    dev = machine_bytes(device) if device.type == "cuda" else host
    on_device = est.model_bytes + est.batch_bytes
    too_big = (
        on_device > dev or (est.data_bytes + (0 if device.type == "cuda" else on_device)) > host
    )
    if too_big:
        keys = [f"{k}={get(cfg)}" for k, get, default in SIZE_KEYS if get(cfg) != default]
        raise ConfigError(
            f"{source}: keys {', '.join(keys) or 'model.name'}: the run needs at least "
            f"{fmt_bytes(est.total)} (network of {est.params:.3g} parameters with gradients and "
            f"optimiser state {fmt_bytes(est.model_bytes)}, one batch's activations "
            f"{fmt_bytes(est.batch_bytes)}, data {fmt_bytes(est.data_bytes)}); this machine has "
            f"{fmt_bytes(dev)}{' on ' + str(device) if device.type == 'cuda' else ''}; expected "
            "smaller values of these keys"
        )
    return est
