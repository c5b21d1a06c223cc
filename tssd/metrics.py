"""NeuroBench metrics of a deployed network: the field's own measure of what inference costs.

:func:`measure` runs NeuroBench 2.3.0's own ``Benchmark`` on the exported network
(``inference.pt``), in eval mode, without gradients, after training: measuring never touches a
trained weight or the training's random state. NeuroBench reports a failed metric as ``None`` or
``0.0`` instead of raising; :func:`measure` turns any such failure into :class:`NeuroBenchError`
naming the metric and the run.

What is measured: README, "NeuroBench metrics"; how NeuroBench is driven: docs/metrics.md.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

PINNED = "2.3.0"
"""The NeuroBench version the suite is tested with (``pip install --no-deps neurobench==2.3.0``)."""
SUMMARY_KEY = "neurobench"
"""The key of ``summary.json`` that holds :func:`measure`'s result."""
PJ_PER_AC = 0.9
PJ_PER_MAC = 4.6
ENERGY_SOURCE = (
    "Horowitz, ISSCC 2014, 45 nm: 0.9 pJ per AC (32-bit float add), "
    "4.6 pJ per MAC (32-bit float multiply 3.7 pJ + add 0.9 pJ)"
)
STATIC = ("ParameterCount", "Footprint", "ConnectionSparsity")
WORKLOAD = (
    "ActivationSparsity",
    "ActivationSparsityByLayer",
    "SynapticOperations",
    "SynapticOperationsByLayer",
    "ClassificationAccuracy",
)
SYNOPS_KEYS = ("Dense", "Effective_MACs", "Effective_ACs")
LEFT_OUT = {
    "MembraneUpdates": (
        "reads the membrane potential an snntorch neuron keeps in `layer.mem` before and after "
        "each single-step call; the suite's neurons run the whole sequence in one call and keep "
        "no membrane attribute (the fused kernel never materialises it), so it counts 0"
    ),
    "NeuronOperations": (
        "looks the neuron's class name up in a table of snntorch neurons (Leaky, Synaptic, "
        "Lapicque, Alpha) and reads `_reset_mechanism` and the per-step membranes; it fails on "
        "the suite's neurons ('NativeLIF' object has no attribute '_reset_mechanism')"
    ),
}
"""NeuroBench metrics that are not measured, and why (written once, here and in the README)."""
INSTALL = (
    "pip install -c constraints/cpu.txt snntorch==1.0.0 numpy tqdm && "
    "pip install --no-deps neurobench==2.3.0 (nox -s tests does both)"
)

_FAILED = re.compile(r"Error running (?:workload )?metric '([^']+)': (.*)")


class NeuroBenchUnavailable(RuntimeError):
    """``neurobench`` (or what its metrics import) is not installed; the message says how."""


class NeuroBenchError(RuntimeError):
    """A NeuroBench metric failed (NeuroBench itself only prints it); names the metric and run."""


def load_neurobench():
    """The ``neurobench`` module.

    Raises:
        NeuroBenchUnavailable: one line naming what is missing and how to install it.
    """
    try:
        import neurobench
        from neurobench.benchmarks import Benchmark  # noqa: F401  (imports snntorch, tqdm)
    except ImportError as exc:
        raise NeuroBenchUnavailable(
            f"neurobench is not installed ({exc}); install it with: {INSTALL}"
        ) from None
    return neurobench


def available() -> bool:
    """Whether :func:`measure` can run here."""
    try:
        load_neurobench()
    except NeuroBenchUnavailable:
        return False
    return True


class FirstSamples:
    """The first ``n`` samples of a split in its fixed order, batched, as NeuroBench's loop reads
    a DataLoader (``len(loader)``, ``len(loader.dataset)``, iteration over ``(x, y)``); event
    samples are framed into ``timesteps`` frames (``[B, T, C, H, W]``, what the deployed network
    takes)."""

    def __init__(self, split, n: int, batch_size: int, timesteps: int, device="cpu"):
        self.split, self.batch_size, self.timesteps = split, batch_size, timesteps
        self.device = torch.device(device)
        self.n = len(split) if n <= 0 else min(n, len(split))
        self.dataset = range(self.n)  # NeuroBench reads only its length

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from tssd.data import iterate_batches

        left = self.n
        for x, y in iterate_batches(self.split, self.batch_size, pad=False):
            if left <= 0:
                return
            x = x[self.timesteps] if isinstance(x, dict) else x
            yield x[:left].to(self.device), y[:left].to(self.device)
            left -= len(y)


