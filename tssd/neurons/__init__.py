"""Spiking neurons: one :class:`NeuronSpec`, one small module per backend (native, spikingjelly,
snntorch). Models call :func:`make_neuron` and never name a backend."""

from tssd.neurons.base import SpikingNeuron
from tssd.neurons.registry import BACKENDS, BackendUnavailable, make_neuron, neuron_class
from tssd.neurons.spec import NeuronSpec
from tssd.neurons.surrogate import RectSpike, rect_spike

__all__ = [
    "BACKENDS",
    "BackendUnavailable",
    "NeuronSpec",
    "RectSpike",
    "SpikingNeuron",
    "make_neuron",
    "neuron_class",
    "rect_spike",
]
