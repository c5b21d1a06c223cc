"""Neuron backends side by side: time and peak memory of training, measured in one run.

What it measures (issues 3 and 7), every number as a ratio to a baseline measured in the same run:

* ``layer``: one LIF layer forward+backward on ``[T, 32, 64, 32, 32]`` (T = 4, 8) for native fused,
  native loop, spikingjelly and snntorch, and a ReLU on the same tensor;
* ``memory``: peak memory of that layer's forward+backward against T (4, 8, 16);
* ``micro``: one training step (baseline method, SGD) of the micro CNN, batch 64, 8x8 input, per
  backend at T = 4 and 8;
* ``tssd``: the TSSD step (one pass, T_s = 2, T_t = 4, weak head) against the baseline step at
  T_s = 2, per backend;
* ``compile``: ``torch.compile`` (inductor) of the reference loop and of the micro-net step, cold
  compile time and warm time against the eager fused LIF;
* ``gpu`` (only with CUDA): resnet19 at CIFAR size, T = 4, batch 128, bf16, images per second.

Timing: the candidates of a comparison run interleaved, one call each per round, after one
warm-up call; the median over rounds is reported (the machine may be shared: interleaving
exposes every candidate to the same load). Peak memory on CPU: ``torch.profiler`` with
``profile_memory=True`` records every allocation of torch's CPU allocator with the running total;
the peak is the largest total reached during one forward+backward, counted from the start of that
window (so the input, allocated before, is excluded and every byte the call allocates, kept or
temporary, is included). ``ru_maxrss`` cannot serve: it only grows within a process. On CUDA:
``torch.cuda.max_memory_allocated`` above the level before the call.

Run ``python benchmarks/neurons.py`` (``--quick`` for small shapes and few rounds, ``--sections``
to pick sections). Results are printed and written to
``results/benchmarks/<device>-<dtype>-torch<version>.csv`` (one row per measurement).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from tssd.config import MethodConfig  # noqa: E402
from tssd.methods import METHODS, StepContext  # noqa: E402
from tssd.models import WeakClassifier, build_model, encode_static  # noqa: E402
from tssd.neurons import NeuronSpec, make_neuron  # noqa: E402
from tssd.neurons.native import lif_reference  # noqa: E402
from tssd.neurons.registry import BackendUnavailable, backend_version, neuron_class  # noqa: E402

CANDIDATES: dict[str, dict] = {
    "native-fused": {"backend": "native", "native_impl": "fused"},
    "native-loop": {"backend": "native", "native_impl": "loop"},
    "spikingjelly": {"backend": "spikingjelly"},
    "snntorch": {"backend": "snntorch"},
}
OTHER_BACKENDS = ("spikingjelly", "snntorch")
MEMORY_METHOD_CPU = "torch.profiler allocator trace (peak 'Total Allocated' within the call)"
MEMORY_METHOD_CUDA = "torch.cuda.max_memory_allocated above the level before the call"

# The issue-7 targets: (description, numerator, denominator, bound).
TARGETS = {
    "fused_vs_loop_time": 0.6,
    "fused_vs_relu_time": 2.5,
    "fused_vs_loop_memory": 0.6,
    "micro_native_vs_fastest_other": 0.9,
    "tssd_vs_baseline": 1.15 * 4 / 2,
}


# ---- measurement -------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_times(
    fns: dict[str, Callable[[], None]], reps: int, device: torch.device
) -> dict[str, list[float]]:
    """Seconds per call of each function: one warm-up call each, then ``reps`` rounds in which
    every function runs once (interleaved, so load changes hit all candidates alike)."""
    for f in fns.values():
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            f()
            _sync(device)
            times[k].append(time.perf_counter() - t0)
    return times


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence the profiler's C++ start/stop chatter (file descriptor 2) for the window."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def peak_bytes(fn: Callable[[], None], device: torch.device) -> int:
    """Peak bytes torch allocates during ``fn()``, counted from the start of the call.

    Free what the call would free (e.g. an old ``.grad``) before calling: on CPU, a block that
    was allocated outside any profiling window is not subtracted when freed inside one.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.json"
        with _quiet_stderr():
            prof.export_chrome_trace(str(path))
        events = json.loads(path.read_text())["traceEvents"]
    mem = sorted(
        (
            e
            for e in events
            if e.get("name") == "[memory]" and e.get("args", {}).get("Device Type") == 0
        ),
        key=lambda e: e["ts"],
    )
    if not mem:
        return 0
    # 'Total Allocated' is the allocator reporter's running total, which carries over between
    # profiling windows; the level at this window's start is the first event's total less its
    # own size.
    start = mem[0]["args"]["Total Allocated"] - mem[0]["args"]["Bytes"]
    return max(0, max(e["args"]["Total Allocated"] for e in mem) - start)


