"""Spiking neurons: one :class:`NeuronSpec`, one small module per backend.

Backends: native (fused sequence kernel or reference loop), spikingjelly, snntorch. Models call
:func:`make_neuron` and never name a backend; ``neuron.backend`` in the config picks it.
"""

from tssd.neurons.base import SpikingNeuron
from tssd.neurons.registry import (
    BACKENDS,
    BackendUnavailable,
    UnsupportedSpec,
    make_neuron,
    neuron_class,
)
from tssd.neurons.spec import NeuronSpec
from tssd.neurons.surrogate import RectSpike, rect_spike

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
