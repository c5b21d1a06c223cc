"""The GPU section: ResNet-19 at CIFAR size, T = 4, bf16 autocast, images per second per backend,
eager and compiled; one LIF layer on the GPU, compiled against spikingjelly's GPU kernels.

Runs where CUDA is (``python3 benchmarks/gpu_check.py`` runs it on the GPU machine; skipped
elsewhere). ResNet-19 steps: the baseline method at T = 4, SGD, batch 128 (quick 16), synthetic
CIFAR-shaped input, the step under ``torch.autocast(bfloat16)`` as ``runtime.amp: bf16`` runs it;
compiled = ``torch.compile`` of the step as in tssd/train.py. The LIF layer: forward+backward on
``[8, 32, 64, 32, 32]`` float32 (quick ``[8, 4, 8, 16, 16]``). Tests are ordered cheapest first,
so a run stopped by its time limit loses the compiled networks first.
"""

from __future__ import annotations

import pytest
import torch

from benchmarks.workloads import (
    NETS,
    layer_input,
    layer_step,
    make_layer,
    spec_of,
    spikingjelly_gpu_kernels,
    train_step,
    unavailable,
)

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device: the GPU section runs on a GPU machine (benchmarks/gpu_check.py)",
)

LAYER_CANDIDATES = ["relu", "native-fused", "native-compiled", "spikingjelly", "spikingjelly-cupy"]
STEP_CASES = [
    (b, mode) for mode in ("eager", "compiled") for b in ("native", "spikingjelly", "snntorch")
]


def _cuda() -> torch.device:
    return torch.device("cuda")


@pytest.mark.parametrize("candidate", LAYER_CANDIDATES)
def test_gpu_layer(measure, settings, fresh_dynamo, candidate):
    """One LIF layer's forward+backward at T = 8 on the GPU (float32)."""
    dev = _cuda()
    note = ""
    if candidate.startswith("spikingjelly"):
        why = unavailable("spikingjelly")
        if why:
            pytest.skip(why)
        kernels = spikingjelly_gpu_kernels(dev)
        if candidate not in kernels:
            pytest.skip("spikingjelly has no cupy backend here (2.x has none; or cupy is missing)")
        note, factory = kernels[candidate]
        layer = factory()
    else:
        layer = make_layer(candidate, dev)
    x, g = layer_input((8, *settings.gpu_layer_sample), dev)
    measure("gpu layer T=8", candidate, layer_step(layer, x, g), kind="gpu", device=dev, note=note)


@pytest.mark.parametrize("backend,mode", STEP_CASES, ids=[f"{b}-{m}" for b, m in STEP_CASES])
def test_resnet19_step(measure, settings, fresh_dynamo, backend, mode):
    """A ResNet-19 training step at T = 4 in bf16 autocast: images per second."""
    name = "native-fused" if backend == "native" else backend
    why = unavailable(name)
    if why:
        pytest.skip(why)
    dev, batch = _cuda(), settings.gpu_batch
    step = train_step(
        NETS["resnet19"],
        spec_of(name),
        "baseline",
        batch,
        dev,
        t_s=4,
        t_t=8,
        compile_step=mode == "compiled",
        amp=True,
    )
    measure("gpu resnet19", f"{backend} {mode}", step, kind="gpu", device=dev, items=batch)
