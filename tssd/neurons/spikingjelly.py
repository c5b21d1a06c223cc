"""The spikingjelly 2.0.0 backend: the paper's LIF as a multi-step ``LIFNode``.

:class:`~tssd.neurons.spec.NeuronSpec` maps onto ``LIFNode(decay_input=False, step_mode="m")``
with ``surrogate.Rect(alpha=1/width)``; ``fire_at_equality=False`` cannot be expressed and is
rejected. Spikes and gradients are bit-identical to the native reference for tau a power of two,
soft reset or a hard reset to 0, and a power-of-two surrogate width (tests/test_backends.py);
otherwise equal up to float rounding. Only ``spikingjelly.activation_based.neuron`` and
``.surrogate`` are imported (``spikingjelly.datasets`` would import torchvision).

The mapping parameter by parameter and the numerics: docs/neurons.md, section
``tssd/neurons/spikingjelly.py``.
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
