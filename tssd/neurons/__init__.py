"""Spiking neurons: one :class:`NeuronSpec`, one small module per backend.

Backends: native (fused sequence kernel or reference loop), spikingjelly, snntorch. Models call
:func:`make_neuron` and never name a backend; ``neuron.backend`` in the config picks it.
Importing this package imports no torch (the spec and the backend table are plain data); the
torch names (:class:`SpikingNeuron`, the surrogate) are read from their modules on first use.
"""

from __future__ import annotations

from tssd.deferred import lazy_attributes
from tssd.neurons.registry import (
    BACKENDS,
    BackendUnavailable,
    UnsupportedSpec,
    make_neuron,
    neuron_class,
)
from tssd.neurons.spec import NeuronSpec

LAZY: dict[str, str] = {
    "SpikingNeuron": "tssd.neurons.base",
    "RectSpike": "tssd.neurons.surrogate",
    "rect_spike": "tssd.neurons.surrogate",
}
"""Name -> the module (torch) it is read from on first use."""

__all__ = [
    "BACKENDS",
    "BackendUnavailable",
    "NeuronSpec",
    "RectSpike",
    "SpikingNeuron",
    "UnsupportedSpec",
    "make_neuron",
    "neuron_class",
    "rect_spike",
]

__getattr__ = lazy_attributes(__name__, LAZY)
