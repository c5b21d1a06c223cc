"""The native PyTorch LIF: the reference implementation every other backend is tested against."""

from __future__ import annotations

import torch

from tssd.neurons.base import SpikingNeuron
from tssd.neurons.spec import NeuronSpec
from tssd.neurons.surrogate import rect_spike


def lif_reference(x: torch.Tensor, spec: NeuronSpec) -> torch.Tensor:
    """Step-by-step LIF over ``x [T, ...]``; autograd records every step (the reference loop)."""
    decay, theta = spec.decay, spec.theta
    # Hard reset leaks toward v_reset and starts there; soft reset leaks toward 0 (paper: v_reset=0).
    rest = spec.v_reset if spec.reset == "hard" else 0.0
    v = torch.full_like(x[0], rest)
    out = []
    for t in range(x.shape[0]):
        h = rest + decay * (v - rest) + x[t] if rest else decay * v + x[t]
        s = rect_spike(h - theta, spec.surrogate_width, spec.fire_at_equality)
        s_r = s.detach() if spec.detach_reset else s
        if spec.reset == "soft":
            v = h - s_r * theta
        else:
            v = h * (1.0 - s_r) + s_r * spec.v_reset
        out.append(s)
    return torch.stack(out)


class NativeLIF(SpikingNeuron):
    """LIF neuron in plain PyTorch (the paper's neuron, exactly as written in PAPER.md)."""

    backend_name = "native"

    def __init__(self, spec: NeuronSpec):
        super().__init__(spec)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        return lif_reference(x, self.spec)
