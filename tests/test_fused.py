"""The fused multi-step LIF against the reference loop: same spikes, same gradients, lean saves.

Tolerance: none. The fused forward and the hand-written backward perform the same rounded
operations as autograd does on the reference loop (see the module docstring of
tssd/neurons/fused.py for why each shortcut is exact), so spikes and input gradients are compared
with ``torch.equal``. The issue's bound (gradients within 1e-6) is therefore met with margin 0.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import tssd.neurons.fused as fused
from tssd.config import ConfigError, from_dict
from tssd.neurons import NeuronSpec, make_neuron
from tssd.neurons.fused import lif_fused
from tssd.neurons.native import lif_reference

pytestmark = pytest.mark.unit


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 40 neurons and two threads: many blocks, a ragged last one, two column ranges."""
    monkeypatch.setattr(fused, "BLOCK", 40)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def both(spec: NeuronSpec, x: torch.Tensor, w: torch.Tensor):
    """Spikes and input gradient of ``sum(w * S)`` for the reference loop and the fused LIF."""
    out = []
    for fn in (lif_reference, lif_fused):
        xi = x.detach().clone().requires_grad_()
        s = fn(xi, spec)
        (s * w).sum().backward()
        out.append((s.detach(), xi.grad))
    return out


SPECS = [
    dict(reset=r, detach_reset=d, surrogate_width=w, tau=tau, v_reset=vr, fire_at_equality=fe)
    for r, d, w, tau, vr, fe in itertools.product(
        ("soft", "hard"), (False, True), (1.0, 0.5, 0.3), (2.0, 3.0), (0.0, -0.5), (True, False)
    )
    if not (r == "soft" and vr)  # v_reset only matters for hard reset
]


@pytest.mark.parametrize("fields", SPECS, ids=lambda f: "-".join(f"{v}" for v in f.values()))
@pytest.mark.parametrize("t", [1, 4])
def test_fused_equals_reference_bit_for_bit(fields, t, small_blocks):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(t, 3, 5, 11, generator=g) * 0.8 + 0.4  # 165 neurons: 5 blocks, the last ragged
    w = torch.randn(t, 3, 5, 11, generator=g)
    (s_ref, g_ref), (s_fus, g_fus) = both(NeuronSpec(**fields), x, w)
    assert 0 < float(s_ref.mean()) < 1  # both spiking and silent neurons: a real comparison
    assert torch.equal(s_fus, s_ref)
    assert torch.equal(g_fus, g_ref)
    assert float(g_ref.abs().sum()) > 0


def test_theta_other_than_one_and_float64(small_blocks):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(6, 4, 50, generator=g, dtype=torch.float64) * 0.6 + 0.5
    w = torch.randn(6, 4, 50, generator=g, dtype=torch.float64)
    for fields in (dict(theta=0.7), dict(theta=0.7, reset="hard", v_reset=0.2)):
        (s_ref, g_ref), (s_fus, g_fus) = both(NeuronSpec(**fields), x, w)
        assert s_fus.dtype == torch.float64
        assert torch.equal(s_fus, s_ref) and torch.equal(g_fus, g_ref)


def test_same_result_on_one_and_two_threads_and_any_block_size(monkeypatch):
    x = torch.randn(8, 2, 300) + 0.3
    w = torch.randn(8, 2, 300)
    threads = torch.get_num_threads()
    results = []
    try:
        for n_threads, block in ((1, 1 << 16), (1, 50), (2, 64), (2, 7)):
            torch.set_num_threads(n_threads)
            monkeypatch.setattr(fused, "BLOCK", block)
            monkeypatch.setattr(fused, "SERIAL_BLOCK", block)
            results.append(both(NeuronSpec(), x, w)[1])
    finally:
        torch.set_num_threads(threads)
    for s, gx in results[1:]:
        assert torch.equal(s, results[0][0]) and torch.equal(gx, results[0][1])


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (dict(reset="soft"), [torch.bool]),
        (dict(reset="soft", detach_reset=True), [torch.bool]),
        (dict(reset="hard", detach_reset=True), [torch.bool, torch.bool]),
        (dict(reset="hard", detach_reset=False), [torch.float32]),
    ],
)
def test_saves_only_what_the_backward_needs(fields, expected):
    saved = []

    def pack(t):
        saved.append(t)
        return t

    x = (torch.randn(4, 2, 3, 5) + 0.5).requires_grad_()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        s = lif_fused(x, NeuronSpec(**fields))
    assert s.grad_fn is not None and "lif_fused" in s.grad_fn.name()
    saved = [t for t in saved if t.numel()]  # an unused slot of the custom op is a 0-size tensor
    assert [t.dtype for t in saved] == expected
    assert all(t.numel() == x.numel() for t in saved)
    # the reference loop saves at least one full-size float per step for the same neuron
    ref_saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: ref_saved.append(t) or t, lambda t: t):
        lif_reference(x, NeuronSpec(**fields))
    ref_bytes = sum(t.numel() * t.element_size() for t in ref_saved)
    assert sum(t.numel() * t.element_size() for t in saved) < ref_bytes


