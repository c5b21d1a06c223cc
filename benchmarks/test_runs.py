"""Whole runs of the small profile: eager against compiled with a warm compile cache, and how two
runs best share the machine's two cores.

The configs are the small profile's own Table 1 runs (seed 0, planned by ``bench.plan.expand`` from
bench/experiments/table1.yaml and bench/profiles/small.yaml), on real Fashion-MNIST and the
events emulated from it; the tests skip when Fashion-MNIST is not installed.

* ``run/<kind> eager`` and ``run/<kind> compiled-warm``: one whole run (all epochs, validation,
  the final test pass and NeuroBench) on one thread, as each of the harness's two workers runs it.
  Compiled-warm is the run as the harness runs it after the first run of its kind: the compile
  cache (``runtime.compile_cache``) already holds the step's graphs, which an untimed one-epoch run
  of the same config compiled, and the process's in-memory compile state is emptied first, as in a
  fresh worker (issue 19: compiled-warm at most 0.6x eager).
* ``table/<kind> 2 workers x 1 thread`` and ``table/<kind> 1 worker x 2 threads``: two runs of
  the kind (seeds 0 and 1, shortened to ``TABLE_EPOCHS`` epochs: the ratio is one of per-epoch
  throughput, and the whole runs above give the absolute times), either at once in two processes
  of one thread each or one after the other with two threads each; the time until both finished.

* ``cost/...``: Table 7's training-cost claim timed under one set of conditions: its ANN teacher,
  KD from it and TSSD (seed 0, Fashion-MNIST), whole runs one after another on one thread.

* ``eval/<kind> <part>``: what a run spends outside training, against one training epoch of the
  same run (1 thread): one pass over the validation split, one over the test set, and NeuroBench's
  pass over ``eval.neurobench_samples`` test images (issue 19 item 2: validation every
  ``eval.every`` epochs, test once, NeuroBench once; the per-run cost is in the ratio report).

``--bench-quick`` shortens the whole runs to 2 epochs and measures the static baseline only.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from benchmarks.conftest import ROOT
from tssd.runtime import forget_compiled

KINDS = {  # kind -> (dataset of the small profile, method)
    "static baseline": ("fashion_mnist", "baseline"),
    "static tssd": ("fashion_mnist", "tssd"),
    "event baseline": ("fashion_dvs", "baseline"),
    "event tssd": ("fashion_dvs", "tssd"),
}
QUICK_KINDS = ("static baseline",)
QUICK_EPOCHS = 2
TABLE_EPOCHS = 3


def _small_plan(experiment: str, runs_dir: str, seed: int) -> dict:
    """The harness's plan of ``experiment`` on the small profile for one seed: ``{run id:
    PlannedRun}``, each run's ``runtime.runs_root`` set to ``runs_dir``."""
    from bench.plan.expand import expand
    from bench.plan.schema import experiment_path, load_experiment, load_profile

    plan = expand(
        load_experiment(experiment_path(experiment)),
        load_profile("small"),
        runs_dir=runs_dir,
        seeds=[seed],
    )
    return plan.runs


def small_config(kind: str, seed: int = 0) -> dict:
    """The small profile's Table 1 run of ``kind`` and ``seed`` (a validated config dict); the
    test skips when the harness plans it as unavailable here (no Fashion-MNIST)."""
    dataset, method = KINDS[kind]
    with tempfile.TemporaryDirectory() as runs:
        planned = _small_plan("table1", runs, seed)
    for run in planned.values():
        c = run.config
        if c["data"]["name"] == dataset and c["method"]["name"] == method and not run.deps:
            if run.unavailable:
                pytest.skip(run.unavailable)
            return copy.deepcopy(c)
    raise LookupError(f"table1 on small plans no {method} run on {dataset}")


def _train(conf: dict, run_dir: Path) -> dict:
    from tssd.config import from_dict
    from tssd.train import train

    summary = train(from_dict(conf, "benchmark run"), run_dir, progress=False)
    assert summary["status"] == "finished", summary.get("error")
    return summary


def _one_thread(conf: dict, *, epochs: int | None = None, compiled: bool = False) -> dict:
    conf = copy.deepcopy(conf)
    rt = conf.setdefault("runtime", {})
    rt.update(threads=1, progress=False, compile=compiled)
    if epochs:
        conf["optim"]["epochs"] = epochs
    return conf


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("mode", ["eager", "compiled-warm"])
def test_whole_run(measure, settings, kind, mode, tmp_path):
    """One whole small-profile run, eager or compiled with a warm compile cache."""
    if settings.quick and kind not in QUICK_KINDS:
        pytest.skip("quick run: the static baseline only")
    epochs = QUICK_EPOCHS if settings.quick else None
    conf = _one_thread(small_config(kind), epochs=epochs, compiled=mode == "compiled-warm")
    conf["runtime"]["compile_cache"] = str(tmp_path / "compile-cache")
    rounds = iter(range(10**6))

    def setup():
        if mode == "compiled-warm":
            # compile the step's graphs into the cache (untimed), then forget them in memory
            _train(_one_thread(conf, epochs=1, compiled=True), tmp_path / "prime")
            forget_compiled()
        return (tmp_path / f"run-{next(rounds)}",), {}

    _once(
        measure,
        "run",
        f"{kind} {mode}",
        lambda run_dir: _train(conf, run_dir),
        setup,
        f"{conf['optim']['epochs']} epochs, 1 thread",
    )


def _once(measure, group: str, name: str, fn, setup, note: str) -> None:
    """Time one call of ``fn`` (a whole run or two: one round, no warm-up, no memory trace;
    ``setup`` gives each round its own fresh directory)."""
    measure(group, name, fn, kind="run", setup=setup, rounds=1, warmup=0, memory=False, note=note)


