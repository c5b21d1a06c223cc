"""The multi-step LIF as plain pointwise torch code that ``torch.compile`` fuses into one kernel.

``NeuronSpec(native_impl="compiled")`` runs :func:`lif_compiled`, meant for compiled models:
inductor turns the forward recurrence over all T steps into one generated kernel and the backward
through time into another (C++ on CPU, Triton on GPU), from the Python source below with no build
step.
Run eagerly it is correct but slow; the eager default stays :mod:`tssd.neurons.fused`. The
backward saves two bits per neuron and step, packed 8 to a byte.

Exactness: spikes and gradients are bit-identical to :func:`tssd.neurons.native.lif_reference`
eagerly and under ``torch.compile`` on CPU with inductor's defaults; on CUDA (Triton contracts
multiply-adds into FMAs) gradients agree to rounding; in float16 / bfloat16 compiled and eager
differ unless ``emulate_precision_casts`` is set.

How it compiles, the inductor and Triton findings behind its form, what it saves and the
exactness evidence: docs/neurons.md, section ``tssd/neurons/compiled.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from tssd.neurons.spec import NeuronSpec


class LIFParams(NamedTuple):
    """A spec's numbers as Python constants (dynamo bakes them into the graph, guards on them)."""

    decay: float
    theta: float
    rest: float
    """``v_reset`` for a hard reset (where the neuron starts and leaks toward); 0 for soft."""
    hard: bool
    detach: bool
    width: float
    fire_at_equality: bool


def params_of(spec: NeuronSpec) -> LIFParams:
    """The constants :func:`lif_compiled` bakes in for ``spec``."""
    hard = spec.reset == "hard"
    return LIFParams(
        decay=float(spec.decay),
        theta=float(spec.theta),
        rest=float(spec.v_reset) if hard else 0.0,
        hard=hard,
        detach=bool(spec.detach_reset),
        width=float(spec.surrogate_width),
        fire_at_equality=bool(spec.fire_at_equality),
    )


