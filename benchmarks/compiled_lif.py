"""The compiler-fusable LIF (``native_impl: compiled``) under ``torch.compile``: time and memory.

Measured in one run, every number a ratio to a baseline of the same run (issue 13):

* forward+backward time of one LIF layer on ``[T, 32, 64, 32, 32]`` (T = 8 by default), compiled
  with inductor, against a ReLU on the same tensor (target <= 1.5x), the eager fused LIF and the
  reference loop (also shown: the compiled LIF run eagerly, and a compiled ReLU);
* peak memory of that forward+backward against the reference loop (target <= 0.6x);
* cold compile time (fresh inductor cache, first forward+backward) and the compile time when
  inductor's on-disk cache already holds the kernels (a second process, or after
  ``torch._dynamo.reset()``).

Timing and memory are measured the way benchmarks/neurons.py measures them (its helpers are
reused): one warm-up call each, then rounds in which every candidate runs once (interleaved, so a
shared machine's load hits them alike), the median over rounds; peak memory from torch's allocator
(the profiler's memory trace on CPU, ``max_memory_allocated`` on CUDA).

Run ``python benchmarks/compiled_lif.py`` (``--quick``: small shape, few rounds;
``--device cuda`` on a GPU machine; ``--t``, ``--batch`` for other shapes).

What shaped the implementation (CPU, torch 2.13, 2 cores shared with other jobs, T = 8; each a
ratio to the eager ReLU of the same run):

* first version, masks saved as ``bool`` ``[T, ...]``: 4.2x. Inductor's C++ code stores and loads
  ``bool`` through a scalar loop per vector (a compiled ReLU, which saves a ``bool`` mask, ran at
  3-4x the eager one for the same reason);
* masks as ``uint8`` made through float: 1.6-1.8x (16.7 M masks then cost +7 ms instead of +230);
  a ``stack`` of ``uint8`` tensors became an ``aten.cat`` call, so one tensor per step;
* bits packed 8 to a byte: 1.15-1.6x over several runs, 1.2x in the last two; what remains is
  mostly page faults of the fresh output and gradient buffers (allocating and filling 64 MiB took
  ~50 ms on this machine, about a ReLU's forward), which ReLU pays as well.

On GPU (H200, torch 2.11) inductor split the forward into two kernels (see the module docstring
of tssd/neurons/compiled.py): 3.1x the eager ReLU at batch 32, 4.2x at batch 256, before the
output spikes were read from the saved bits; that last form has not run on a GPU yet.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from tssd.neurons import NeuronSpec, make_neuron  # noqa: E402

TARGETS = {"compiled_vs_relu_time": 1.5, "compiled_vs_loop_memory": 0.6}


def _suite_helpers():
    """benchmarks/neurons.py as a module (interleaved_times, peak_bytes, layer_step, _sync)."""
    spec = importlib.util.spec_from_file_location("bench_neurons", HERE / "neurons.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table and the ratios against the issue-13 targets."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small shape, 2 rounds (a smoke run)")
    ap.add_argument("--t", type=int, default=8, help="timesteps (default 8)")
    ap.add_argument("--batch", type=int, default=32, help="batch (default 32, the suite's)")
    ap.add_argument("--reps", type=int, default=0, help="rounds (default 7; 2 with --quick)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    ap.add_argument(
        "--no-eager-compiled",
        action="store_true",
        help="leave out the compiled LIF run eagerly (slow; only for information)",
    )
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # A fresh inductor cache, so that the first compiled call is a real cold compile.
    cache = tempfile.mkdtemp(prefix="tssd-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    try:
        return _run(args)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _run(args: argparse.Namespace) -> int:
    bench = _suite_helpers()
    dev = torch.device(args.device)
    reps = args.reps or (2 if args.quick else 7)
    shape = (args.t, 4, 8, 16, 16) if args.quick else (args.t, args.batch, 64, 32, 32)
    g0 = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=g0) * 0.8 + 0.4).to(dev).requires_grad_()
    g = torch.randn(shape, generator=g0).to(dev)
    load = os.getloadavg()[0]
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(
        f"torch {torch.__version__} | {name} | {torch.get_num_threads()} threads | "
        f"input {list(shape)} float32 | load average {load:.2f}"
    )

    layer = make_neuron(NeuronSpec(native_impl="compiled")).to(dev)
    compiled = torch.compile(layer, fullgraph=True, dynamic=False)
    t0 = time.perf_counter()
    bench.layer_step(compiled, x, g)()
    bench._sync(dev)
    cold = time.perf_counter() - t0
    torch._dynamo.reset()  # compile again: dynamo and AOTAutograd anew, kernels from the cache
    compiled = torch.compile(layer, fullgraph=True, dynamic=False)
    t0 = time.perf_counter()
    bench.layer_step(compiled, x, g)()
    bench._sync(dev)
    cached = time.perf_counter() - t0
    compiled_relu = torch.compile(torch.relu, fullgraph=True, dynamic=False)
    bench.layer_step(compiled_relu, x, g)()

    fused = make_neuron(NeuronSpec()).to(dev)
    loop = make_neuron(NeuronSpec(native_impl="loop")).to(dev)
    # Two interleaved groups: the fast candidates get 3x the rounds (their ratio to the ReLU is
    # the target and the noisiest number); the slow ones are timed against the compiled LIF.
    fast: dict[str, Callable[[], None]] = {
        "relu (eager)": bench.layer_step(torch.relu, x, g),
        "relu (compiled)": bench.layer_step(compiled_relu, x, g),
        "lif compiled": bench.layer_step(compiled, x, g),
        "lif fused (eager)": bench.layer_step(fused, x, g),
    }
    slow: dict[str, Callable[[], None]] = {
        "lif compiled": fast["lif compiled"],
        "lif loop (eager)": bench.layer_step(loop, x, g),
    }
    if not args.no_eager_compiled:
        slow["lif compiled, run eagerly"] = bench.layer_step(layer, x, g)
    fast_times = bench.interleaved_times(fast, 3 * reps, dev)
    slow_times = bench.interleaved_times(slow, reps, dev)
    med = {k: statistics.median(v) for k, v in fast_times.items()}
    med.update({k: statistics.median(v) for k, v in slow_times.items() if k not in med})
    mem = {}
    for k, f in {**fast, **slow}.items():
        x.grad = None
        mem[k] = bench.peak_bytes(f, dev)
    x.grad = None

    def per_round(times: dict[str, list[float]], a: str, b: str) -> float:
        """Median over rounds of the ratio within a round (a and b ran back to back)."""
        return statistics.median(p / q for p, q in zip(times[a], times[b], strict=True))

    base = med["lif compiled"]
    print(
        f"\nLIF layer forward+backward (median of {3 * reps} interleaved rounds; the loop and the "
        f"eager run of the compiled LIF: {reps} rounds)"
    )
    print(f"  {'candidate':<28}{'time ms':>10}{'x compiled':>12}{'peak MiB':>10}{'x compiled':>12}")
    for k in mem:
        print(
            f"  {k:<28}{1e3 * med[k]:>10.1f}{med[k] / base:>12.3f}"
            f"{mem[k] / 2**20:>10.1f}{mem[k] / max(mem['lif compiled'], 1):>12.3f}"
        )
    ranges = {**slow_times, **fast_times}
    print(
        "  per-round range ms: "
        + ", ".join(f"{k} {1e3 * min(v):.0f}-{1e3 * max(v):.0f}" for k, v in ranges.items())
    )
    ratios = {
        "compiled / relu (eager) time": med["lif compiled"] / med["relu (eager)"],
        "  median of per-round ratios": per_round(fast_times, "lif compiled", "relu (eager)"),
        "compiled / relu (compiled) time": med["lif compiled"] / med["relu (compiled)"],
        "compiled / fused (eager) time": med["lif compiled"] / med["lif fused (eager)"],
        "compiled / loop time": (
            statistics.median(slow_times["lif compiled"]) / med["lif loop (eager)"]
        ),
        "compiled / loop peak memory": mem["lif compiled"] / mem["lif loop (eager)"],
        "compiled / fused peak memory": mem["lif compiled"] / mem["lif fused (eager)"],
        "compiled / relu (eager) peak memory": mem["lif compiled"] / mem["relu (eager)"],
    }
    print("\nratios (this run)")
    for k, v in ratios.items():
        print(f"  {k:<38}{v:8.3f}")
    print(f"\ncompile: cold {cold:.1f} s (fresh cache), cached {cached:.1f} s (kernels on disk)")
    if not args.quick and args.t == 8 and args.batch == 32:
        checks = (
            ("compiled_vs_relu_time", ratios["compiled / relu (eager) time"], "time vs ReLU"),
            ("compiled_vs_loop_memory", ratios["compiled / loop peak memory"], "memory vs loop"),
        )
        print("\nissue-13 targets")
        for key, value, what in checks:
            verdict = "MET" if value <= TARGETS[key] else "NOT MET"
            print(f"  {what}: {value:.3f} (target <= {TARGETS[key]}) {verdict}")
    print(f"load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