def _train_processes(confs: list[dict], tmp: Path, parallel: bool) -> float:
    """Seconds until every config trained, in ``python -m tssd train`` processes at once or one
    after the other."""
    cmds = []
    for i, conf in enumerate(confs):
        path = tmp / f"config-{i}.yaml"
        path.write_text(yaml.safe_dump(conf))
        cmds.append([sys.executable, "-m", "tssd", "train", str(path), "--out", str(tmp / f"r{i}")])
    start = time.perf_counter()
    if parallel:
        procs = [subprocess.Popen(c, cwd=ROOT, stdout=subprocess.DEVNULL) for c in cmds]
        codes = [p.wait() for p in procs]
    else:
        codes = [subprocess.run(c, cwd=ROOT, stdout=subprocess.DEVNULL).returncode for c in cmds]
    assert codes == [0] * len(cmds), f"training failed: exit codes {codes}"
    return time.perf_counter() - start


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("layout", ["2 workers x 1 thread", "1 worker x 2 threads"])
def test_table_layout(measure, settings, kind, layout, tmp_path):
    """Two runs of a kind on the machine's cores: at once with one thread each, or one after the
    other with two threads each."""
    if settings.quick and kind not in QUICK_KINDS:
        pytest.skip("quick run: the static baseline only")
    parallel = layout.startswith("2 workers")
    confs = []
    for seed in (0, 1):
        epochs = QUICK_EPOCHS if settings.quick else TABLE_EPOCHS
        c = _one_thread(small_config(kind, seed), epochs=epochs)
        c["runtime"]["threads"] = 1 if parallel else 2
        c["eval"]["neurobench"] = False
        confs.append(c)
    rounds = iter(range(10**6))

    def setup():
        d = tmp_path / f"round-{next(rounds)}"
        d.mkdir()
        return (d,), {}

    _once(
        measure,
        "table",
        f"{kind} {layout}",
        lambda d: _train_processes(confs, d, parallel),
        setup,
        f"2 runs x {confs[0]['optim']['epochs']} epochs",
    )


COST_ROLES = ("ann teacher", "kd", "tssd")
"""Table 7's training-cost claim: KD's run plus its ANN teacher's against TSSD's."""


def table7_configs(runs_dir: Path) -> dict[str, tuple[str, dict]]:
    """The small profile's Table 7 runs of seed 0 on Fashion-MNIST, planned into ``runs_dir``:
    ``{role: (run id, config)}`` for :data:`COST_ROLES` (the KD run finds its teacher there)."""
    found = {}
    for rid, run in _small_plan("table7", str(runs_dir), 0).items():
        c = run.config
        if c["data"]["name"] != "fashion_mnist":
            continue
        if run.unavailable:
            pytest.skip(run.unavailable)
        role = "ann teacher" if run.role == "teacher" else c["method"]["name"]
        if role in COST_ROLES:
            found[role] = (rid, copy.deepcopy(c))
    assert set(found) == set(COST_ROLES), f"table7 on small plans {sorted(found)}"
    return found


def test_table7_training_cost(measure, record_median, settings, tmp_path):
    """Table 7's runs whose wall times its claim "KD's training time including its teacher is
    above TSSD's" compares, trained one after another on one thread: the ANN teacher, KD from it,
    TSSD. The run records time the same runs under whatever load each met; here all three meet
    the same."""
    runs_dir = tmp_path / "runs"
    confs = table7_configs(runs_dir)
    epochs = QUICK_EPOCHS if settings.quick else None
    seconds: dict[str, float] = {}

    def in_turn() -> None:
        for role in COST_ROLES:
            rid, conf = confs[role]
            start = time.perf_counter()
            _train(_one_thread(conf, epochs=epochs), runs_dir / rid)
            seconds[role] = time.perf_counter() - start

    m = measure(
        "cost",
        "table 7's runs, one after another",
        in_turn,
        kind="run",
        rounds=1,
        warmup=0,
        memory=False,
        note=f"{epochs or confs['tssd'][1]['optim']['epochs']} epochs, 1 thread",
    )
    timed = bool(m.rounds)  # else --benchmark-disable: not timed
    kd_total = seconds["ann teacher"] + seconds["kd"]
    record_median("cost", "kd with its ann teacher", [kd_total] if timed else [])
    record_median("cost", "tssd", [seconds["tssd"]] if timed else [])


EVAL_PARTS = ("train epoch", "validation", "test", "neurobench")


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("part", EVAL_PARTS)
def test_eval_costs(measure, settings, kind, part, tmp_path):
    """One training epoch, or one validation, test or NeuroBench pass, of a small run (an
    untrained network: a pass costs the same trained or not, up to spike counts)."""
    if settings.quick and kind not in QUICK_KINDS:
        pytest.skip("quick run: the static baseline only")
    from tssd import metrics as nbm
    from tssd.config import from_dict
    from tssd.export import export_inference
    from tssd.runtime import torch_threads
    from tssd.train import INFERENCE, Trainer, _neurobench

    cfg = from_dict(_one_thread(small_config(kind)), "benchmark run")
    if part == "neurobench" and not (cfg.eval.neurobench and nbm.available()):
        pytest.skip("NeuroBench is off for this run or not installed")
    t_s = cfg.method.t_s
    with torch_threads(1):
        tr = Trainer(cfg)
        export_inference(tr.model, cfg, tr.bundle.info, tmp_path / INFERENCE)
        fn = {
            "train epoch": lambda: tr.train_epoch(0),
            "validation": lambda: tr.evaluate(t_s, split="val"),
            "test": lambda: tr.evaluate(t_s),
            "neurobench": lambda: _neurobench(cfg, tmp_path, tr),
        }[part]
        _once(measure, "eval", f"{kind} {part}", fn, None, "1 thread, one pass")
