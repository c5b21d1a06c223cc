"""The benchmark suite's plumbing: settings, the ``measure`` fixture, peak memory, the ratio report.

Run it with ``nox -s benchmark`` (or ``pytest benchmarks``; ``--bench-quick`` for small shapes and
two rounds, a smoke run rather than a measurement). Every test times one workload with
pytest-benchmark (``benchmark.pedantic``: one warm-up round, then a fixed number of timed rounds;
pytest-benchmark's table, ``--benchmark-json`` and ``--benchmark-compare`` work as usual) and
records its median and peak memory here. At the end of the session the ratios between
measurements of this run are printed, each against its target from the issues with MET or NOT MET,
and written to ``results/benchmarks/ratios-<device>-torch<version>.json``.

Written by hand, because pytest-benchmark does not do it:

* peak memory (:func:`peak_bytes`): pytest-benchmark measures time only;
* ratios between tests and targets on them (:func:`pytest_terminal_summary`): its table compares
  the tests of a group with the fastest one, without targets, and its ``--benchmark-compare``
  compares a test with itself in a saved run, not two tests of this run;
* cold compile time: measured by pytest-benchmark too (one round whose untimed setup empties
  every compile cache, :func:`fresh_compile_caches`), but the emptying is ours.

Not kept from the old scripts: running the candidates of a comparison interleaved, round by round.
pytest-benchmark runs each test's rounds back to back, so a load change between two tests shows in
their ratio: measure on an idle machine (``uptime``'s load average is printed in the header).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch

from tssd.runtime import forget_compiled, use_compile_cache

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "benchmarks"
MEMORY_METHOD_CPU = "torch.profiler allocator trace (peak 'Total Allocated' within the call)"
MEMORY_METHOD_CUDA = "torch.cuda.max_memory_allocated above the level before the call"
SECTIONS = {  # report section -> the test module that measures it
    "neurons": "test_neurons.py",
    "steps": "test_steps.py",
    "data": "test_data.py",
    "gpu": "test_gpu_bench.py",
    "runs": "test_runs.py",
    "eval": "test_runs.py",
}


# ---- what the report computes -------------------------------------------------------------------


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of two measurements of this run (a tuple of keys: the smallest
    of those measured), against ``op bound`` when the issue sets a target."""

    section: str
    label: str
    num: str | tuple[str, ...]
    den: str | tuple[str, ...]
    metric: str = "time"  # time | memory
    op: str = ""  # "<=" | ">=" | "" (no target: shown for information)
    bound: float = math.nan
    source: str = ""


@dataclass(frozen=True)
class Value:
    """One measurement in its own unit (ms, s, images/s), against a target if it has one."""

    section: str
    label: str
    key: str
    unit: str  # ms | s | MiB | images/s
    op: str = ""
    bound: float = math.nan
    source: str = ""


