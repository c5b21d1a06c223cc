"""The snntorch 1.0.0 backend: the paper's LIF on ``snntorch.Leaky`` with the reset done here.

Why the adapter applies the reset itself (``Leaky(reset_mechanism="none")``): snntorch's own soft
reset is not the paper's neuron. Its ``Leaky`` computes the reset from the *previous* step's
membrane (``reset = Heaviside(mem[t-1] - theta)``) and subtracts it *after* the decay,
``mem[t] = beta * mem[t-1] + x[t] - reset * theta``, so the threshold is subtracted one step late
and undecayed, where the paper subtracts it in the step that fired, before the next decay
(``V[t] = H[t] - S[t] theta``, ``H[t+1] = beta V[t] + x[t+1]``). On random inputs 4-8 % of the
spikes differ. With ``reset_mechanism="none"`` the library does the charge
``H = beta * mem + x`` (``beta = 1 - 1/tau``, no ``1/tau`` on the input) and the fire, and this
adapter applies the paper's soft or hard reset to ``H`` and feeds the result back as ``mem``.

Firing: snntorch's spike functions all fire at ``H - theta > 0``. With ``fire_at_equality`` (the
paper) the adapter passes the native rectangular spike function (``H - theta >= 0``) as
``spike_grad``, the library's documented extension point; with ``fire_at_equality=False`` it uses
snntorch's own ``surrogate.custom_surrogate`` with the rectangular gradient. A hard reset to a
``v_reset`` other than 0 cannot be expressed (``Leaky`` leaks toward 0) and is rejected.

State and isolation: every call starts from ``mem = 0`` passed explicitly, and the layer removes
itself from ``snntorch.SpikingNeuron.instances``, the class-global list that
``snntorch.utils.reset`` and ``Leaky.reset_hidden`` walk: another network's global reset can then
never touch this layer's state, and the list does not keep every layer ever built alive. The
library's buffers (beta, threshold, ...) are made non-persistent, so a model's ``state_dict`` has
the same keys on every backend and weights move between backends with ``load_state_dict``.
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
