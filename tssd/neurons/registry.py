"""Neuron backends by name, imported lazily so ``import tssd`` needs none of the optional libraries.

Besides the name -> adapter table, this module knows what each backend can express: a spec with a
field its backend's library cannot represent is rejected by :func:`validate_spec` (config time) and
by the adapter's constructor (:func:`check_expressible`), with an error naming the backend and the
field, never a silent fallback to another behaviour. The capability rules live here, not in the
adapters, so a config can be checked without the optional library installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import fields

from tssd.errors import ConfigError
from tssd.neurons.spec import NATIVE_IMPLS, NeuronSpec

# name -> (adapter module, class, distribution whose version is recorded, install hint)
BACKENDS: dict[str, tuple[str, str, str, str]] = {
    "native": ("tssd.neurons.native", "NativeLIF", "torch", ""),
    "spikingjelly": (
        "tssd.neurons.spikingjelly",
        "SpikingJellyLIF",
        "spikingjelly",
        "pip install --no-deps spikingjelly==2.0.0 && pip install numpy loguru "
        "(--no-deps: its declared torchvision would pull another torch)",
    ),
    "snntorch": (
        "tssd.neurons.snntorch",
        "SnnTorchLIF",
        "snntorch",
        "pip install snntorch==1.0.0 numpy",
    ),
    # Not a spiking neuron: ReLU in the same place, so any architecture becomes its ANN twin
    # (run with t_s=1); used for the ANN teacher of teacher-based distillation (table 5).
    "ann": ("tssd.neurons.ann", "ReLUActivation", "torch", ""),
}


class BackendUnavailable(RuntimeError):
    """The selected backend's library is not installed."""


class UnsupportedSpec(ValueError):
    """The spec asks for a neuron its backend cannot express (see :func:`unsupported_fields`)."""


def _spikingjelly_limits(spec: NeuronSpec) -> list[tuple[str, str]]:
    out = []
    if spec.tau <= 1.0:
        out.append(
            (
                "tau",
                "LIFNode requires tau > 1 (it asserts on it), so decay 0 (tau = 1) "
                "cannot be expressed",
            )
        )
    if not spec.fire_at_equality:
        out.append(
            (
                "fire_at_equality",
                "its spike function (heaviside) always fires at "
                "H >= theta; firing at H > theta cannot be expressed",
            )
        )
    return out


def _snntorch_limits(spec: NeuronSpec) -> list[tuple[str, str]]:
    out = []
    if spec.reset == "hard" and spec.v_reset != 0.0:
        out.append(
            (
                "v_reset",
                "Leaky leaks toward 0 (mem = beta * mem + input), so a hard reset "
                "whose resting potential is not 0 cannot be expressed",
            )
        )
    return out


# backend -> function listing (field, reason) for every field of a spec the backend cannot
# express. A backend without an entry expresses every valid spec (native; ann ignores the LIF).
CAPABILITY_LIMITS: dict[str, Callable[[NeuronSpec], list[tuple[str, str]]]] = {
    "spikingjelly": _spikingjelly_limits,
    "snntorch": _snntorch_limits,
}


def unsupported_fields(spec: NeuronSpec) -> list[tuple[str, str]]:
    """``(field, reason)`` for each field of ``spec`` that ``spec.backend`` cannot express."""
    limits = CAPABILITY_LIMITS.get(spec.backend)
    return limits(spec) if limits is not None else []


def check_expressible(spec: NeuronSpec) -> None:
    """Raise :class:`UnsupportedSpec` naming the backend and the field when ``spec.backend``
    cannot express ``spec`` (adapters call this in their constructor)."""
    problems = unsupported_fields(spec)
    if problems:
        field, reason = problems[0]
        raise UnsupportedSpec(
            f"neuron backend {spec.backend!r} cannot express neuron.{field}="
            f"{getattr(spec, field)!r}: {reason}; use backend 'native' or "
            f"change neuron.{field}"
        )


def validate_spec(spec: NeuronSpec, key_prefix: str = "neuron", source: str = "<spec>") -> None:
    """Check a spec's values (not whether its backend is installed); raise ConfigError."""

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
    if spec.surrogate != "rect":
        fail("surrogate", f"got {spec.surrogate!r}, expected rect")
    if spec.native_impl not in NATIVE_IMPLS:
        fail("native_impl", f"got {spec.native_impl!r}, expected one of {', '.join(NATIVE_IMPLS)}")
    for field, reason in unsupported_fields(spec):
        fail(
            field,
            f"got {getattr(spec, field)!r}, which neuron backend {spec.backend!r} cannot "
            f"express: {reason}; use backend 'native' or change {key_prefix}.{field}",
        )


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