L8 = "layer T=8/"
RUN_KINDS = ("static baseline", "static tssd", "event baseline", "event tssd")
"""benchmarks/test_runs.py's kinds of small-profile run."""
RATIOS: list[Ratio] = [
    # issue 7: the fused LIF; issue 13 item 4: the compiled LIF (CPU, T = 8, [8, 32, 64, 32, 32])
    Ratio("neurons", "fused LIF / reference loop, time (T=8)", L8 + "native-fused",
          L8 + "native-loop", "time", "<=", 0.6, "issue 7"),
    Ratio("neurons", "fused LIF / ReLU, time (T=8)", L8 + "native-fused", L8 + "relu",
          "time", "<=", 2.5, "issue 7"),
    Ratio("neurons", "fused LIF / reference loop, peak memory (T=8)", L8 + "native-fused",
          L8 + "native-loop", "memory", "<=", 0.6, "issue 7"),
    Ratio("neurons", "compiled LIF / ReLU, time (T=8)", L8 + "native-compiled", L8 + "relu",
          "time", "<=", 1.5, "issue 13"),
    Ratio("neurons", "compiled LIF / reference loop, peak memory (T=8)", L8 + "native-compiled",
          L8 + "native-loop", "memory", "<=", 0.6, "issue 13"),
    Ratio("neurons", "compiled LIF / compiled ReLU, time (T=8)", L8 + "native-compiled",
          L8 + "relu-compiled"),
    Ratio("neurons", "compiled LIF / fused LIF, time (T=8)", L8 + "native-compiled",
          L8 + "native-fused"),
    Ratio("neurons", "compiled LIF / fused LIF, peak memory (T=8)", L8 + "native-compiled",
          L8 + "native-fused", "memory"),
    Ratio("neurons", "spikingjelly / fused LIF, time (T=8)", L8 + "spikingjelly",
          L8 + "native-fused"),
    Ratio("neurons", "snntorch / fused LIF, time (T=8)", L8 + "snntorch", L8 + "native-fused"),
    # the micro net per backend (issue 7 set <= 0.9x here; issue 19 moved the target to the small
    # step: the micro net is too small for the neuron to matter, the ratio measured noise)
    *[
        Ratio("steps", f"micro step T={t}: native / fastest other backend",
              f"micro T={t} baseline/native-fused",
              (f"micro T={t} baseline/spikingjelly", f"micro T={t} baseline/snntorch"))
        for t in (4, 8)
    ],
    # issue 19 item 4: the small profile's baseline step per backend, native eager and compiled,
    # on 1 thread as the harness's workers train (targets) and on 2 (shown)
    *[
        Ratio("steps", f"{net} baseline step: native {mode} / fastest other backend ({t})",
              f"{net} backends {t}/native-{'fused' if mode == 'eager' else 'compiled'}",
              (f"{net} backends {t}/spikingjelly", f"{net} backends {t}/snntorch"),
              "time", *(("<=", bound, "issue 19") if t == "1t" else ()))
        for net in ("small-static", "small-event")
        for t in ("1t", "2t")
        for mode, bound in (("eager", 0.9), ("compiled", 0.6))
    ],
    # ... and what compiling buys on 1 thread, the whole runs' setting (benchmarks/test_runs.py)
    *[
        Ratio("steps", f"{net} baseline step, 1 thread: eager / compiled (speed-up)",
              f"{net} backends 1t/native-fused", f"{net} backends 1t/native-compiled")
        for net in ("small-static", "small-event")
    ],
    # TSSD against baseline on the micro net (issue 7)
    Ratio("steps", "micro TSSD step (T_s=2, T_t=4) / baseline step (T_s=2), native",
          "micro tssd vs baseline/native-fused tssd",
          "micro tssd vs baseline/native-fused baseline", "time", "<=", 1.15 * 4 / 2, "issue 7"),
    # issue 13 item 4: warm speed-up of the compiled step (eager time / compiled time)
    Ratio("steps", "micro baseline step (T=4): eager / compiled (speed-up)",
          "micro baseline/eager", "micro baseline/compiled", "time", ">=", 1.3, "issue 13"),
    Ratio("steps", "micro TSSD step (T_s=4, T_t=8): eager / compiled (speed-up)",
          "micro tssd/eager", "micro tssd/compiled"),
    *[
        Ratio("steps", f"{net} {method} step: eager / compiled (speed-up)",
              f"{net} {method}/eager", f"{net} {method}/compiled", "time", ">=", 1.2, "issue 13")
        for net in ("small-static", "small-event")
        for method in ("baseline", "tssd")
    ],
    *[
        Ratio("steps", f"{net} baseline step: compiled / eager, peak memory",
              f"{net} baseline/compiled", f"{net} baseline/eager", "memory")
        for net in ("micro", "small-static", "small-event")
    ],
    # issue 19 items 1 and 3: whole small-profile runs (benchmarks/test_runs.py)
    *[
        Ratio("runs", f"whole small run, {kind}: compiled-warm / eager",
              f"run/{kind} compiled-warm", f"run/{kind} eager", "time", "<=", 0.6, "issue 19")
        for kind in RUN_KINDS
    ],
    *[
        Ratio("runs", f"two {kind} runs: 2 workers x 1 thread / 1 worker x 2 threads",
              f"table/{kind} 2 workers x 1 thread", f"table/{kind} 1 worker x 2 threads")
        for kind in RUN_KINDS
    ],
    # issue 22: Table 7's training-cost claim with its runs timed under the same conditions
    Ratio("runs", "Table 7: KD + its ANN teacher / TSSD, whole small runs in turn (1 thread)",
          "cost/kd with its ann teacher", "cost/tssd"),
    # issue 19 item 2: what a small run's evaluations cost, against one training epoch
    *[
        Ratio("eval", f"{kind}: one {part} pass / one training epoch", f"eval/{kind} {part}",
              f"eval/{kind} train epoch")
        for kind in RUN_KINDS
        for part in ("validation", "test", "neurobench")
    ],
    # benchmarks/data.py's comparisons
    Ratio("data", "cached sample load: uncompressed / compressed .npz",
          "data/load cached sample (uncompressed)", "data/load cached sample"),
    Ratio("data", "digits_dvs: load from cache / build", "data/digits_dvs cached",
          "data/digits_dvs build"),
    # the GPU section (no targets: the issues set them on CPU)
    *[
        Ratio("gpu", f"resnet19 step, {b}: eager / compiled (speed-up)",
              f"gpu resnet19/{b} eager", f"gpu resnet19/{b} compiled")
        for b in ("native", "spikingjelly", "snntorch")
    ],
    Ratio("gpu", "resnet19 eager step: native fused / fastest other backend",
          "gpu resnet19/native eager", ("gpu resnet19/spikingjelly eager",
                                        "gpu resnet19/snntorch eager")),
    Ratio("gpu", "LIF layer T=8: compiled / spikingjelly's GPU kernel, time",
          "gpu layer T=8/native-compiled", "gpu layer T=8/spikingjelly"),
    Ratio("gpu", "LIF layer T=8: compiled / spikingjelly's cupy backend, time",
          "gpu layer T=8/native-compiled", "gpu layer T=8/spikingjelly-cupy"),
    Ratio("gpu", "LIF layer T=8: compiled / ReLU, time", "gpu layer T=8/native-compiled",
          "gpu layer T=8/relu"),
    Ratio("gpu", "LIF layer T=8: fused / ReLU, time", "gpu layer T=8/native-fused",
          "gpu layer T=8/relu"),
]  # fmt: skip