# ---- workloads ---------------------------------------------------------------------------------


def available(name: str) -> str | None:
    """None when the candidate's backend is installed, else why not."""
    try:
        neuron_class(CANDIDATES[name]["backend"])
    except BackendUnavailable as exc:
        return str(exc)
    return None


def layer_step(
    layer: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, g: torch.Tensor
) -> Callable[[], None]:
    """One forward+backward of ``layer`` on ``x`` with output gradient ``g`` (x.grad kept)."""

    def run() -> None:
        x.grad = None
        layer(x).backward(g)

    return run


def micro_step(
    spec: NeuronSpec, method: str, t_s: int, t_t: int, batch: int, device: torch.device
) -> Callable[[], None]:
    """A training step of ``method`` on the micro CNN (SGD; the weak head if the method uses it)."""
    torch.manual_seed(0)
    model = build_model("micro_cnn", num_classes=10, in_channels=1, input_size=8, neuron=spec).to(
        device
    )
    uses_head = METHODS[method].uses_weak_head
    stage = model.resolve_stage("middle") if uses_head else None
    head = WeakClassifier(model.stage_channels[stage], 10, spec).to(device) if uses_head else None
    params = list(model.parameters()) + (list(head.parameters()) if head is not None else [])
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    ctx = StepContext(model, head, MethodConfig(name=method, t_s=t_s, t_t=t_t), stage, "static")
    g = torch.Generator().manual_seed(1)
    x = torch.rand(batch, 1, 8, 8, generator=g).to(device) * 2
    y = torch.randint(0, 10, (batch,), generator=g).to(device)

    def run() -> None:
        out = METHODS[method].step(ctx, x, y)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()

    return run


# ---- the report --------------------------------------------------------------------------------


class Report:
    """Collects rows for the CSV and prints aligned tables."""

    def __init__(self, device: torch.device, dtype: torch.dtype, reps: int, quick: bool = False):
        self.device, self.dtype, self.reps, self.quick = device, dtype, reps, quick
        self.rows: list[dict] = []
        self.verdicts: list[str] = []

    def add(
        self,
        section: str,
        case: str,
        candidate: str,
        metric: str,
        value: float,
        unit: str,
        baseline: str = "",
        ratio: float = math.nan,
        note: str = "",
    ) -> None:
        """One CSV row."""
        self.rows.append(
            {
                "section": section,
                "case": case,
                "candidate": candidate,
                "metric": metric,
                "value": value,
                "unit": unit,
                "baseline": baseline,
                "ratio": ratio,
                "reps": self.reps,
                "note": note,
            }
        )

    def target(self, key: str, ratio: float, what: str) -> None:
        """Record a ratio against its issue-7 target (no verdict on a quick run)."""
        if self.quick:  # other shapes than the targets name: a verdict would mean nothing
            return
        bound = TARGETS[key]
        met = "MET" if ratio <= bound else "NOT MET"
        line = f"{what}: {ratio:.3f} (target <= {bound:.3g}) {met}"
        self.verdicts.append(line)
        self.add("targets", key, "", "ratio", ratio, "x", note=f"target <= {bound:.3g}: {met}")

    def write(self, out_dir: Path, env: dict) -> Path:
        """Write the rows, with the provenance columns, to ``<device>-<dtype>-torch<v>.csv``."""
        dev = self.device.type
        version = torch.__version__.split("+")[0]
        path = out_dir / f"{dev}-{str(self.dtype).removeprefix('torch.')}-torch{version}.csv"
        out_dir.mkdir(parents=True, exist_ok=True)
        cols = [
            "section",
            "case",
            "candidate",
            "metric",
            "value",
            "unit",
            "baseline",
            "ratio",
            "reps",
            "note",
            *env,
        ]
        tmp = path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
            w.writeheader()
            for r in self.rows:
                w.writerow({**r, **env})
        os.replace(tmp, path)
        return path


