"""The spikingjelly 2.0.0 backend: the paper's LIF as a multi-step ``LIFNode``.

Mapping of :class:`~tssd.neurons.spec.NeuronSpec` onto the library (its sources are the truth):

* ``decay_input=False``: spikingjelly then charges ``H = V - (V - V_reset) / tau + X``, which is the
  paper's ``H = (1 - 1/tau) V + X`` with no ``1/tau`` on the input (``V_reset`` counts as 0 for
  soft reset).
* soft reset -> ``v_reset=None`` (``V = H - S * theta``); hard reset -> ``v_reset=float(v_reset)``
  (``V = S * v_reset + (1 - S) * H``, starting from ``v_reset``).
* ``surrogate.Rect(alpha=1/width)``: gradient ``alpha`` where ``|H - theta| < 0.5/alpha``, i.e. the
  paper's rectangle of width ``a`` and height ``1/a``; its forward is a heaviside firing at
  ``H >= theta`` (``fire_at_equality=False`` cannot be expressed and is rejected).
* ``detach_reset`` maps one to one; ``step_mode="m"`` runs the whole ``[T, ...]`` sequence per call.
* tau and the thresholds are passed as Python floats: the library asserts on their types.

Numerics: for tau a power of two (the paper's tau = 2), soft reset or a hard reset to 0, and a
surrogate width that is a power of two (0.5, 1), every operation rounds exactly like the native
reference, so spikes and gradients are bit-identical (tests/test_backends.py). Otherwise the
charge ``V - V/tau`` and the surrogate height ``alpha = 1/width`` round differently from
``(1 - 1/tau) V`` and ``1/width``: equal up to float rounding, not bit for bit.

Only ``spikingjelly.activation_based.neuron`` and ``.surrogate`` are imported: they need torch,
numpy and loguru (``spikingjelly.datasets`` would import torchvision, which must not be installed
next to the pinned CPU torch).
"""

from __future__ import annotations

import torch
from spikingjelly.activation_based import neuron as sj_neuron
from spikingjelly.activation_based import surrogate as sj_surrogate

from tssd.neurons.base import SpikingNeuron
from tssd.neurons.registry import check_expressible
from tssd.neurons.spec import NeuronSpec


class SpikingJellyLIF(SpikingNeuron):
    """The paper's LIF on spikingjelly's ``LIFNode`` (multi-step mode)."""

    backend_name = "spikingjelly"

    def __init__(self, spec: NeuronSpec):
        check_expressible(spec)
        super().__init__(spec)
        self.node = sj_neuron.LIFNode(
            tau=float(spec.tau),
            decay_input=False,
            v_threshold=float(spec.theta),
            v_reset=None if spec.reset == "soft" else float(spec.v_reset),
            surrogate_function=sj_surrogate.Rect(alpha=1.0 / float(spec.surrogate_width)),
            detach_reset=bool(spec.detach_reset),
            step_mode="m",
        )

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        # The adapter owns the state: reset this node (only this one) before the sequence, and
        # again after it so the module does not keep the last potential, and with it the whole
        # autograd graph of the sequence, alive until the next call.
        self.node.reset()
        try:
            return self.node(x)
        finally:
            self.node.reset()