def _by_layer_synops(names: dict[int, str]):
    """A NeuroBench workload metric: effective synaptic operations per connection layer and
    inference, counted by NeuroBench's own ``single_layer_MACs`` (so they add up to its
    SynapticOperations' Effective_ACs + Effective_MACs, which :func:`measure` checks)."""
    from neurobench.metrics.abstract import AccumulatedMetric
    from neurobench.metrics.utils.layers import single_layer_MACs

    class SynapticOperationsByLayer(AccumulatedMetric):
        def __init__(self) -> None:
            super().__init__(requires_hooks=True)
            self.reset()

        def reset(self) -> None:
            self.ops: dict[str, int] = defaultdict(int)
            self.samples = 0

        def __call__(self, model, preds, data):
            for hook in model.connection_hooks:
                name = names[id(hook.layer)]
                for inputs in hook.inputs:
                    x = inputs[0] if len(inputs) == 1 else inputs
                    # The binary copy NeuroBench runs is a deep copy of the layer, hooks included:
                    # detach ours meanwhile, as its SynapticOperations does.
                    hook.hook.remove()
                    try:
                        ops, _ = single_layer_MACs(x, hook.layer)
                    finally:
                        hook.register_hook()
                    self.ops[name] += ops
            self.samples += data[0].size(0)
            return self.compute()

        def compute(self) -> dict[str, float]:
            return {k: v / self.samples for k, v in self.ops.items()} if self.samples else {}

    return SynapticOperationsByLayer


def _fail(where: str, metric: str, why: str) -> NeuroBenchError:
    return NeuroBenchError(f"{where}: NeuroBench metric {metric} failed: {why}")