def table(title: str, rows: list[tuple]) -> None:
    """Print an aligned table."""
    print(f"\n{title}")
    for r in rows:
        print("  " + "  ".join(f"{c:>14}" if i else f"{c:<28}" for i, c in enumerate(r)))


# ---- sections ----------------------------------------------------------------------------------


def section_layer(rep: Report, shape: tuple[int, ...], ts: tuple[int, ...], reps: int) -> None:
    """One LIF layer (and a ReLU) forward+backward: time and peak memory per candidate."""
    dev, dtype = rep.device, rep.dtype
    for t in ts:
        g0 = torch.Generator().manual_seed(0)
        x = (torch.randn((t, *shape), generator=g0, dtype=dtype) * 0.8 + 0.4).to(dev)
        x.requires_grad_()
        g = torch.randn((t, *shape), generator=g0, dtype=dtype).to(dev)
        fns = {"relu": layer_step(torch.relu, x, g)}
        for name, over in CANDIDATES.items():
            why = available(name)
            if why:
                print(f"  {name}: skipped ({why})")
                rep.add("layer", f"T={t}", name, "time", math.nan, "ms", note=f"skipped: {why}")
                continue
            fns[name] = layer_step(make_neuron(NeuronSpec(**over)).to(dev), x, g)
        times = interleaved_times(fns, reps, dev)
        med = {k: statistics.median(v) for k, v in times.items()}
        mem = {}
        for k, f in fns.items():
            x.grad = None
            mem[k] = peak_bytes(f, dev)
        x.grad = None
        base_t, base_m = med["native-fused"], mem["native-fused"]
        rows = [("candidate", "time ms", "x native", "peak MiB", "x native")]
        for k in fns:
            rows.append(
                (
                    k,
                    f"{1e3 * med[k]:.1f}",
                    f"{med[k] / base_t:.3f}",
                    f"{mem[k] / 2**20:.1f}",
                    f"{mem[k] / base_m:.3f}",
                )
            )
            rep.add(
                "layer", f"T={t}", k, "time", 1e3 * med[k], "ms", "native-fused", med[k] / base_t
            )
            rep.add(
                "layer",
                f"T={t}",
                k,
                "peak_memory",
                mem[k] / 2**20,
                "MiB",
                "native-fused",
                mem[k] / base_m,
            )
        table(f"LIF layer forward+backward, input {[t, *shape]} ({dtype}, median of {reps})", rows)
        if t == 8 and "native-loop" in med:
            rep.target(
                "fused_vs_loop_time",
                med["native-fused"] / med["native-loop"],
                "fused LIF time / reference loop time (T=8)",
            )
            rep.target(
                "fused_vs_relu_time",
                med["native-fused"] / med["relu"],
                "fused LIF time / ReLU time (T=8)",
            )
            rep.target(
                "fused_vs_loop_memory",
                mem["native-fused"] / mem["native-loop"],
                "fused LIF peak memory / reference loop peak memory (T=8)",
            )


def section_memory(rep: Report, shape: tuple[int, ...], ts: tuple[int, ...]) -> None:
    """Peak memory of the layer's forward+backward against T."""
    dev, dtype = rep.device, rep.dtype
    names = ["relu", *[n for n in CANDIDATES if not available(n)]]
    rows = [("candidate", *[f"T={t} MiB" for t in ts])]
    peaks: dict[str, list[float]] = {n: [] for n in names}
    for t in ts:
        g0 = torch.Generator().manual_seed(0)
        x = (torch.randn((t, *shape), generator=g0, dtype=dtype) * 0.8 + 0.4).to(dev)
        x.requires_grad_()
        g = torch.randn((t, *shape), generator=g0, dtype=dtype).to(dev)
        for n in names:
            layer = torch.relu if n == "relu" else make_neuron(NeuronSpec(**CANDIDATES[n])).to(dev)
            x.grad = None
            peak = peak_bytes(layer_step(layer, x, g), dev) / 2**20
            x.grad = None
            peaks[n].append(peak)
            rep.add("memory", f"T={t}", n, "peak_memory", peak, "MiB")
    for n in names:
        rows.append((n, *[f"{p:.1f}" for p in peaks[n]]))
    table(f"Peak memory of one LIF layer forward+backward against T, input [T, {shape}]", rows)


