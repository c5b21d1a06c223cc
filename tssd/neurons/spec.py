"""The framework-neutral description of the paper's LIF neuron (one spec, three backends)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NATIVE_IMPLS = ("fused", "loop", "compiled")
"""Implementations of the native backend (:attr:`NeuronSpec.native_impl`)."""


@dataclass
class NeuronSpec:
    """Discrete LIF neuron, defaults = the paper's neuron (PAPER.md, "The method").

    Charge ``H[t] = (1 - 1/tau) * V[t-1] + I[t]`` (no 1/tau on the input); fire
    ``S[t] = H[t] >= theta`` (``>`` when ``fire_at_equality`` is false); reset
    ``V[t] = H[t] - S[t] * theta`` (soft) or ``V[t] = H[t] * (1 - S[t]) + S[t] * v_reset`` (hard).
    The surrogate gradient is rectangular: ``dS/dH = 1/width`` where ``|H - theta| < width/2``.
    """

    backend: str = "native"
    """native | spikingjelly | snntorch."""
    tau: float = 2.0
    theta: float = 1.0
    reset: Literal["soft", "hard"] = "soft"
    v_reset: float = 0.0
    """Potential after a hard reset, also the resting potential the hard-reset neuron leaks
    toward and starts from (unused by soft reset; the paper's neuron uses soft reset)."""
    detach_reset: bool = False
    """Stop the gradient through the reset term (the spike used in the reset is detached)."""
    surrogate: Literal["rect"] = "rect"
    surrogate_width: float = 1.0
    """Width ``a`` of the rectangular window; its height is ``1/a`` so the area is 1."""
    fire_at_equality: bool = True
    native_impl: Literal["fused", "loop", "compiled"] = "fused"
    """How the native backend runs (other backends ignore it). ``fused`` (default): one operator
    over the whole ``[T, ...]`` sequence with a hand-written backward through time
    (:mod:`tssd.neurons.fused`); the same spikes and, bit for bit, the same gradients as ``loop``,
    in a fraction of the time and memory. ``loop``: the step-by-step reference
    :func:`tssd.neurons.native.lif_reference`, autograd recording every step. ``compiled``: the
    same recurrence and backward as plain pointwise torch code (:mod:`tssd.neurons.compiled`) that
    ``torch.compile`` fuses into one generated kernel each way (C++ on CPU, Triton on GPU); slow
    when run eagerly, for compiled models; bit-identical to ``loop`` eagerly and compiled on CPU,
    to rounding (FMA contraction) compiled on GPU."""

    @property
    def decay(self) -> float:
        """Leak factor ``1 - 1/tau`` applied to the membrane potential each step."""
        return 1.0 - 1.0 / self.tau
