"""Training steps: the micro net per backend, TSSD against baseline, eager against compiled.

* ``micro T=4|8 baseline``: one baseline step of the micro CNN (8x8 digits shape, batch 64; quick
  16, SGD) per neuron backend (issue 7: native at most 0.9x the fastest other backend);
* ``micro tssd vs baseline``: the one-pass TSSD step (T_s = 2, T_t = 4, weak head) against the
  baseline step at T_s = 2, per backend (issue 7: at most 1.15 x T_t / T_s, native);
* ``<net> <method>``, eager and compiled, for the micro net (T_s = 4, TSSD T_t = 8) and the small
  profile's two networks (bench/profiles/small.yaml: VGG-9 width 16 on 1x16x16 Fashion-MNIST
  shaped images at T_s = 2, TSSD T_t = 4; VGG-9 width 8 on 2x16x16 event frames at T_s = 5,
  TSSD T_t = 10; AdamW, batch 64, quick 8), with synthetic inputs. Compiled = ``torch.compile``
  of the step as tssd/train.py runs it for ``runtime.compile`` (network, method, loss; backward
  through AOTAutograd; the native LIF takes its compiled form by itself); the optimizer step is
  eager in both. The compiled rows are warm (compiled in the warm-up round); ``cold`` is the
  first step with every compile cache empty (issue 13: the warm speed-up of the micro step at
  least 1.3x, of the small profile's steps at least 1.2x). ``warm`` is the first step of a
  freshly compiled step whose graphs the on-disk cache already holds (dynamo's and inductor's
  in-memory state emptied, as in a new worker process; issue 19: at most 15 s);
* ``<net> backends 1t|2t``: the small profile's baseline step per neuron backend, eager, and
  the native step compiled, on 1 and 2 torch threads, taking turns within each round (issue 19:
  on 1 thread, as the harness's workers train, the native step at most 0.9x the fastest other
  backend eagerly and 0.6x compiled).
"""

from __future__ import annotations

import time

import pytest
import torch

from benchmarks.workloads import BACKENDS, NETS, OTHER_BACKENDS, spec_of, train_step, unavailable
from tssd.neurons import NeuronSpec
from tssd.runtime import forget_compiled

CPU = torch.device("cpu")
STEPS = [
    (net, method)
    for net in ("micro", "small-static", "small-event")
    for method in ("baseline", "tssd")
]
QUICK_COLD = {("micro", "baseline")}
"""The cold compiles a quick run measures (each costs 0.5-2 min on 2 cores)."""


def _batch(settings, net: str) -> int:
    return settings.micro_batch if net == "micro" else settings.small_batch


def _backend_spec(backend: str) -> NeuronSpec:
    """The NeuronSpec of ``backend``; skips the test when its library is not installed."""
    why = unavailable(backend)
    if why:
        pytest.skip(why)
    return spec_of(backend)


def _micro_step(settings, backend: str, method: str, t_s: int):
    """The micro CNN's eager ``method`` step on ``backend`` at ``t_s`` (TSSD: T_t = 2 T_s)."""
    spec = _backend_spec(backend)
    return train_step(NETS["micro"], spec, method, settings.micro_batch, CPU, t_s=t_s, t_t=2 * t_s)


@pytest.mark.parametrize("t", [4, 8], ids=["T=4", "T=8"])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_micro_step_per_backend(measure, settings, backend, t):
    """Baseline step of the micro CNN at T on each backend (eager)."""
    step = _micro_step(settings, backend, "baseline", t)
    measure(f"micro T={t} baseline", backend, step, kind="micro")


@pytest.mark.parametrize("method", ["baseline", "tssd"])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_micro_tssd_vs_baseline(measure, settings, backend, method):
    """TSSD step (T_s = 2, T_t = 4, one pass, weak head) and baseline step (T_s = 2)."""
    step = _micro_step(settings, backend, method, 2)
    measure("micro tssd vs baseline", f"{backend} {method}", step, kind="micro")


@pytest.mark.parametrize("threads", [1, 2], ids=["1t", "2t"])
@pytest.mark.parametrize("net", ["small-static", "small-event"])
def test_small_step_per_backend(measure, record_median, fresh_dynamo, settings, net, threads):
    """The small profile's baseline step on each backend, eager, and native compiled (warm: it
    compiles in the warm-up round), on 1 torch thread (as each of the harness's two workers
    trains a run) and on 2.

    The backends take turns within each round, and each one's median over the rounds is recorded
    as ``<net> backends <threads>t/<backend>``. Timed one test after another instead, seconds
    apart, the same native step read from 0.95x to 1.27x spikingjelly's on 2 threads of the
    2-core machine, and 0.8x to 1.02x on 1: the machine drifts by more than the difference."""
    steps = {
        b: train_step(NETS[net], spec_of(b), "baseline", settings.small_batch, CPU)
        for b in ("native-fused", *OTHER_BACKENDS)
        if not unavailable(b)
    }
    steps["native-compiled"] = train_step(
        NETS[net], NeuronSpec(), "baseline", settings.small_batch, CPU, compile_step=True
    )
    times: dict[str, list[float]] = {b: [] for b in steps}

    def one_round() -> None:
        for backend, step in steps.items():
            start = time.perf_counter()
            step()
            times[backend].append(time.perf_counter() - start)

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        group = f"{net} backends {threads}t"
        m = measure(group, "one step of each, in turn", one_round, kind="small", memory=False)
    finally:
        torch.set_num_threads(before)
    for backend, ts in times.items():
        record_median(group, backend, ts[-m.rounds :] if m.rounds else [])  # 0: not timed


MODES = ("cold", "warm", "eager", "compiled")


@pytest.mark.parametrize(
    "net,method,mode",
    [(n, m, mode) for n, m in STEPS for mode in MODES],
    ids=[f"{n}-{m}-{mode}" for n, m in STEPS for mode in MODES],
)
def test_step(measure, settings, cold_compile, fresh_dynamo, net, method, mode):
    """One training step, eager, compiled (warm), or the compiled one's first call with every
    compile cache empty (cold) or with its graphs in the on-disk cache (warm)."""
    kind = "micro" if net == "micro" else "small"
    batch = _batch(settings, net)
    if mode in ("cold", "warm") and settings.quick and (net, method) not in QUICK_COLD:
        pytest.skip("quick run: compile times measured for the micro baseline step only")
    if mode in ("cold", "warm"):

        def setup():
            if mode == "cold":
                cold_compile()  # the compiled step's kernels stay in the new cache for "warm"
            else:
                # untimed: compile into the on-disk cache (warm already when the cold test just
                # ran), then forget it in memory; the timed call compiles from the disk cache
                train_step(NETS[net], NeuronSpec(), method, batch, CPU, compile_step=True)()
                forget_compiled()
            step = train_step(NETS[net], NeuronSpec(), method, batch, CPU, compile_step=True)
            return (step,), {}

        measure(
            f"{mode} compile",
            f"{net} {method} step",
            lambda step: step(),
            kind=kind,
            setup=setup,
            rounds=1,
            warmup=0,
            memory=False,
        )
        return
    step = train_step(NETS[net], NeuronSpec(), method, batch, CPU, compile_step=mode == "compiled")
    measure(f"{net} {method}", mode, step, kind=kind)