def _neighbours(centre: float, dtype: torch.dtype, k: int = 200) -> torch.Tensor:
    """The 2k+1 consecutive floats of ``dtype`` around ``centre``."""
    c = torch.tensor([centre], dtype=dtype)
    up, down = [c], [c]
    for _ in range(k):
        up.append(torch.nextafter(up[-1], torch.tensor([math.inf], dtype=dtype)))
        down.append(torch.nextafter(down[-1], torch.tensor([-math.inf], dtype=dtype)))
    return torch.cat([*down[1:], *up])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize(
    ("theta", "width"),
    [(1.0, 1.0), (1.0, 0.5), (1.0, 0.3), (0.7, 0.3), (2.5, 1e-3), (1.0, 1e-9), (1.0, 10.0)],
)
def test_two_operation_window_equals_the_reference_test_at_every_float(dtype, theta, width):
    # Every float within 200 ulps of both window edges and of theta, plus random values and
    # non-finite ones: the clamp-based window must classify each exactly as |h - theta| < a/2.
    half = width / 2
    h = torch.cat(
        [_neighbours(c, dtype) for c in (theta - half, theta + half, theta)]
        + [
            torch.randn(5000, generator=torch.Generator().manual_seed(0)).to(dtype) * 2 + theta,
            torch.tensor([math.nan, math.inf, -math.inf], dtype=dtype),
        ]
    )
    bounds = fused._window_bounds(theta, half, dtype)
    if dtype in (torch.float32, torch.float64) and width >= 1e-3:
        assert bounds is not None  # the fast path is the one taken in practice
    got = fused._window(h, theta, half, bounds, torch.empty_like(h)).bool()
    assert torch.equal(got, fused._window_reference(h, theta, half))


def test_no_graph_and_nothing_saved_without_grad():
    x = (torch.randn(5, 3, 7) + 0.5).requires_grad_()
    with torch.no_grad():
        s = lif_fused(x, NeuronSpec())
    assert s.grad_fn is None and not s.requires_grad
    assert torch.equal(s, lif_reference(x.detach(), NeuronSpec()))


def test_empty_batch():
    x = torch.zeros(3, 0, 4, requires_grad=True)
    s = lif_fused(x, NeuronSpec())
    s.sum().backward()
    assert s.shape == x.shape and x.grad.shape == x.shape


def test_non_contiguous_input():
    base = torch.randn(3, 7, 4) + 0.5
    x = base.transpose(0, 1)  # [7, 3, 4] view, not contiguous
    w = torch.randn(7, 3, 4)
    (s_ref, g_ref), (s_fus, g_fus) = both(NeuronSpec(), x, w)
    assert torch.equal(s_fus, s_ref) and torch.equal(g_fus, g_ref)


def test_native_backend_runs_fused_by_default_and_loop_on_request():
    x = (torch.randn(3, 2, 5) + 0.5).requires_grad_()
    assert NeuronSpec().native_impl == "fused"
    assert "lif_fused" in make_neuron(NeuronSpec())(x).grad_fn.name()
    assert type(make_neuron(NeuronSpec(native_impl="loop"))(x).grad_fn).__name__ == "StackBackward0"


@pytest.mark.slow
def test_torch_compile_of_a_model_with_the_fused_lif_matches_eager():
    from tssd.models import build_model, encode_static

    torch.manual_seed(0)
    model = build_model(
        "micro_cnn", num_classes=10, in_channels=1, input_size=8, neuron=NeuronSpec()
    )
    x = encode_static(torch.randn(6, 1, 8, 8), 4)
    compiled = torch.compile(lambda inp: model(inp).logits)
    out = compiled(x)
    out.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    ref = model(x).logits
    ref.sum().backward()
    # inductor may fuse the conv/BN arithmetic differently, so logits agree to float rounding
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for g, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-4, atol=1e-5)


def test_bad_native_impl_is_a_config_error():
    with pytest.raises(ConfigError, match=r"run\.yaml: key 'neuron\.native_impl'"):
        from_dict({"neuron": {"native_impl": "triton"}}, "run.yaml")
    with pytest.raises(ValueError, match="native_impl"):
        make_neuron(NeuronSpec(native_impl="triton"))