@torch.no_grad()
def measure(
    model,
    loader: FirstSamples,
    *,
    where: str,
    pj_per_ac: float = PJ_PER_AC,
    pj_per_mac: float = PJ_PER_MAC,
    test_size: int | None = None,
) -> dict[str, Any]:
    """NeuroBench's metrics of the deployed network ``model`` (an
    :class:`tssd.export.InferenceModel`) on ``loader``'s samples.

    Args:
        model: the deployed network; put in eval mode, its parameters frozen.
        loader: the samples measured (:class:`FirstSamples`).
        where: the run (its directory), named by every error.
        pj_per_ac: energy of one accumulate (pJ).
        pj_per_mac: energy of one multiply-accumulate (pJ).
        test_size: the size of the split the samples come from (recorded).

    Returns:
        The ``summary.json`` entry: ``metrics`` (NeuroBench's names and values), ``by_layer``,
        ``energy_pj`` per inference and what was measured how; every key: docs/metrics.md.

    Raises:
        NeuroBenchUnavailable: neurobench is not installed.
        NeuroBenchError: a metric failed (NeuroBench printed it and reported 0 or None), or
            returned what cannot be (no spiking layer hooked, synaptic operations that do not
            add up); the message names the metric and ``where``.
    """
    nb = load_neurobench()
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics import static as nb_static
    from neurobench.metrics import workload as nb_workload
    from neurobench.models import TorchModel

    from tssd.neurons import SpikingNeuron

    model.eval().requires_grad_(False)
    net = model.net
    spiking = {id(m): n for n, m in net.named_modules() if isinstance(m, SpikingNeuron)}
    connections = {
        id(m): n for n, m in net.named_modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)
    }
    wrapped = TorchModel(model)
    wrapped.add_activation_module(SpikingNeuron)
    workload = [
        # ActivationSparsity first: ActivationSparsityByLayer's __init__ skips its base class's,
        # so asking it whether it needs hooks fails; NeuroBench's any() stops before it.
        nb_workload.ActivationSparsity,
        nb_workload.ActivationSparsityByLayer,
        nb_workload.SynapticOperations,
        _by_layer_synops(connections),
        nb_workload.ClassificationAccuracy,
    ]
    static = [getattr(nb_static, m) for m in STATIC]
    out, err = io.StringIO(), io.StringIO()
    t0 = time.time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        bench = Benchmark(wrapped, loader, [], [lambda p: p.argmax(-1)], [static, workload])
        # NeuroBench names a hook by the layer's attribute name ('1' for every LIF of a
        # conv-BN-LIF block), which would merge layers: name each by its path in the network.
        for hook in wrapped.activation_hooks:
            hook.name = spiking.get(id(hook.layer), hook.name)
        hooked = sum(id(h.layer) in spiking for h in wrapped.activation_hooks)
        results = bench.run(quiet=False)
    wall = time.time() - t0
    for line in out.getvalue().splitlines():
        m = _FAILED.search(line)
        if m:
            raise _fail(where, m.group(1), f"{m.group(2)} (NeuroBench reports it as 0 or None)")
    if hooked != len(spiking):
        raise _fail(
            where,
            "ActivationSparsity",
            f"NeuroBench hooked {hooked} of the network's {len(spiking)} spiking layers",
        )
    for name in (*STATIC, *WORKLOAD):
        if results.get(name) is None:
            raise _fail(where, name, "no value (NeuroBench reports it as None)")
    synops = results["SynapticOperations"]
    if not isinstance(synops, dict) or set(synops) != set(SYNOPS_KEYS):
        raise _fail(where, "SynapticOperations", f"got {synops!r}, expected {SYNOPS_KEYS}")
    for name, value in (
        ("ParameterCount", results["ParameterCount"]),
        ("Footprint", results["Footprint"]),
        ("SynapticOperations", synops["Dense"]),
    ):
        if not value > 0:  # a network has parameters, bytes and connections
            raise _fail(where, name, f"got {value!r}, expected a positive count")
    sparsity = results["ActivationSparsityByLayer"]
    if set(sparsity) != set(spiking.values()):
        raise _fail(
            where,
            "ActivationSparsityByLayer",
            f"layers {sorted(sparsity)}, expected {sorted(spiking.values())}",
        )
    by_layer = results["SynapticOperationsByLayer"]
    effective = synops["Effective_ACs"] + synops["Effective_MACs"]
    # both are sums of the same integer counts divided by the same sample count: equal up to the
    # rounding of that division and of one addition
    if not math.isclose(sum(by_layer.values()), effective, rel_tol=1e-9):
        raise _fail(
            where,
            "SynapticOperationsByLayer",
            f"layers add up to {sum(by_layer.values())}, SynapticOperations says {effective}",
        )
    metrics = {name: results[name] for name in (*STATIC, *WORKLOAD) if "ByLayer" not in name}
    metrics["SynapticOperations"] = {k: float(synops[k]) for k in SYNOPS_KEYS}
    return {
        "version": nb.__version__,
        "timesteps": model.timesteps,
        "samples": loader.n,
        "test_size": loader.n if test_size is None else test_size,
        "metrics": metrics,
        # [layer, value] pairs in forward order: records store JSON with sorted keys, and a
        # figure's x axis runs from input to output
        "by_layer": {
            "ActivationSparsity": [[n, float(sparsity[n])] for n in spiking.values()],
            "EffectiveSynOps": [[n, float(by_layer.get(n, 0.0))] for n in connections.values()],
        },
        "energy_pj": synops["Effective_ACs"] * pj_per_ac + synops["Effective_MACs"] * pj_per_mac,
        "pj_per_ac": pj_per_ac,
        "pj_per_mac": pj_per_mac,
        "energy_source": ENERGY_SOURCE,
        "wall_s": wall,
    }