VALUES: list[Value] = [
    # issue 19 item 4: a compile whose graphs the on-disk cache holds, plus the step it compiles
    *[
        Value("steps", f"warm compile: {net} {method} step", f"warm compile/{net} {method} step",
              "s", "<=", 15, "issue 19")
        for net in ("micro", "small-static", "small-event")
        for method in ("baseline", "tssd")
    ],
    *[
        Value("runs", f"whole small run, {kind}, {mode} (1 thread)", f"run/{kind} {mode}", "s")
        for kind in RUN_KINDS
        for mode in ("eager", "compiled-warm")
    ],
    *[
        Value("runs", f"Table 7's runs (1 thread): {what}", f"cost/{what}", "s")
        for what in ("kd with its ann teacher", "tssd")
    ],
    *[
        Value("eval", f"{kind}: {part} (1 thread)", f"eval/{kind} {part}", "s")
        for kind in RUN_KINDS
        for part in ("train epoch", "validation", "test", "neurobench")
    ],
    Value("data", "integrate 200k events into 10 frames at 128x128, resize to 48x48",
          "data/integrate+resize", "ms", "<=", 50, "issue 4"),
    Value("data", "load one cached sample (.npz, T=10, 128x128 -> 48x48)",
          "data/load cached sample", "ms", "<=", 5, "issue 4"),
    *[
        Value("gpu", f"resnet19 (CIFAR, T=4, bf16), {b}", f"gpu resnet19/{b}", "images/s")
        for b in ("native eager", "native compiled", "spikingjelly eager",
                  "spikingjelly compiled", "snntorch eager", "snntorch compiled")
    ],
]  # fmt: skip
"""Single measurements the report shows; every ``cold compile/...`` measurement is shown too."""


# ---- settings -----------------------------------------------------------------------------------

ROUNDS = {"layer": 7, "micro": 15, "small": 7, "data": 30, "gpu": 10}
"""Timed rounds per workload kind (after one warm-up round); ``--bench-quick``: 2 each."""