def section_micro(rep: Report, ts: tuple[int, ...], batch: int, reps: int) -> None:
    """The micro CNN's training step per backend: time and peak memory."""
    dev = rep.device
    names = [n for n in CANDIDATES if not available(n)]
    for t in ts:
        fns = {
            n: micro_step(NeuronSpec(**CANDIDATES[n]), "baseline", t, t, batch, dev) for n in names
        }
        times = interleaved_times(fns, reps, dev)
        med = {k: statistics.median(v) for k, v in times.items()}
        mem = {k: peak_bytes(f, dev) for k, f in fns.items()}
        rows = [("backend", "step ms", "x native", "peak MiB", "x native")]
        for k in fns:
            rows.append(
                (
                    k,
                    f"{1e3 * med[k]:.2f}",
                    f"{med[k] / med['native-fused']:.3f}",
                    f"{mem[k] / 2**20:.2f}",
                    f"{mem[k] / mem['native-fused']:.3f}",
                )
            )
            rep.add(
                "micro",
                f"T={t}",
                k,
                "time",
                1e3 * med[k],
                "ms",
                "native-fused",
                med[k] / med["native-fused"],
            )
            rep.add(
                "micro",
                f"T={t}",
                k,
                "peak_memory",
                mem[k] / 2**20,
                "MiB",
                "native-fused",
                mem[k] / mem["native-fused"],
            )
        table(f"micro_cnn training step (baseline, batch {batch}, T={t}, median of {reps})", rows)
        others = [med[n] for n in OTHER_BACKENDS if n in med]
        if others:
            rep.target(
                "micro_native_vs_fastest_other",
                med["native-fused"] / min(others),
                f"micro-net step, native / fastest other backend (T={t})",
            )


def section_tssd(rep: Report, batch: int, reps: int) -> None:
    """TSSD step (one pass, T_s=2, T_t=4) against the baseline step at T_s=2, per backend."""
    dev = rep.device
    names = [n for n in CANDIDATES if not available(n)]
    rows = [("backend", "baseline ms", "tssd ms", "tssd/baseline")]
    for n in names:
        spec = NeuronSpec(**CANDIDATES[n])
        fns = {
            "baseline": micro_step(spec, "baseline", 2, 2, batch, dev),
            "tssd": micro_step(spec, "tssd", 2, 4, batch, dev),
        }
        times = interleaved_times(fns, reps, dev)
        b, s = (statistics.median(times[k]) for k in ("baseline", "tssd"))
        rows.append((n, f"{1e3 * b:.2f}", f"{1e3 * s:.2f}", f"{s / b:.3f}"))
        rep.add("tssd", "T_s=2", n, "time", 1e3 * b, "ms", note="baseline step")
        rep.add(
            "tssd",
            "T_s=2,T_t=4",
            n,
            "time",
            1e3 * s,
            "ms",
            "baseline",
            s / b,
            note="tssd step, one pass, weak head",
        )
        if n == "native-fused":
            rep.target(
                "tssd_vs_baseline",
                s / b,
                "TSSD step (T_s=2, T_t=4, one pass) / baseline step (T_s=2), native",
            )
    table(f"TSSD step vs baseline step, micro_cnn, batch {batch} (median of {reps})", rows)