def measure_run(
    run_dir: str | Path,
    *,
    samples: int | None = None,
    pj_per_ac: float | None = None,
    pj_per_mac: float | None = None,
    batch_size: int | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """:func:`measure` a finished run's ``inference.pt`` on its own test split; settings not
    given come from the run's ``config.yaml`` (``eval.neurobench_samples``,
    ``eval.energy_pj_per_ac``, ``eval.energy_pj_per_mac``, ``data.test_batch_size``).

    Raises:
        ConfigError: not a finished run directory (naming the missing file).
        NeuroBenchUnavailable, NeuroBenchError: as :func:`measure`.
    """
    from tssd.config import load_config
    from tssd.data import build_dataset
    from tssd.errors import ConfigError
    from tssd.export import load_inference
    from tssd.rundir import CONFIG, INFERENCE

    run_dir = Path(run_dir)
    for name in (CONFIG, INFERENCE):
        if not (run_dir / name).is_file():
            raise ConfigError(f"{run_dir / name}: not found (expected a finished run directory)")
    load_neurobench()  # before the data: a missing neurobench is one line, at once
    cfg = load_config(str(run_dir / CONFIG))
    try:
        model = load_inference(run_dir / INFERENCE, map_location=device)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    test = build_dataset(cfg.data, (model.timesteps,)).test
    ev = cfg.eval
    loader = FirstSamples(
        test,
        ev.neurobench_samples if samples is None else samples,
        batch_size or cfg.data.test_batch_size,
        model.timesteps,
        device,
    )
    return measure(
        model,
        loader,
        where=str(run_dir),
        pj_per_ac=ev.energy_pj_per_ac if pj_per_ac is None else pj_per_ac,
        pj_per_mac=ev.energy_pj_per_mac if pj_per_mac is None else pj_per_mac,
        test_size=len(test),
    )


def write_to_summary(run_dir: str | Path, result: dict[str, Any]) -> None:
    """Put ``result`` into the finished run's ``summary.json`` (rewritten atomically).

    Raises:
        ConfigError: the run has not finished (naming its summary).
    """
    import dataclasses

    from tssd.errors import ConfigError
    from tssd.rundir import RunDir

    d = RunDir(run_dir)
    summary = d.read_summary()
    if summary is None or summary.status != "finished" or summary.metrics is None:
        status = summary.status if summary is not None else "never started"
        raise ConfigError(f"{d.file('summary.json')}: the run is {status}, expected finished")
    summary.metrics = dataclasses.replace(summary.metrics, neurobench=result)
    d.write_summary(summary)


def format_table(run_dir: str | Path, result: dict[str, Any]) -> str:
    """The human-readable table :func:`measure`'s result prints as (``python -m tssd metrics``)."""
    m = result["metrics"]
    syn = m["SynapticOperations"]
    rows = [
        ("ParameterCount", f"{m['ParameterCount']:,}"),
        ("Footprint (bytes)", f"{m['Footprint']:,}"),
        ("ConnectionSparsity", f"{m['ConnectionSparsity']:.4f}"),
        ("ActivationSparsity", f"{m['ActivationSparsity']:.4f}"),
        ("SynapticOperations Dense", f"{syn['Dense']:,.0f}"),
        ("SynapticOperations Effective_MACs", f"{syn['Effective_MACs']:,.1f}"),
        ("SynapticOperations Effective_ACs", f"{syn['Effective_ACs']:,.1f}"),
        ("ClassificationAccuracy", f"{100 * m['ClassificationAccuracy']:.2f} %"),
        ("energy / inference", f"{result['energy_pj'] / 1e6:.4f} uJ"),
    ]
    width = max(len(k) for k, _ in rows)
    head = (
        f"{run_dir}: NeuroBench {result['version']}, T={result['timesteps']}, first "
        f"{result['samples']} of {result['test_size']} test samples, {result['wall_s']:.1f} s"
    )
    lines = [head, *(f"  {k:<{width}}  {v:>16}" for k, v in rows)]
    lines.append(
        f"  energy: {result['pj_per_ac']} pJ/AC, {result['pj_per_mac']} pJ/MAC "
        f"({result['energy_source'].split(':')[0]})"
    )
    return "\n".join(lines)