@dataclass(frozen=True)
class Settings:
    """What ``--bench-quick`` and the other options of the suite set."""

    quick: bool
    rounds_override: int
    layer_sample: tuple[int, ...]  # one LIF layer's input is [T, *layer_sample]
    layer_ts: tuple[int, ...]  # the T of the layer tests (peak memory per T)
    micro_batch: int
    small_batch: int
    gpu_batch: int
    gpu_layer_sample: tuple[int, ...]

    def rounds(self, kind: str) -> int:
        """Timed rounds of a workload kind."""
        if self.rounds_override:
            return self.rounds_override
        return 2 if self.quick else ROUNDS[kind]


def pytest_addoption(parser: pytest.Parser) -> None:  # noqa: D103
    group = parser.getgroup("tssd-bench", "TSSD benchmark suite")
    group.addoption(
        "--bench-quick",
        action="store_true",
        help="small shapes and 2 rounds: a smoke run of the suite, not a measurement",
    )
    group.addoption(
        "--bench-rounds",
        type=int,
        default=0,
        help=f"timed rounds of every benchmark (default {ROUNDS}; quick: 2)",
    )
    group.addoption(
        "--bench-ratios",
        default="",
        help="the ratio report's JSON (default results/benchmarks/ratios-<device>-torch<v>.json;"
        " quick runs end in -quick.json)",
    )
    group.addoption("--bench-threads", type=int, default=0, help="torch threads (default torch's)")


def _settings(config: pytest.Config) -> Settings:
    quick = bool(config.getoption("bench_quick"))
    return Settings(
        quick=quick,
        rounds_override=int(config.getoption("bench_rounds")),
        layer_sample=(4, 8, 16, 16) if quick else (32, 64, 32, 32),
        layer_ts=(8,) if quick else (4, 8, 16),
        micro_batch=16 if quick else 64,
        small_batch=8 if quick else 64,
        gpu_batch=16 if quick else 128,
        gpu_layer_sample=(4, 8, 16, 16) if quick else (32, 64, 32, 32),
    )


# ---- what a session records ---------------------------------------------------------------------


@dataclass
class Measurement:
    """One test's result: median seconds per call (None when timing is disabled), peak bytes."""

    median_s: float | None
    peak_bytes: int | None = None
    rounds: int = 0
    items: int = 0  # images per call, for images/s
    device: str = "cpu"
    note: str = ""


@dataclass
class Record:
    """Everything the session measured, by key ``<group>/<name>``."""

    settings: Settings
    path: Path
    measurements: dict[str, Measurement] = field(default_factory=dict)
    collected: set[str] = field(default_factory=set)  # sections whose tests were collected
    cache_root: str = ""


RECORD = pytest.StashKey[Record]()


def _device_label() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _version() -> str:
    return torch.__version__.split("+")[0]


def pytest_configure(config: pytest.Config) -> None:  # noqa: D103
    # inductor's own use of a deprecated torch.jit decorator, once per compile: not ours to fix
    config.addinivalue_line(
        "filterwarnings", "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"
    )
    settings = _settings(config)
    if config.getoption("bench_threads"):
        torch.set_num_threads(int(config.getoption("bench_threads")))
    explicit = config.getoption("bench_ratios")
    quick = "-quick" if settings.quick else ""
    path = (
        Path(explicit)
        if explicit
        else RESULTS / f"ratios-{_device_label()}-torch{_version()}{quick}.json"
    )
    # A fresh inductor cache for the session: nothing compiled by an earlier run is reused, so
    # the first compile of each graph here is a real one (the cold-compile tests empty it again).
    cache_root = tempfile.mkdtemp(prefix="tssd-bench-inductor-")
    use_compile_cache(os.path.join(cache_root, "session"))  # as the harness's runs do
    config.stash[RECORD] = Record(settings, path, cache_root=cache_root)


