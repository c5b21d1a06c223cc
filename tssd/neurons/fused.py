"""The fused multi-step LIF: one autograd operator over the whole ``[T, ...]`` sequence.

:func:`lif_fused` is the native backend's eager default. It runs the forward recurrence without
building an autograd graph, keeps only the masks its hand-written backward through time needs
(``H`` itself for a hard reset whose reset term is differentiated), works in cache-sized column
blocks on parallel threads, and is registered as a torch custom operator, so ``torch.compile``
treats the LIF as one opaque operation.

Exactness: it applies the same floating-point operations, in the same order, as autograd applies
to :func:`tssd.neurons.native.lif_reference`, so spikes are identical and gradients agree bit for
bit (tests/test_fused.py). Design, why it is exact and the backward formulas: docs/neurons.md,
section ``tssd/neurons/fused.py``.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

from tssd.neurons.spec import NeuronSpec

BLOCK = 24576
"""Neurons per column block when torch runs several threads. 24 Ki float32 = 96 KiB per buffer, so
the few buffers of a block stay in a core's L2 cache over all T steps, and each operation stays
below torch's parallel grain size (32 Ki elements): it runs serially on its thread and never waits
at an OpenMP barrier (thousands of such barriers per call cost more than the arithmetic when the
cores are shared with other processes). Parallelism comes from :func:`_parallel_columns` instead:
one column range per torch thread."""

SERIAL_BLOCK = 1 << 16
"""Neurons per block with one torch thread: no barrier to avoid, so larger blocks (fewer calls,
each ~4 us of Python and dispatch overhead) while the buffers still fit in L2."""

_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_PID = 0
_POOL_LOCK = threading.Lock()


def _pool(size: int) -> ThreadPoolExecutor:
    """The shared worker pool, at least ``size`` threads, rebuilt in a forked child (whose copy
    of the parent's pool has no threads and would never run a task)."""
    global _POOL, _POOL_SIZE, _POOL_PID
    with _POOL_LOCK:
        pid = os.getpid()
        if _POOL is None or size > _POOL_SIZE or pid != _POOL_PID:
            if _POOL is not None and pid == _POOL_PID:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(max_workers=size, thread_name_prefix="tssd-lif")
            _POOL_SIZE, _POOL_PID = size, pid
        return _POOL


def _parallel_columns(
    n: int, like: torch.Tensor, n_scratch: int, work: Callable[..., None]
) -> None:
    """Run ``work(lo, hi, block, scratch)`` (under ``no_grad``) over column ranges of ``0..n``.

    On CPU: one range per torch thread (``torch.get_num_threads()``, so ``runtime.threads``
    governs it), each a whole number of blocks; the caller's thread takes the first range and a
    small pool the others (torch operations release the GIL, so the ranges run concurrently).
    Elsewhere (CUDA) one range, one block: there each operation is one large kernel.
    ``scratch`` (``[n_scratch, block]``, dtype of ``like``) is the range's scratch memory,
    allocated here on the calling thread so that allocator-level memory accounting (the
    profiler used by benchmarks/neurons.py) sees it.
    """
    if n == 0:
        return
    cpu = like.device.type == "cpu"
    threads = torch.get_num_threads()
    block = (BLOCK if threads > 1 else SERIAL_BLOCK) if cpu else max(n, 1)
    n_blocks = -(-n // block)
    workers = max(1, min(threads, n_blocks)) if cpu else 1
    per = -(-n_blocks // workers) * block
    jobs = []
    for lo in range(0, n, per):
        hi = min(lo + per, n)
        cols = min(block, hi - lo)
        jobs.append((lo, hi, block, like.new_empty((n_scratch, cols))))

    def run(*job) -> None:
        with torch.no_grad():  # grad mode is per thread
            work(*job)

    futures = [_pool(len(jobs) - 1).submit(run, *job) for job in jobs[1:]] if jobs[1:] else []
    try:
        run(*jobs[0])
    finally:
        for f in futures:
            f.result()


def _is_power_of_two(x: float) -> bool:
    return x > 0 and math.frexp(x)[0] == 0.5


def _window_reference(h: torch.Tensor, theta: float, half_width: float) -> torch.Tensor:
    """``|h - theta| < width/2``, computed exactly as the reference surrogate does (bool)."""
    return (h - theta).abs() < half_width


@functools.lru_cache(maxsize=64)
def _window_bounds(
    theta: float, half_width: float, dtype: torch.dtype
) -> tuple[float, float] | None:
    """The smallest and largest ``h`` of ``dtype`` inside the surrogate window, or None.

    ``fl(h - theta)`` never decreases as ``h`` grows, so the window ``|fl(h - theta)| < width/2``
    is an interval of floats; its ends lie within a few ulps of ``theta -/+ width/2``. They are
    found by evaluating the reference test itself on the 129 consecutive floats around each
    end: ``lo`` is the first float inside after one outside, ``hi`` the last inside before one
    outside. Then ``lo <= h <= hi``, i.e. ``clamp(h, lo, hi) == h``, is the same test in two
    operations instead of three (None: no clean crossing found; the caller keeps three).
    """

    def around(centre: float) -> torch.Tensor:
        c = torch.tensor([centre], dtype=dtype)
        up, down = [c], [c]
        for _ in range(64):
            up.append(torch.nextafter(up[-1], torch.tensor([math.inf], dtype=dtype)))
            down.append(torch.nextafter(down[-1], torch.tensor([-math.inf], dtype=dtype)))
        return torch.cat([*reversed(down[1:]), *up])

    lower, upper = around(theta - half_width), around(theta + half_width)
    in_lower = _window_reference(lower, theta, half_width)
    in_upper = _window_reference(upper, theta, half_width)
    if in_lower[0] or not in_lower[-1] or in_upper[-1] or not in_upper[0]:
        return None
    first = int(torch.nonzero(in_lower)[0])
    last = int(torch.nonzero(in_upper)[-1])
    if not bool(in_lower[first:].all()) or not bool(in_upper[: last + 1].all()):
        return None  # not one clean crossing: do not trust the scan
    return float(lower[first]), float(upper[last])


def _window(
    h: torch.Tensor,
    theta: float,
    half_width: float,
    bounds: tuple[float, float] | None,
    out: torch.Tensor,
) -> torch.Tensor:
    """``out = |h - theta| < width/2`` as 0/1 floats, exactly the reference surrogate's test.

    A float result: a comparison into bool is three times slower on CPU than into float.
    """
    if bounds is None:
        torch.sub(h, theta, out=out)
        out.abs_()
        return torch.lt(out, half_width, out=out)
    torch.clamp(h, bounds[0], bounds[1], out=out)
    return torch.eq(out, h, out=out)  # NaN stays outside, as in the reference


def _as_u8(t: torch.Tensor) -> torch.Tensor:
    # bool and uint8 share their bytes; torch multiplies a float by uint8 on its fast path and by
    # bool on a slow one, so saved masks are read through this free reinterpretation.
    return t.view(torch.uint8)


def lif_forward(
    x: torch.Tensor, spec: NeuronSpec, save: bool
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Spikes of the LIF over ``x [T, ...]`` (no autograd graph) and what the backward needs.

    Returns ``(spikes, saved)``; ``saved`` is empty unless ``save``: ``(window,)`` for soft
    reset, ``(window, spikes_bool)`` for hard reset with ``detach_reset``, ``(H,)`` for hard reset
    without it.
    """
    t_steps = x.shape[0]
    xf = x.detach().reshape(t_steps, -1)
    n = xf.shape[1]
    theta, decay, half = float(spec.theta), float(spec.decay), float(spec.surrogate_width) / 2
    hard = spec.reset == "hard"
    rest = float(spec.v_reset) if hard else 0.0
    one_op_charge = _is_power_of_two(decay) and not rest
    keep_h = save and hard and not spec.detach_reset
    keep_mask = save and not keep_h
    keep_spike = save and hard and spec.detach_reset
    out = torch.empty_like(xf)
    window = torch.empty(xf.shape, dtype=torch.bool, device=x.device) if keep_mask else None
    spk_b = torch.empty(xf.shape, dtype=torch.bool, device=x.device) if keep_spike else None
    h_all = torch.empty_like(xf) if keep_h else None
    fire = torch.ge if spec.fire_at_equality else torch.gt
    bounds = _window_bounds(theta, half, x.dtype) if save else None

    def work(c0: int, c1: int, block: int, floats: torch.Tensor) -> None:
        for lo in range(c0, c1, block):
            hi = min(lo + block, c1)
            m = hi - lo
            v, h_buf, tmp = floats[0, :m], floats[1, :m], floats[2, :m]
            v.fill_(rest)
            for t in range(t_steps):
                h = h_all[t, lo:hi] if keep_h else h_buf
                x_t = xf[t, lo:hi]
                if t == 0 and not rest:  # decay * 0 + x is x
                    if keep_h:
                        h.copy_(x_t)
                    else:
                        h = x_t  # only read below
                elif one_op_charge:
                    torch.add(x_t, v, alpha=decay, out=h)
                else:  # rest + decay * (v - rest) + x, two roundings like the reference
                    if rest:
                        torch.sub(v, rest, out=tmp)
                        torch.mul(tmp, decay, out=h)
                        h.add_(rest)
                    else:
                        torch.mul(v, decay, out=h)
                    h.add_(x_t)
                s = fire(h, theta, out=out[t, lo:hi])  # 0/1 floats
                if keep_mask:
                    window[t, lo:hi].copy_(_window(h, theta, half, bounds, tmp))
                if keep_spike:
                    spk_b[t, lo:hi].copy_(s)
                if t == t_steps - 1:
                    continue  # V[T-1] is never used
                if hard:
                    # h * (1 - s) + s * v_reset: h - h * s is h or exactly 0, then + v_reset * s
                    torch.addcmul(h, h, s, value=-1.0, out=v)
                    if rest:
                        v.add_(s, alpha=rest)
                else:
                    torch.sub(h, s, alpha=theta, out=v)

    _parallel_columns(n, xf, 3, work)
    spikes = out.view(x.shape)
    if not save:
        return spikes, ()
    if keep_h:
        return spikes, (h_all,)
    if keep_spike:
        return spikes, (window, spk_b)
    return spikes, (window,)


def lif_backward(
    grad_out: torch.Tensor, saved: tuple[torch.Tensor, ...], spec: NeuronSpec
) -> torch.Tensor:
    """Gradient of the input ``[T, ...]`` from the output's gradient, through time by hand."""
    shape = grad_out.shape
    t_steps = shape[0]
    go = grad_out.reshape(t_steps, -1)
    n = go.shape[1]
    theta, decay, width = float(spec.theta), float(spec.decay), float(spec.surrogate_width)
    half = width / 2
    hard, detach = spec.reset == "hard", spec.detach_reset
    v_reset = float(spec.v_reset)
    # With a power-of-two decay, gV = decay * dL/dH[t+1] is exact and folds into the next
    # operation as its alpha; with theta = 1 as well, theta * gV = gV.
    fold = _is_power_of_two(decay) and not hard and (detach or theta == 1.0)
    fire = torch.ge if spec.fire_at_equality else torch.gt
    bounds = _window_bounds(theta, half, go.dtype) if hard and not detach else None
    gx = torch.empty_like(go)

    def work(c0: int, c1: int, block: int, floats: torch.Tensor) -> None:
        for lo in range(c0, c1, block):
            hi = min(lo + block, c1)
            m = hi - lo
            gv, a, b, mask_f, spk_f = (floats[i, :m] for i in range(5))
            for t in range(t_steps - 1, -1, -1):
                last = t == t_steps - 1
                gs, g_x = go[t, lo:hi], gx[t, lo:hi]
                prev = None if last else gx[t + 1, lo:hi]  # dL/dH[t+1]
                if hard and not detach:
                    h = saved[0][t, lo:hi]
                    mask = _window(h, theta, half, bounds, mask_f)
                    spk = fire(h, theta, out=spk_f)
                else:
                    mask = _as_u8(saved[0][t, lo:hi])
                    spk = _as_u8(saved[1][t, lo:hi]) if hard else None
                if not last and not fold:
                    torch.mul(prev, decay, out=gv)
                # a = dL/dS[t]: the output's gradient plus, unless detached, the reset term's
                if last or detach:
                    src = gs
                elif hard:
                    src = gs
                    if v_reset:
                        src = torch.mul(gv, v_reset, out=b)
                        src.add_(gs)
                    torch.mul(gv, h, out=a)
                    src = torch.sub(src, a, out=a)
                elif fold:
                    src = torch.sub(gs, prev, alpha=decay, out=a)
                else:
                    src = torch.sub(gs, torch.mul(gv, theta, out=a), out=a)
                target = g_x if last else a
                if width != 1.0:
                    torch.div(src, width, out=target)
                    target.mul_(mask)  # the surrogate: 1/width inside the window, 0 outside
                else:
                    torch.mul(src, mask, out=target)
                if last:
                    continue
                if hard:
                    torch.mul(gv, spk, out=b)
                    torch.sub(gv, b, out=b)  # gV * (1 - S): gV or exactly 0
                    torch.add(b, a, out=g_x)
                elif fold:
                    torch.add(a, prev, alpha=decay, out=g_x)
                else:
                    torch.add(gv, a, out=g_x)

    _parallel_columns(n, go, 5, work)
    return gx.view(shape)


_SPEC_SCHEMA = (
    "float tau, float theta, bool hard, float v_reset, bool detach_reset, float width, "
    "bool fire_at_equality"
)
"""The spec as both operators take it, after their tensors: :func:`_op_params` writes it,
:func:`_spec` reads it back."""


def _op_params(spec: NeuronSpec) -> tuple[float | bool, ...]:
    """``spec`` as the operators' parameters (:data:`_SPEC_SCHEMA`, in order)."""
    return (
        float(spec.tau),
        float(spec.theta),
        spec.reset == "hard",
        float(spec.v_reset),
        bool(spec.detach_reset),
        float(spec.surrogate_width),
        bool(spec.fire_at_equality),
    )


def _spec(params: tuple[float | bool, ...]) -> NeuronSpec:
    """The spec of the operators' parameters (the inverse of :func:`_op_params`)."""
    tau, theta, hard, v_reset, detach_reset, width, fire_at_equality = params
    return NeuronSpec(
        tau=tau,
        theta=theta,
        reset="hard" if hard else "soft",
        v_reset=v_reset,
        detach_reset=detach_reset,
        surrogate_width=width,
        fire_at_equality=fire_at_equality,
    )


# The kernel is registered as two torch custom operators (forward, backward) with an autograd
# formula, rather than a bare autograd.Function: torch.compile then treats the LIF as one opaque
# operation with a known output shape instead of tracing into its Python loops and thread pool
# (which breaks the graph and, with dynamic shapes, made inductor fail on the pieces). Their
# schemas are written out, the spec's parameters once for both (_SPEC_SCHEMA): the same schemas
# torch infers from a typed signature that spells each parameter out.
@torch.library.custom_op(
    "tssd::lif_fused_forward",
    mutates_args=(),
    schema=f"(Tensor x, {_SPEC_SCHEMA}, bool save) -> (Tensor, Tensor, Tensor)",
)
def _forward_op(x: torch.Tensor, *params_save: float | bool) -> tuple[torch.Tensor, ...]:
    *params, save = params_save
    spikes, saved = lif_forward(x, _spec(params), save)
    # unused slots: distinct 0-size tensors (a custom op's outputs may not alias each other)
    saved = (*saved, x.new_empty(0), x.new_empty(0))[:2]
    return spikes, saved[0], saved[1]


@_forward_op.register_fake
def _(x, *params_save):
    *params, save = params_save
    spec = _spec(params)
    hard, detach_reset = spec.reset == "hard", spec.detach_reset
    flat = (x.shape[0], x[0].numel())
    keep_h = save and hard and not detach_reset
    as_bool = {"dtype": torch.bool}
    first = (x.new_empty(flat) if keep_h else x.new_empty(flat, **as_bool)) if save else None
    second = x.new_empty(flat, **as_bool) if save and hard and detach_reset else None
    return (
        x.new_empty(x.shape),
        x.new_empty(0) if first is None else first,
        x.new_empty(0) if second is None else second,
    )


@torch.library.custom_op(
    "tssd::lif_fused_backward",
    mutates_args=(),
    schema=f"(Tensor grad, Tensor saved0, Tensor saved1, {_SPEC_SCHEMA}) -> Tensor",
)
def _backward_op(
    grad: torch.Tensor, saved0: torch.Tensor, saved1: torch.Tensor, *params: float | bool
) -> torch.Tensor:
    spec = _spec(params)
    saved = (saved0, saved1) if spec.reset == "hard" and spec.detach_reset else (saved0,)
    return lif_backward(grad.contiguous(), saved, spec)


@_backward_op.register_fake
def _(grad, saved0, saved1, *params):
    return grad.new_empty(grad.shape)


def _setup_context(ctx, inputs, output) -> None:
    ctx.params = inputs[1:-1]  # the spec's parameters, between x and save
    ctx.save_for_backward(output[1], output[2])
    # The saved tensors are outputs only to be saved: no gradient flows into them, and autograd
    # must not materialize a zero gradient of their size (a full-size tensor) for the backward.
    ctx.mark_non_differentiable(output[1], output[2])
    ctx.set_materialize_grads(False)


def _backward(ctx, grad_spikes, grad_saved0, grad_saved1):
    if grad_spikes is None:  # the spikes did not reach the loss
        return (None,) * 9
    saved0, saved1 = ctx.saved_tensors
    return (
        _backward_op(grad_spikes, saved0, saved1, *ctx.params),
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    )


_forward_op.register_autograd(_backward, setup_context=_setup_context)


def lif_fused(x: torch.Tensor, spec: NeuronSpec) -> torch.Tensor:
    """Spikes of the LIF over ``x [T, ...]``; saves for backward only when a gradient is needed."""
    save = torch.is_grad_enabled() and x.requires_grad
    spikes, _, _ = _forward_op(x, *_op_params(spec), save)
    return spikes
