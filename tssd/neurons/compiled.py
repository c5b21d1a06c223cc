"""The multi-step LIF as plain pointwise torch code that ``torch.compile`` fuses into one kernel.

``NeuronSpec(native_impl="compiled")`` runs :func:`lif_compiled`. It is meant for models that are
compiled (``torch.compile``, inductor): there the forward recurrence over all T steps becomes one
generated kernel and the backward through time another one, C++ (vectorised, OpenMP) on CPU and
Triton on GPU, both from the Python source below; no C++ or CUDA source of ours, no build step.
Run eagerly it is correct but slow (T steps of small torch operations); the eager default stays
:mod:`tssd.neurons.fused`.

How. :class:`_CompiledLIF` is a ``torch.autograd.Function`` whose ``forward`` and ``backward`` are
Python loops over T of pointwise torch operations on ``[...]``-shaped slices, collected with
``torch.stack``. Dynamo traces such a Function with its hand-written backward (no graph break; the
tests compile with ``fullgraph=True``), AOTAutograd keeps that backward, and inductor inlines the
unrolled loop: every step has the same iteration space, so the scheduler fuses all steps and all
``stack`` slices into one loop over the neurons that reads ``x[0..T-1]`` and writes the spikes and
the saved bits (forward), and one that reads the output gradient and the bits and writes
``dL/dX`` (backward); the membrane potential lives in registers. On CPU (torch 2.13) this is one
C++ kernel each way (tests/test_compiled_lif.py counts them).

With autograd recording, the spikes of the output are read back from the saved bits
(:func:`_bit_of`; from the saved ``H`` for a hard reset without ``detach_reset``) rather than taken
from the recurrence. On GPU, inductor (torch 2.11 on an H200)
lowered a ``stack`` of at most 8 unrealized pointwise inputs to a "pointwise cat": a second kernel
over ``[T, ...]`` in which every output element recomputed the recurrence up to its own step
(writing into a preallocated output, ``out[t] = s``, came out the same way), 4x a ReLU's time.
The saved bytes are forward outputs, hence materialised; spikes computed from them cost such a
kernel one byte read per neuron instead of the recurrence, and the output spikes and the bits the
backward uses come from one computation of ``H`` by construction. (This form has run on CPU only;
the H200 runs were of the two forms just named.)

A ``torch.library.custom_op`` was not used: inductor treats a custom op as an opaque call (an
``extern`` fallback, as it does for :func:`tssd.neurons.fused.lif_fused`) unless a lowering is
registered through inductor's private decomposition tables, while an autograd.Function of
pointwise operations is what dynamo and inductor trace and fuse as a matter of course.

What is saved for the backward: two bits per neuron and step, the surrogate window
``|H - theta| < a/2`` and the spike, packed 8 to a byte (one ``uint8`` tensor per 4 steps: T = 8
costs 2 bytes per neuron, where :mod:`tssd.neurons.fused` saves T bytes for soft reset and 2T for a
hard reset with ``detach_reset``). The soft-reset backward needs only the window; the spike bits
are what the output is read from (above). A hard reset whose reset term is differentiated needs
``H`` itself (``dV/dH`` contains ``v_reset - H``), so it saves ``H`` and recomputes window and
spike from it. Under ``torch.compile`` the partitioner keeps exactly these
(tests/test_compiled_lif.py), because the backward reads a byte through its own conversion
(``uint8 -> int32 -> float32``): when it used the same ``byte.to(float32)`` the forward computes
to read the output spikes back, common-subexpression elimination merged the two, and the min-cut
partitioner saved the last byte as a float32 from the backward's first bit-peel, moved into the
forward (4 bytes per neuron for the last byte instead of 1: T = 8 saved 10 MiB where 4 suffice on
the benchmark's layer). The packing is float arithmetic (``sum(bit_k * 2**k)``, exact below
256) converted to ``uint8`` once per byte, and the backward peels the bits off highest first
(``bit = cur >= 2**k; cur -= bit * 2**k``): in inductor's C++ code (torch 2.13, AVX-512) all of
that is vectorised, while a ``bool`` tensor is stored and loaded through a scalar loop per vector
(``VecMask::store``/``from``: saving 16.7 M bool masks cost 5x a ReLU's forward) and a ``cat`` of
``uint8`` tensors on CPU falls back to ``aten.cat`` (hence one tensor per byte, never stacked).
Eagerly the packing costs a few extra small operations per step.

Backward through time, per step (``g`` = rectangular surrogate ``1/a`` inside the window, ``gV``
the gradient arriving at ``V[t]`` from step t+1, ``gS`` the gradient of the output spike)::

    soft:  dL/dH = gV + (gS - theta gV) g                      (detach_reset: gV + gS g)
    hard:  dL/dH = gV (1 - S) + ((gS + v_reset gV) - H gV) g   (detach_reset: gV (1 - S) + gS g)
    dL/dX[t] = dL/dH[t];   gV[t-1] = decay dL/dH[t];   gV[T-1] = 0

Exactness. Every operation is the one autograd applies to the reference loop
(:func:`tssd.neurons.native.lif_reference`), with the same operands in the same order: the charge
``decay * V + X`` (hard: ``v_reset + decay * (V - v_reset) + X``), the fire test ``H >= theta``
(which has the sign of the reference's rounded ``H - theta``), the resets, the surrogate
``(src * window) / a`` and the accumulation order of the reset terms that autograd's engine uses
(``(gS + v_reset gV) + (-(H gV))``). Where the first step of the reference computes ``decay * 0``,
this code leaves it out (adding 0 changes no value except the sign of a zero). So:

* eager, CPU or CUDA: spikes and gradients bit-identical to the loop;
* ``torch.compile`` on CPU with inductor's defaults: bit-identical as well (tested for soft / hard
  reset, detach on / off, tau 2 and 3, widths 0.5 and 1, T = 1, 4, 8, float32). Two inductor
  settings make this hold: the C++ kernels are built with ``-ffp-contract=off``
  (``torch._inductor.config.cpp.enable_floating_point_contract_flag``, default ``"off"``), so no
  multiply-add is contracted into an FMA, and without ``-funsafe-math-optimizations``
  (``config.cpp.enable_unsafe_math_opt_flag``, default off), so nothing is reassociated; on CPU
  inductor also keeps a division by a constant a division. With
  ``TORCHINDUCTOR_CPP_ENABLE_FLOATING_POINT_CONTRACT_FLAG=fast`` the compiler fuses e.g.
  ``gS - decay * dH`` into an FMA (one rounding instead of two): gradients then differ from the
  loop by up to ~1e-7 relative (seen: tau 3 everywhere, and hard reset without detach also at
  tau 2, where ``H gV`` is contracted); spikes can only differ where ``H`` lies within an ulp of
  ``theta`` (never seen);
* ``torch.compile`` on CUDA (Triton): Triton contracts multiply-adds into FMAs by default
  (inductor passes ``enable_fp_fusion = not config.emulate_precision_casts``), so gradients agree
  with the loop to rounding, not bit for bit: on an H200 (torch 2.11, the 16 combinations above,
  T = 8, 2 M neurons each) bit-identical for tau = 2 with soft or detached hard reset (every
  product there is exact: ``0.5 * V``, ``theta * gV`` with theta = 1, products with 0/1), within
  2.2e-7 relative elsewhere. An FMA in the charge ``decay * V + X`` (tau != 2) can move ``H`` by
  an ulp and so flip a spike, or a surrogate window, whose edge lies within an ulp: seen once in
  those 270 M neuron-steps (one window, hard reset, tau 3, width 0.5: that neuron's gradient
  changed by 5 % of the largest). Spikes never differed. With
  ``torch._inductor.config.emulate_precision_casts = True`` (no contraction) every combination
  was bit-identical. A division by the constant width becomes a multiplication by its
  reciprocal, as eager CUDA does too (exact for widths that are powers of two, such as 0.5 and 1).
* float16 / bfloat16: inductor computes a fused kernel's intermediates in float32, eager rounds
  after every operation: compiled and eager differ unless ``emulate_precision_casts`` is set.
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
    if cur is None:  # through int32: kept apart from the forward's read (module docstring)
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
        # The output spikes are read back from the saved bytes (see the module docstring).
        bits = [2 * t + 1 for t in range(t_steps)]
        spikes = [_bit_of(packed[b // 8], b % 8).to(x.dtype) for b in bits]
    # Saved per step (H) or per byte, never stacked: inductor lowers a cat of uint8 tensors on CPU
    # to an aten.cat call (an extra pass and copy); separate tensors come out of the kernel.
    return torch.stack(spikes), (*hs, *packed)


def _backward(grad: torch.Tensor, saved: tuple[torch.Tensor, ...], p: LIFParams) -> torch.Tensor:
    """``dL/dX [T, ...]`` from the spikes' gradient, through time by hand (module docstring)."""
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
