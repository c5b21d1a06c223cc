"""The CUDA paths: every LIF implementation and backend against the reference loop, and one
training step per backend in bf16 and float32. Run by ``nox -s gpu-check`` on a GPU machine;
skipped (marker ``gpu``, excluded by default) everywhere else.

Tolerances: spikes must be identical (a threshold comparison has no rounding slack to give).
Input gradients within 1e-5 relative: on the GPU the libraries' kernels (spikingjelly's, inductor's
Triton code for ``compiled``) may contract a multiply-add that the loop rounds twice, which moves
the last bits of float32 gradients (1e-7 relative per operation, accumulated over T = 8 steps).
"""

from __future__ import annotations

import pytest
import torch

from tssd.neurons import NeuronSpec, make_neuron

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]

CANDIDATES = {
    "native-fused": {"backend": "native", "native_impl": "fused"},
    "native-compiled": {"backend": "native", "native_impl": "compiled"},
    "spikingjelly": {"backend": "spikingjelly"},
    "snntorch": {"backend": "snntorch"},
}


def _spikes_and_grad(fields: dict, x: torch.Tensor, w: torch.Tensor):
    layer = make_neuron(NeuronSpec(**fields)).cuda()
    xi = x.detach().clone().requires_grad_()
    s = layer(xi)
    (s * w).sum().backward()
    return s.detach(), xi.grad


@pytest.mark.parametrize("name", list(CANDIDATES))
@pytest.mark.parametrize("reset", ["soft", "hard"])
@pytest.mark.parametrize("detach_reset", [False, True])
def test_cuda_lif_equals_the_reference_loop(name, reset, detach_reset):
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(8, 16, 8, 12, 12, generator=g) * 0.8 + 0.4).cuda()
    w = torch.randn(x.shape, generator=g).cuda()
    common = {"reset": reset, "detach_reset": detach_reset}
    s_ref, g_ref = _spikes_and_grad({**common, "backend": "native", "native_impl": "loop"}, x, w)
    s, gx = _spikes_and_grad({**common, **CANDIDATES[name]}, x, w)
    assert torch.equal(s, s_ref), f"{name}: {int((s != s_ref).sum())} spikes differ"
    rel = ((gx - g_ref).norm() / g_ref.norm()).item()
    assert rel <= 1e-5, f"{name}: input gradient differs by {rel:.2e} (relative)"


@pytest.mark.parametrize("backend", ["native", "spikingjelly", "snntorch"])
@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_one_tssd_training_step_per_backend(backend, amp, tiny_cfg):
    from tssd.data import iterate_batches
    from tssd.train import Trainer

    cfg = tiny_cfg(neuron__backend=backend, runtime__device="cuda", runtime__amp=amp)
    tr = Trainer(cfg)
    before = [p.detach().clone() for p in tr.model.parameters()]
    x, y = next(iter(iterate_batches(tr.bundle.train, 32)))
    x, y = x.cuda(), y.cuda()
    with tr.autocast():
        loss, terms, _ = tr.runner(x, y)
    assert torch.isfinite(loss), f"{backend}/{amp}: loss {loss}"
    tr.opt.zero_grad()
    loss.backward()
    tr.opt.step()
    moved = sum(not torch.equal(a, b) for a, b in zip(before, tr.model.parameters(), strict=True))
    assert moved > 0 and set(terms) == {"task", "tsd", "ssd"}