def _fire(h: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """The spike as bool: ``H >= theta`` (``>`` without ``fire_at_equality``)."""
    return h >= p.theta if p.fire_at_equality else h > p.theta


def _window(h: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """The surrogate window ``|H - theta| < a/2`` as bool, computed as the reference does."""
    return (h - p.theta).abs() < p.width / 2


def _push_bit(
    packed: list[torch.Tensor], acc: torch.Tensor | None, k: int, mask: torch.Tensor
) -> tuple[torch.Tensor | None, int]:
    """Add the bool ``mask`` as bit ``k`` of the byte being filled (``acc``, float 0..255).

    The bits are summed in float32 (exact: integers below 256) and a full byte is converted to
    ``uint8`` once; returns the new ``(acc, k)``.
    """
    bit = mask.to(torch.float32)
    acc = bit if k == 0 else acc + bit * float(1 << k)
    if k == 7:
        packed.append(acc.to(torch.uint8))
        return None, 0
    return acc, k + 1


def _pop_bit(
    packed: tuple[torch.Tensor, ...], cur: torch.Tensor | None, n: int
) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """The last of the first ``n`` bits pushed, as float32 0/1; returns ``(bit, cur, n - 1)``.

    ``cur`` holds the low bits of the byte being read (float); the bits come out in the reverse
    of the order they went in, highest first, so ``cur >= 2**k`` is bit k.
    """
    n -= 1
    k = n % 8
    if cur is None:  # through int32: kept apart from the forward's read (docs/neurons.md)
        cur = packed[n // 8].to(torch.int32).to(torch.float32)
    if k == 0:
        return cur, None, n
    bit = (cur >= float(1 << k)).to(torch.float32)
    return bit, cur - bit * float(1 << k), n


def _bit_of(byte: torch.Tensor, k: int) -> torch.Tensor:
    """Bit ``k`` of a ``uint8`` tensor as float32 0/1 (``floor(b / 2**k) mod 2``, exact)."""
    q = torch.floor(byte.to(torch.float32) * (1.0 / (1 << k)))
    return q - 2.0 * torch.floor(q * 0.5)


def _forward(
    x: torch.Tensor, p: LIFParams, save: bool
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Spikes over ``x [T, ...]`` and, if ``save``, what :func:`_backward` needs."""
    decay, theta, rest = p.decay, p.theta, p.rest
    keep_h = save and p.hard and not p.detach
    keep_bits = save and not keep_h
    xs = x.unbind(0)
    t_steps = len(xs)
    spikes: list[torch.Tensor] = []
    hs: list[torch.Tensor] = []
    packed: list[torch.Tensor] = []
    acc, k = None, 0
    v: torch.Tensor | None = None  # V[t-1]; step 0 does not read it
    for t, x_t in enumerate(xs):
        if t == 0:  # V[-1] is the resting potential: decay * 0 adds nothing
            h = x_t + rest if rest else x_t
        elif rest:
            h = rest + decay * (v - rest) + x_t
        else:
            h = decay * v + x_t
        s = _fire(h, p)
        s_f = s.to(x.dtype)
        spikes.append(s_f)
        if keep_h:
            hs.append(h)
        if keep_bits:  # bits 2t and 2t + 1: the window, the spike
            acc, k = _push_bit(packed, acc, k, _window(h, p))
            acc, k = _push_bit(packed, acc, k, s)
        if t < t_steps - 1:  # V[T-1] is never used
            v = h * (1.0 - s_f) + s_f * rest if p.hard else h - s_f * theta
    if acc is not None:
        packed.append(acc.to(torch.uint8))
    if keep_bits:
        # The output spikes are read back from the saved bytes (see docs/neurons.md).
        bits = [2 * t + 1 for t in range(t_steps)]
        spikes = [_bit_of(packed[b // 8], b % 8).to(x.dtype) for b in bits]
    # Saved per step (H) or per byte, never stacked: inductor lowers a cat of uint8 tensors on CPU
    # to an aten.cat call (an extra pass and copy); separate tensors come out of the kernel.
    return torch.stack(spikes), (*hs, *packed)


def _backward(grad: torch.Tensor, saved: tuple[torch.Tensor, ...], p: LIFParams) -> torch.Tensor:
    """``dL/dX [T, ...]`` from the spikes' gradient, through time by hand (docs/neurons.md)."""
    decay, theta, rest, width = p.decay, p.theta, p.rest, p.width
    recompute = p.hard and not p.detach
    grads = grad.unbind(0)
    t_steps = len(grads)
    n_bits = 0 if recompute else 2 * t_steps
    cur = None
    dx: list[torch.Tensor] = []
    gv = None  # gradient arriving at V[t]; none at the last step
    for t in range(t_steps - 1, -1, -1):
        gs = grads[t]
        if recompute:
            h = saved[t]
            window, s = _window(h, p).to(grad.dtype), _fire(h, p).to(grad.dtype)
        else:  # the spike was pushed after the window
            s, cur, n_bits = _pop_bit(saved, cur, n_bits)
            s = s.to(grad.dtype)
            window, cur, n_bits = _pop_bit(saved, cur, n_bits)
            window = window.to(grad.dtype)
        # dL/dS[t]: the output's gradient plus, unless detached, the reset term's
        if gv is None or p.detach:
            src = gs
        elif p.hard:
            src = (gs + gv * rest) - gv * h
        else:
            src = gs - gv * theta
        dh = src * window / width  # rectangular surrogate: 1/a inside the window, 0 outside
        if gv is not None:
            dh = (gv * (1.0 - s) if p.hard else gv) + dh
        dx.append(dh)
        gv = dh * decay
    dx.reverse()
    return torch.stack(dx)


class _CompiledLIF(torch.autograd.Function):
    """The LIF over ``[T, ...]`` with the hand-written backward of :func:`_backward`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: LIFParams) -> torch.Tensor:  # noqa: D102
        spikes, saved = _forward(x, p, save=True)
        ctx.p = p
        ctx.save_for_backward(*saved)
        return spikes

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        return _backward(grad, ctx.saved_tensors, ctx.p), None


def lif_compiled(x: torch.Tensor, spec: NeuronSpec) -> torch.Tensor:
    """Spikes of the LIF over ``x [T, ...]``; records a graph only when a gradient is needed."""
    p = params_of(spec)
    if torch.is_grad_enabled() and x.requires_grad:
        return _CompiledLIF.apply(x, p)
    return _forward(x, p, save=False)[0]
