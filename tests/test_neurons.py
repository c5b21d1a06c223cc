"""The paper's LIF neuron (native reference) against traces and gradients computed by hand."""

from __future__ import annotations

import pickle

import pytest
import torch

from tssd.neurons import NeuronSpec, RectSpike, make_neuron, rect_spike
from tssd.neurons.native import lif_reference

pytestmark = pytest.mark.unit


def run(inputs, **spec):
    x = torch.tensor(inputs, dtype=torch.float64).view(-1, 1)
    return lif_reference(x, NeuronSpec(**spec)).view(-1).tolist()


def test_soft_reset_trace_by_hand():
    # tau=2 (decay 0.5), theta=1: H = 0.6, 0.9, 1.05 (fire, V=0.05), 0.625, 0.9125, 1.05625 (fire)
    assert run([0.6] * 6) == [0, 0, 1, 0, 0, 1]


def test_soft_reset_keeps_the_excess_hard_reset_drops_it():
    # H0 = 1.5 fires. Soft: V0 = 0.5, H1 = 0.25 + 0.8 = 1.05 fires. Hard: V0 = 0, H1 = 0.8 silent.
    assert run([1.5, 0.8], reset="soft") == [1, 1]
    assert run([1.5, 0.8], reset="hard") == [1, 0]


def test_spike_at_exact_equality():
    # 0.5 then 0.25 + 0.75 = 1.0 exactly (binary fractions, no rounding): fires only with >=.
    assert run([0.5, 0.75]) == [0, 1]
    assert run([0.5, 0.75], fire_at_equality=False) == [0, 0]


def test_overshoot_of_several_thresholds():
    # Soft reset subtracts one theta per step: H = 3.5 -> V 2.5; H = 1.25 -> V 0.25; H = 0.125.
    assert run([3.5, 0, 0, 0]) == [1, 1, 0, 0]
    # Hard reset forgets the overshoot at once.
    assert run([3.5, 0, 0, 0], reset="hard") == [1, 0, 0, 0]
    # A larger overshoot keeps firing while the residue stays above threshold.
    assert run([7.0, 0, 0, 0, 0]) == [1, 1, 1, 0, 0]  # V: 6, H 3 -> V 2, H 1 -> fire, H 0


def test_hard_reset_to_nonzero_v_reset_leaks_toward_it():
    # v_reset=0.5: start at 0.5; H0 = 0.5 + 0.5*(0.5-0.5) + 0.6 = 1.1 fires, V0 = 0.5 again.
    assert run([0.6, 0.0], reset="hard", v_reset=0.5) == [1, 0]


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_rect_surrogate_is_one_over_width_inside_window_and_zero_outside(width):
    x = torch.tensor([-0.6, -0.24, 0.0, 0.24, 0.6, width / 2, -width / 2], requires_grad=True)
    rect_spike(x, width).sum().backward()
    inside = (x.detach().abs() < width / 2).double()
    expected = inside / width
    assert torch.equal(x.grad.double(), expected)
    # the window edges themselves are outside (strict inequality)
    assert x.grad[-1] == 0 and x.grad[-2] == 0


def test_bptt_gradient_by_hand_detach_reset():
    # T=2, soft reset, x=[0.6, 0.6]: H0=0.6 (no spike), H1=0.9 (no spike); both inside the window.
    # d(S0+S1)/dx0 = 1 + decay * dV0/dH0 * 1 ; dV0/dH0 = 1 - theta*dS0/dH0 (0 when the reset is
    # differentiated), = 1 when detach_reset. So grad x0 = 1.5 (detached) or 1.0 (not).
    for detach, g0 in ((True, 1.5), (False, 1.0)):
        x = torch.tensor([[0.6], [0.6]], dtype=torch.float64, requires_grad=True)
        lif_reference(x, NeuronSpec(detach_reset=detach)).sum().backward()
        assert x.grad.view(-1).tolist() == pytest.approx([g0, 1.0], abs=1e-12)


def test_surrogate_function_is_picklable_and_module_is_multistep():
    assert pickle.loads(pickle.dumps(RectSpike)) is RectSpike
    layer = make_neuron(NeuronSpec())
    x = torch.rand(4, 3, 5, 5) * 2
    s = layer(x)
    assert s.shape == x.shape and set(s.unique().tolist()) <= {0.0, 1.0}
    # each call starts from rest: two calls on the same input give the same spikes
    assert torch.equal(layer(x), s)


def test_neuron_rejects_input_without_time_axis():
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        make_neuron(NeuronSpec())(torch.zeros(3))
