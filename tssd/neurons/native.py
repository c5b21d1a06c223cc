"""The native PyTorch LIF: the reference loop every other backend is tested against, the fused
sequence kernel (:mod:`tssd.neurons.fused`) that runs by default, and the compiler-fusable version
(:mod:`tssd.neurons.compiled`) (``NeuronSpec.native_impl``)."""

from __future__ import annotations

import torch

from tssd.neurons.base import SpikingNeuron
from tssd.neurons.compiled import lif_compiled
from tssd.neurons.fused import lif_fused
from tssd.neurons.spec import NATIVE_IMPLS, NeuronSpec
from tssd.neurons.surrogate import rect_spike


def lif_reference(x: torch.Tensor, spec: NeuronSpec) -> torch.Tensor:
    """Step-by-step LIF over ``x [T, ...]``; autograd records every step (the reference loop)."""
    decay, theta = spec.decay, spec.theta
    # Hard reset leaks toward v_reset and starts there; soft reset leaks toward 0 (the paper).
    rest = spec.v_reset if spec.reset == "hard" else 0.0
    v = torch.full_like(x[0], rest)
    out = []
    for t in range(x.shape[0]):
        h = rest + decay * (v - rest) + x[t] if rest else decay * v + x[t]
        s = rect_spike(h - theta, spec.surrogate_width, spec.fire_at_equality)
        s_r = s.detach() if spec.detach_reset else s
        v = h - s_r * theta if spec.reset == "soft" else h * (1.0 - s_r) + s_r * spec.v_reset
        out.append(s)
    return torch.stack(out)


class NativeLIF(SpikingNeuron):
    """LIF neuron in plain PyTorch (the paper's neuron, exactly as written in PAPER.md).

    ``spec.native_impl`` picks the implementation: ``fused`` (default), ``loop``
    (:func:`lif_reference`) or ``compiled`` (for ``torch.compile``). All give the same spikes and
    gradients (tests/test_fused.py, tests/test_compiled_lif.py; ``compiled`` under
    ``torch.compile`` on GPU to rounding).
    """

    backend_name = "native"

    def __init__(self, spec: NeuronSpec):
        if spec.native_impl not in NATIVE_IMPLS:
            raise ValueError(
                f"neuron.native_impl: got {spec.native_impl!r}, expected one of "
                f"{', '.join(NATIVE_IMPLS)}"
            )
        super().__init__(spec)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.native_impl == "loop":
            return lif_reference(x, self.spec)
        # Under torch.compile (runtime.compile) the default takes the compiler-fusable form: the
        # eager fused operator would be an opaque call there; on CPU the two are bit-identical.
        if self.spec.native_impl == "compiled" or torch.compiler.is_compiling():
            return lif_compiled(x, self.spec)
        return lif_fused(x, self.spec)
