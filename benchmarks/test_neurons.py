"""One LIF layer's forward+backward per implementation, and a ReLU: time and peak memory per T.

Input ``[T, 32, 64, 32, 32]`` float32 on CPU (``--bench-quick``: ``[8, 4, 8, 16, 16]``), T = 4, 8
and 16 (quick: 8); about a third of the input lies above threshold. Candidates
(benchmarks/workloads.py, ``LAYERS``): a ReLU, eager and compiled; the native LIF fused (the eager
default), as the reference loop and compiled (``native_impl: compiled`` under ``torch.compile``:
the compiled op); spikingjelly's and snntorch's LIF. The cold compile of the compiled op (every
compile cache emptied first) is measured once, at T = 8. The ratios (compiled LIF against ReLU and
the loop, fused against the loop) are printed at the end of the session (benchmarks/conftest.py).

What shaped the compiled op (CPU, torch 2.13, 2 shared cores, T = 8; ratios to the eager ReLU,
from the script this suite replaced): masks saved as ``bool``: 4.2x (inductor's C++ code stores
``bool`` through a scalar loop per vector); as ``uint8`` made through float: 1.6-1.8x; bits packed
8 to a byte: 1.15-1.6x over several runs, what remains being mostly page faults of the fresh output
and gradient buffers, which ReLU pays as well. On GPU (H200, torch 2.11), before the output spikes
were read from the saved bits, inductor split the forward into two kernels: 3.1x the eager ReLU at
batch 32 (see tssd/neurons/compiled.py).
"""

from __future__ import annotations

import pytest
import torch

from benchmarks.conftest import RECORD
from benchmarks.workloads import LAYERS, layer_input, layer_step, make_layer, unavailable

CPU = torch.device("cpu")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:  # noqa: D103
    if "t" in metafunc.fixturenames:
        ts = metafunc.config.stash[RECORD].settings.layer_ts
        metafunc.parametrize("t", ts, ids=[f"T={t}" for t in ts])


def test_cold_compile_of_the_lif(measure, cold_compile, settings):
    """First forward+backward of the compiled op with every compile cache empty (T = 8)."""
    x, g = layer_input((8, *settings.layer_sample), CPU)

    def setup():
        cold_compile()
        return (layer_step(make_layer("native-compiled", CPU), x, g),), {}

    measure(
        "cold compile",
        "native-compiled layer T=8",
        lambda step: step(),
        kind="layer",
        setup=setup,
        rounds=1,
        warmup=0,
        memory=False,
    )


@pytest.mark.parametrize("candidate", LAYERS)
def test_layer(measure, settings, fresh_dynamo, t, candidate):
    """Forward+backward of one layer on ``[T, *sample]``; compiled candidates compile in the
    warm-up round."""
    why = unavailable(candidate)
    if why:
        pytest.skip(why)
    x, g = layer_input((t, *settings.layer_sample), CPU)
    measure(f"layer T={t}", candidate, layer_step(make_layer(candidate, CPU), x, g), kind="layer")