def section_compile(rep: Report, shape: tuple[int, ...], batch: int, reps: int) -> None:
    """torch.compile of the reference loop and of the micro-net step: cold and warm time."""
    # A fresh inductor cache, so the first call of each compiled function is a real cold compile
    # (the default on-disk cache would make a second run of this script look warm).
    cache = tempfile.mkdtemp(prefix="tssd-inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    try:
        _compile_cases(rep, shape, batch, reps)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _compile_cases(rep: Report, shape: tuple[int, ...], batch: int, reps: int) -> None:
    dev, dtype = rep.device, rep.dtype
    try:  # inductor needs a working C++ compiler on CPU: probe it once
        torch.compile(lambda a: a * 2 + 1)(torch.ones(4, device=dev))
    except Exception as exc:  # noqa: BLE001  (any compiler failure means the same: skip)
        note = f"skipped: torch.compile cannot compile on this machine ({type(exc).__name__})"
        print(f"\ntorch.compile section {note}")
        rep.add("compile", "", "", "cold_compile", math.nan, "s", note=note)
        return
    t = 8
    g0 = torch.Generator().manual_seed(0)
    x = (torch.randn((t, *shape), generator=g0, dtype=dtype) * 0.8 + 0.4).to(dev)
    x.requires_grad_()
    g = torch.randn((t, *shape), generator=g0, dtype=dtype).to(dev)
    spec = NeuronSpec()
    compiled_loop = torch.compile(lambda inp: lif_reference(inp, spec), dynamic=False)
    fused = make_neuron(spec).to(dev)
    runs = {
        "native-fused (eager)": layer_step(fused, x, g),
        "native-loop (compiled)": layer_step(compiled_loop, x, g),
    }
    t0 = time.perf_counter()
    runs["native-loop (compiled)"]()
    _sync(dev)
    cold = time.perf_counter() - t0
    times = interleaved_times(runs, reps, dev)
    med = {k: statistics.median(v) for k, v in times.items()}
    x.grad = None
    rows = [("LIF layer T=8", "time ms", "x fused eager", "cold s")]
    for k in runs:
        c = cold if "compiled" in k else 0.0
        rows.append(
            (k, f"{1e3 * med[k]:.1f}", f"{med[k] / med['native-fused (eager)']:.3f}", f"{c:.1f}")
        )
        rep.add(
            "compile",
            "layer T=8",
            k,
            "time",
            1e3 * med[k],
            "ms",
            "native-fused (eager)",
            med[k] / med["native-fused (eager)"],
        )
    rep.add("compile", "layer T=8", "native-loop (compiled)", "cold_compile", cold, "s")
    table("torch.compile: LIF layer forward+backward", rows)

    steps: dict[str, Callable[[], None]] = {}
    colds: dict[str, float] = {}
    for impl in ("fused", "loop"):
        for compiled in (False, True):
            name = f"native-{impl} ({'compiled' if compiled else 'eager'})"
            torch.manual_seed(0)
            model = build_model(
                "micro_cnn",
                num_classes=10,
                in_channels=1,
                input_size=8,
                neuron=NeuronSpec(native_impl=impl),
            ).to(dev)
            fwd = torch.compile(model, dynamic=False) if compiled else model
            opt = torch.optim.SGD(model.parameters(), lr=0.05)
            gen = torch.Generator().manual_seed(1)
            xb = encode_static(torch.rand(batch, 1, 8, 8, generator=gen).to(dev) * 2, 4)
            yb = torch.randint(0, 10, (batch,), generator=gen).to(dev)

            def step(fwd=fwd, opt=opt, xb=xb, yb=yb) -> None:
                loss = torch.nn.functional.cross_entropy(fwd(xb).logits.mean(0), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            if compiled:
                t0 = time.perf_counter()
                step()
                _sync(dev)
                colds[name] = time.perf_counter() - t0
            steps[name] = step
    times = interleaved_times(steps, reps, dev)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["native-fused (eager)"]
    rows = [("micro_cnn step T=4", "time ms", "x fused eager", "cold s")]
    for k in steps:
        rows.append((k, f"{1e3 * med[k]:.2f}", f"{med[k] / base:.3f}", f"{colds.get(k, 0.0):.1f}"))
        rep.add(
            "compile",
            f"micro T=4 batch {batch}",
            k,
            "time",
            1e3 * med[k],
            "ms",
            "native-fused (eager)",
            med[k] / base,
        )
        if k in colds:
            rep.add("compile", f"micro T=4 batch {batch}", k, "cold_compile", colds[k], "s")
    table("torch.compile: micro_cnn training step (first compiled call = cold compile)", rows)


def section_gpu(rep: Report, reps: int) -> None:
    """resnet19, CIFAR size, T=4, batch 128, bf16 autocast: images per second per backend."""
    dev = torch.device("cuda")
    rows = [("backend", "images/s", "x native")]
    ips: dict[str, float] = {}
    for n in CANDIDATES:
        if available(n):
            continue
        torch.manual_seed(0)
        model = build_model(
            "resnet19",
            num_classes=10,
            in_channels=3,
            input_size=32,
            neuron=NeuronSpec(**CANDIDATES[n]),
        ).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x = torch.randn(128, 3, 32, 32, device=dev)
        y = torch.randint(0, 10, (128,), device=dev)

        def step(model=model, opt=opt, x=x, y=y) -> None:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = torch.nn.functional.cross_entropy(
                    model(encode_static(x, 4)).logits.mean(0), y
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        times = interleaved_times({n: step}, reps, dev)[n]
        ips[n] = 128 / statistics.median(times)
        rep.add("gpu", "resnet19 T=4 b128 bf16", n, "throughput", ips[n], "images/s")
    for n, v in ips.items():
        rows.append((n, f"{v:.0f}", f"{v / ips['native-fused']:.3f}"))
    table("GPU: resnet19, CIFAR size, T=4, batch 128, bf16 autocast", rows)


# ---- main --------------------------------------------------------------------------------------

SECTIONS = ("layer", "memory", "micro", "tssd", "compile", "gpu")


def environment(device: torch.device, dtype: torch.dtype) -> dict:
    """Provenance columns repeated on every CSV row."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "device": device.type if device.type == "cpu" else torch.cuda.get_device_name(device),
        "dtype": str(dtype).removeprefix("torch."),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu,
        "spikingjelly": backend_version("spikingjelly"),
        "snntorch": backend_version("snntorch"),
        "memory_method": MEMORY_METHOD_CUDA if device.type == "cuda" else MEMORY_METHOD_CPU,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the selected sections, print the tables and the target verdicts, write the CSV."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small shapes and few rounds (a smoke run, not a measurement)",
    )
    ap.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    ap.add_argument(
        "--reps", type=int, default=0, help="rounds per comparison (default 7; 2 with --quick)"
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    args = ap.parse_args(argv)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {unknown}; allowed: {', '.join(SECTIONS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    reps = args.reps or (2 if args.quick else 7)
    shape = (4, 8, 16, 16) if args.quick else (32, 64, 32, 32)
    micro_reps = reps if args.quick else 4 * reps
    batch = 16 if args.quick else 64
    device, dtype = torch.device("cpu"), torch.float32
    env = environment(device, dtype)
    load = os.getloadavg()
    print(
        f"torch {env['torch']} | {env['cpu']} | {env['threads']} threads | {env['spikingjelly']}"
        f" | {env['snntorch']} | load average {load[0]:.2f}"
    )
    print(f"peak memory: {env['memory_method']}")
    rep = Report(device, dtype, reps, args.quick)
    t_start = time.perf_counter()
    if "layer" in chosen:
        section_layer(rep, shape, (4, 8), reps)
    if "memory" in chosen:
        section_memory(rep, shape, (4, 8, 16))
    if "micro" in chosen:
        section_micro(rep, (4, 8), batch, micro_reps)
    if "tssd" in chosen:
        section_tssd(rep, batch, micro_reps)
    if "compile" in chosen:
        section_compile(rep, shape, batch, reps)
    path = rep.write(args.out, env)
    if rep.verdicts:
        print("\nissue-7 targets (ratios measured in this run):")
        for v in rep.verdicts:
            print("  " + v)
    print(
        f"\nwrote {path} ({len(rep.rows)} rows) in {time.perf_counter() - t_start:.0f} s; "
        f"load average now {os.getloadavg()[0]:.2f}"
    )
    if "gpu" in chosen:
        if torch.cuda.is_available():
            gpu = Report(torch.device("cuda"), torch.bfloat16, reps)
            section_gpu(gpu, reps)
            print(f"wrote {gpu.write(args.out, environment(gpu.device, gpu.dtype))}")
        else:
            print("GPU section skipped: no CUDA device on this machine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
