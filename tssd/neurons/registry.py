"""Neuron backends by name, imported lazily so ``import tssd`` needs none of the optional libraries."""

from __future__ import annotations

import importlib
from dataclasses import fields

from tssd.neurons.spec import NeuronSpec

# name -> (adapter module, class, distribution whose version is recorded, install hint)
BACKENDS: dict[str, tuple[str, str, str, str]] = {
    "native": ("tssd.neurons.native", "NativeLIF", "torch", ""),
}


class BackendUnavailable(RuntimeError):
    """The selected backend's library is not installed."""


def validate_spec(spec: NeuronSpec, key_prefix: str = "neuron", source: str = "<spec>") -> None:
    """Check a spec's values (not whether its backend is installed); raise ConfigError."""
    from tssd.config import ConfigError

    def fail(key: str, msg: str) -> None:
        raise ConfigError(f"{source}: key '{key_prefix}.{key}': {msg}")

    if spec.backend not in BACKENDS:
        fail("backend", f"unknown backend {spec.backend!r}; allowed: {', '.join(BACKENDS)}")
    if spec.tau < 1.0:
        fail("tau", f"got {spec.tau}, expected a number >= 1 (decay 1 - 1/tau must be in [0, 1))")
    if spec.theta <= 0:
        fail("theta", f"got {spec.theta}, expected a number > 0")
    if spec.surrogate_width <= 0:
        fail("surrogate_width", f"got {spec.surrogate_width}, expected a number > 0")
    if spec.reset not in ("soft", "hard"):
        fail("reset", f"got {spec.reset!r}, expected soft or hard")


def neuron_class(backend: str) -> type:
    """The module class of a backend, importing it on first use."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown neuron backend {backend!r}; allowed: {', '.join(BACKENDS)}")
    module, cls, _, requirement = BACKENDS[backend]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # the optional library is missing
        raise BackendUnavailable(
            f"neuron backend {backend!r} needs a library that is not installed ({exc}); "
            f"install it with: {requirement}"
        ) from exc
    return getattr(mod, cls)


def backend_version(backend: str) -> str:
    """Installed version of the library behind a backend (torch's for native)."""
    from importlib.metadata import PackageNotFoundError, version

    dist = BACKENDS[backend][2]
    try:
        return f"{dist} {version(dist)}"
    except PackageNotFoundError:
        return f"{dist} (not installed)"


def make_neuron(spec: NeuronSpec):
    """Build one multi-step LIF layer for ``spec`` on ``spec.backend``."""
    return neuron_class(spec.backend)(spec)


def spec_from_dict(d: dict) -> NeuronSpec:
    """Rebuild a spec from its dict form (used when loading exported models)."""
    names = {f.name for f in fields(NeuronSpec)}
    return NeuronSpec(**{k: v for k, v in d.items() if k in names})
