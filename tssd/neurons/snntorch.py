"""The snntorch 1.0.0 backend: the paper's LIF on ``snntorch.Leaky`` with the reset done here.

snntorch's own soft reset is not the paper's neuron (it subtracts the threshold one step late and
undecayed), so the layer uses ``Leaky(reset_mechanism="none")`` for the charge and the fire and
applies the paper's soft or hard reset itself. A hard reset to a ``v_reset`` other than 0 cannot
be expressed and is rejected. Every call starts from ``mem = 0``; the layer is removed from
snntorch's global instance list and its buffers are non-persistent, so ``state_dict`` keys are
the same on every backend.

The details (why, firing at equality, state and isolation): docs/neurons.md, section
``tssd/neurons/snntorch.py``.
"""

from __future__ import annotations

from functools import partial

import snntorch
import torch
from snntorch import surrogate as snn_surrogate

from tssd.neurons.base import SpikingNeuron
from tssd.neurons.registry import check_expressible
from tssd.neurons.spec import NeuronSpec
from tssd.neurons.surrogate import rect_spike


def _rect_gradient(
    x: torch.Tensor, grad: torch.Tensor, spikes: torch.Tensor, *, width: float
) -> torch.Tensor:
    """Rectangular gradient for ``custom_surrogate``: ``1/width`` inside ``|x| < width/2``.

    The same operations, in the same order, as :class:`tssd.neurons.surrogate.RectSpike`.
    """
    window = (x.abs() < width / 2).to(grad.dtype)
    return grad * window / width


class SnnTorchLIF(SpikingNeuron):
    """The paper's LIF: snntorch ``Leaky`` charges and fires, the adapter resets."""

    backend_name = "snntorch"

    def __init__(self, spec: NeuronSpec):
        check_expressible(spec)
        super().__init__(spec)
        width = float(spec.surrogate_width)
        if spec.fire_at_equality:
            spike = partial(rect_spike, width=width, fire_at_equality=True)
        else:
            spike = snn_surrogate.custom_surrogate(partial(_rect_gradient, width=width))
        self.leaky = snntorch.Leaky(
            beta=spec.decay,
            threshold=float(spec.theta),
            spike_grad=spike,
            reset_mechanism="none",
            init_hidden=False,
        )
        instances = snntorch.SpikingNeuron.instances
        for i in range(len(instances) - 1, -1, -1):
            if instances[i] is self.leaky:
                del instances[i]
        for name, buf in list(self.leaky.named_buffers(recurse=False)):
            self.leaky.register_buffer(name, buf, persistent=False)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec
        mem = torch.zeros_like(x[0])
        out = []
        try:
            for t in range(x.shape[0]):
                spk, h = self.leaky(x[t], mem)
                s_r = spk.detach() if s.detach_reset else spk
                # The paper's reset, in the same operation order as the native reference.
                mem = h - s_r * s.theta if s.reset == "soft" else h * (1.0 - s_r) + s_r * s.v_reset
                out.append(spk)
        finally:
            # Leaky keeps the last potential as a buffer; drop it so the graph is not kept alive.
            self.leaky.mem = torch.zeros(0, device=x.device)
        return torch.stack(out)
