"""Architectures by name (snake_case keys equal to factory names)."""

from __future__ import annotations

from collections.abc import Callable

from tssd.models.base import SpikingNet
from tssd.neurons import NeuronSpec

MODELS: dict[str, Callable[..., SpikingNet]] = {}


def register_model(fn: Callable[..., SpikingNet]) -> Callable[..., SpikingNet]:
    """Decorator: register a factory under its function name."""
    if fn.__name__ in MODELS:
        raise ValueError(f"model {fn.__name__!r} registered twice")
    MODELS[fn.__name__] = fn
    return fn


def build_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    input_size: int,
    neuron: NeuronSpec,
    width: int = 0,
) -> SpikingNet:
    """Build a registered architecture; ``width=0`` keeps its default width."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(MODELS)}")
    kwargs = dict(num_classes=num_classes, in_channels=in_channels, input_size=input_size)
    if width:
        kwargs["width"] = width
    return MODELS[name](neuron=neuron, **kwargs)