def pytest_unconfigure(config: pytest.Config) -> None:  # noqa: D103
    record = config.stash.get(RECORD, None)
    if record is not None and record.cache_root:
        shutil.rmtree(record.cache_root, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:  # noqa: D103
    record = config.stash[RECORD]
    for item in items:
        for section, module in SECTIONS.items():
            if item.path.name == module:
                record.collected.add(section)


def pytest_report_header(config: pytest.Config) -> list[str]:  # noqa: D103
    s = config.stash[RECORD].settings
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    mode = "quick (small shapes, 2 rounds: not a measurement)" if s.quick else "full"
    return [
        f"tssd benchmarks: {mode}; torch {torch.__version__}, {torch.get_num_threads()} threads,"
        f" {_cpu_name()}; load average {load:.2f}"
    ]


# ---- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest) -> Settings:
    """The suite's settings (``--bench-quick`` and friends)."""
    return request.config.stash[RECORD].settings


@pytest.fixture
def fresh_dynamo() -> Iterator[None]:
    """Forget every compiled graph before and after the test, so a test compiles its own (dynamo's
    recompile limit then never silently sends a test's function back to eager)."""
    torch.compiler.reset()
    yield
    torch.compiler.reset()


def fresh_compile_caches(cache_root: str) -> None:
    """Empty every compile cache: dynamo's, inductor's in-memory ones, and a new on-disk cache
    directory (kept as the session's, so the warm test after a cold one finds its kernels)."""
    forget_compiled()
    use_compile_cache(tempfile.mkdtemp(prefix="cold-", dir=cache_root))


@pytest.fixture
def cold_compile(request: pytest.FixtureRequest) -> Callable[[], None]:
    """:func:`fresh_compile_caches` for this session's cache root (a pedantic setup)."""
    root = request.config.stash[RECORD].cache_root
    return lambda: fresh_compile_caches(root)


@pytest.fixture
def measure(benchmark, request: pytest.FixtureRequest):
    """``measure(group, name, fn, kind=..., ...)``: time ``fn`` with pytest-benchmark and record
    its median and peak memory under ``<group>/<name>`` for the ratio report.

    ``benchmark.pedantic`` with one warm-up round (compiles a compiled ``fn``; allocates an
    optimizer's state) and ``settings.rounds(kind)`` timed rounds; the median is recorded. Peak
    memory (:func:`peak_bytes`) is measured after the timing, over one more call, unless
    ``memory=False``. ``setup`` (untimed, before each round) may return ``(args, kwargs)`` for
    ``fn``, as pytest-benchmark's own setup does; ``warmup=0, rounds=1`` with a setup that empties
    the compile caches times a cold compile.
    """
    record: Record = request.config.stash[RECORD]

    def run(
        group: str,
        name: str,
        fn: Callable,
        *,
        kind: str,
        device: torch.device | None = None,
        memory: bool = True,
        setup: Callable | None = None,
        rounds: int = 0,
        warmup: int = 1,
        items: int = 0,
        note: str = "",
    ) -> Measurement:
        device = device or torch.device("cpu")
        rounds = rounds or record.settings.rounds(kind)

        def timed(*args, **kwargs):
            fn(*args, **kwargs)
            _sync(device)  # a CUDA call returns before its kernels finish

        benchmark.group = group
        benchmark.extra_info.update({"key": f"{group}/{name}", "device": str(device)})
        if note:
            benchmark.extra_info["note"] = note
        benchmark.pedantic(timed, setup=setup, rounds=rounds, warmup_rounds=warmup)
        stats = benchmark.stats.stats if benchmark.stats else None  # None: --benchmark-disable
        m = Measurement(
            stats.median if stats else None,
            rounds=rounds if stats else 0,
            items=items,
            device=str(device),
            note=note,
        )
        if memory and stats:
            m.peak_bytes = peak_bytes(fn, device)
            benchmark.extra_info["peak_mib"] = m.peak_bytes / 2**20
        if items and stats:
            benchmark.extra_info["items_per_s"] = items / stats.median
        record.measurements[f"{group}/{name}"] = m
        _write(record, complete=False)  # a run killed later keeps what it measured
        return m

    return run


@pytest.fixture
def record_median(request: pytest.FixtureRequest) -> Callable[[str, str, list[float]], None]:
    """``record_median(group, name, seconds)``: record the median of times a test took itself
    (when several workloads take turns within one measured round) under ``<group>/<name>``; no
    times (timing disabled) record it as not timed."""
    record: Record = request.config.stash[RECORD]

    def run(group: str, name: str, seconds: list[float]) -> None:
        median = statistics.median(seconds) if seconds else None
        record.measurements[f"{group}/{name}"] = Measurement(
            median, rounds=len(seconds), note="taking turns"
        )
        _write(record, complete=False)

    return run


# ---- peak memory --------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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

    On CPU: ``torch.profiler`` with ``profile_memory=True`` records every allocation and free of
    torch's CPU allocator with the block's address; the peak is the largest sum of the blocks
    allocated within the call and not yet freed, at any moment of it. The input, allocated
    before, is excluded; every byte the call allocates, kept or temporary, is included; a block
    allocated before the call and freed inside it (an old ``.grad``) counts for nothing.
    ``ru_maxrss`` cannot serve: it only grows within a process. The profiler's own running total
    (``Total Allocated``) cannot either: it carries over between windows, so a block allocated in
    an earlier window and freed in this one (an earlier test's gradient, collected late) lowered
    it. It gave the reference loop 184 MiB at T = 8 in the suite and 248 MiB, the sum of its live
    blocks, alone; the fused LIF 81 and 145 MiB (tests/test_benchmark_suite.py).
    On CUDA: ``torch.cuda.max_memory_allocated`` above the level before the call.
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
    live: dict[int, int] = {}  # address -> bytes of the blocks this call allocated, still held
    held = peak = 0
    for e in mem:
        size, addr = e["args"]["Bytes"], e["args"]["Addr"]
        if size > 0:
            live[addr] = size
            held += size
            peak = max(peak, held)
        elif addr in live:
            held -= live.pop(addr)
    return peak


# ---- the report ---------------------------------------------------------------------------------


def _pick(keys: str | tuple[str, ...], found: dict[str, Measurement], metric: str):
    """(key, value) of the smallest measured of ``keys`` for ``metric``, or (None, why not)."""
    keys = (keys,) if isinstance(keys, str) else keys
    vals = []
    for k in keys:
        m = found.get(k)
        v = None if m is None else (m.median_s if metric == "time" else m.peak_bytes)
        if v:
            vals.append((v, k))
    if not vals:
        if any(k in found for k in keys):
            return None, "not timed (--benchmark-disable): " + " | ".join(keys)
        return None, "not measured: " + " | ".join(keys)
    v, k = min(vals)
    return k, v


def _verdict(value: float, op: str, bound: float) -> str:
    if not op:
        return ""
    ok = value <= bound if op == "<=" else value >= bound
    return "MET" if ok else "NOT MET"


def compute(record: Record) -> dict:
    """The report: every ratio and value of the collected sections, with verdicts."""
    found = record.measurements
    ratios, values = [], []
    for r in RATIOS:
        if r.section not in record.collected:
            continue
        target = f"{r.op} {r.bound:g}" if r.op else ""
        row = {"section": r.section, "label": r.label, "metric": r.metric, "target": target,
               "source": r.source, "value": None, "verdict": "n/a"}  # fmt: skip
        nk, nv = _pick(r.num, found, r.metric)
        dk, dv = _pick(r.den, found, r.metric)
        if nk is None or dk is None:
            row["why"] = nv if nk is None else dv
        else:
            row.update(value=nv / dv, numerator=nk, denominator=dk)
            row["verdict"] = _verdict(row["value"], r.op, r.bound) or "no target"
        ratios.append(row)
    shown = [(v.section, v.label, v.key, v.unit, v.op, v.bound, v.source) for v in VALUES]
    shown += [
        (
            "steps" if "step" in k else "neurons",
            "cold compile: " + k.split("/", 1)[1],
            k,
            "s",
            "",
            math.nan,
            "",
        )
        for k in found
        if k.startswith("cold compile/")
    ]
    for section, label, key, unit, op, bound, source in shown:
        if section not in record.collected:
            continue
        m = found.get(key)
        row = {"section": section, "label": label, "unit": unit, "value": None, "verdict": "n/a",
               "target": f"{op} {bound:g} {unit}" if op else "", "source": source}  # fmt: skip
        if m is None or m.median_s is None:
            row["why"] = f"not {'measured' if m is None else 'timed'}: {key}"
        else:
            scale = {"ms": 1e3, "s": 1.0}
            if unit == "images/s":
                row["value"] = m.items / m.median_s
            else:
                row["value"] = m.median_s * scale[unit]
            row["verdict"] = _verdict(row["value"], op, bound) or "no target"
        values.append(row)
    memory = {
        k: m.peak_bytes / 2**20
        for k, m in found.items()
        if k.startswith("layer T=") and m.peak_bytes is not None
    }
    return {"ratios": ratios, "values": values, "layer_peak_mib": memory}


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _meta(record: Record) -> dict:
    s = record.settings
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    backends = {}
    for name in ("spikingjelly", "snntorch"):
        from tssd.neurons.registry import backend_version

        backends[name] = backend_version(name)
    return {
        "device": _device_label(),
        "gpu": gpu,
        "cpu": _cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        **backends,
        "quick": s.quick,
        "settings": asdict(s),
        "memory_method": MEMORY_METHOD_CPU,
        "memory_method_cuda": MEMORY_METHOD_CUDA,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _write(record: Record, complete: bool, report: dict | None = None) -> None:
    data = {
        "complete": complete,
        **_meta(record),
        **(report or compute(record)),
        "measurements": {k: asdict(m) for k, m in record.measurements.items()},
    }
    record.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.path.with_name(record.path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    os.replace(tmp, record.path)


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    """Print every ratio and value with its target and verdict; write them as JSON."""
    record = config.stash.get(RECORD, None)
    if record is None or not record.collected or config.option.collectonly:
        return  # nothing ran: a listing must not overwrite a measured run's ratios
    report = compute(record)
    tr = terminalreporter
    s = record.settings
    mode = "QUICK: small shapes, 2 rounds; verdicts do not judge the targets" if s.quick else "full"
    tr.write_sep("=", "TSSD benchmark: ratios measured in this run")
    tr.write_line(
        f"{_device_label()} | torch {torch.__version__} | {torch.get_num_threads()} threads | "
        f"{_cpu_name()} | {mode}"
    )
    for section in SECTIONS:
        if section not in record.collected:
            continue
        rows = [r for r in report["ratios"] + report["values"] if r["section"] == section]
        if all(r["value"] is None and r["why"].startswith("not measured") for r in rows):
            tr.write_line(f"{section}: nothing measured (its tests were skipped or deselected)")
            continue
        tr.write_line(f"{section}:")
        for r in rows:
            if r["value"] is None:
                text = f"n/a ({r['why']})"
            else:
                unit = f" {r['unit']}" if "unit" in r else "x"
                text = f"{_fmt(r['value'])}{unit}"
                if r["target"]:
                    text += f"  (target {r['target']}{'' if 'unit' in r else 'x'}, "
                    text += f"{r['source']})  {r['verdict']}"
            tr.write_line(f"  {r['label']:<66} {text}")
    notes = sorted({m.note for m in record.measurements.values() if m.note})
    for n in notes:
        tr.write_line(f"note: {n}")
    mem = report["layer_peak_mib"]
    if mem:
        ts = sorted({int(k.split("/")[0].removeprefix("layer T=")) for k in mem})
        names = list(dict.fromkeys(k.split("/", 1)[1] for k in mem))
        tr.write_line(
            f"peak memory of one layer's forward+backward, MiB, input [T, "
            f"{', '.join(map(str, s.layer_sample))}]:"
        )
        tr.write_line(f"  {'':<18}" + "".join(f"{f'T={t}':>10}" for t in ts))
        for n in names:
            cells = [mem.get(f"layer T={t}/{n}") for t in ts]
            tr.write_line(
                f"  {n:<18}" + "".join(f"{'-' if c is None else f'{c:.1f}':>10}" for c in cells)
            )
    _write(record, complete=True, report=report)
    tr.write_line(f"wrote {record.path}")
