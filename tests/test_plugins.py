"""A method and a dataset added from outside the suite (tests/plugin_example.py, named in
``TSSD_PLUGINS``) run through ``python -m tssd train`` and ``python -m bench run`` with no other
file edited: validated, framed, hashed, logged and cached like built-in ones.

The plugin is a file the researcher writes; ``TSSD_PLUGINS`` names it (:mod:`tssd.plugins`).
Config validation loads it in this process; the harness hands it to every worker it starts (the
local fork server may predate the variable). Each test removes what the plugin registered.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers import write_tiny

from tssd import plugins
from tssd.config import ConfigError, from_dict
from tssd.data import DATASETS
from tssd.methods import METHODS, StepContext

pytestmark = pytest.mark.smoke

PLUGIN = Path(__file__).with_name("plugin_example.py")


@pytest.fixture
def plugin(monkeypatch):
    """``TSSD_PLUGINS`` names the example plugin; afterwards what it registered is removed."""
    methods, datasets, loaded = set(METHODS), set(DATASETS), set(plugins.loaded())
    monkeypatch.setenv(plugins.ENV, str(PLUGIN))
    yield str(PLUGIN)
    for name in set(METHODS) - methods:
        del METHODS[name]
    for name in set(DATASETS) - datasets:
        del DATASETS[name]
    for entry in set(plugins.loaded()) - loaded:
        module = plugins._LOADED.pop(entry)
        sys.modules.pop(module.__name__, None)


def config(**over) -> dict:
    data = {
        "name": "plugged",
        "method": {"name": "tsd_mse", "t_s": 1, "t_t": 2},
        "model": {"name": "micro_cnn", "width": 8},
        "data": {"name": "tiny_blobs", "batch_size": 32},
        "optim": {"epochs": 2, "schedule": "cosine"},
        "runtime": {"progress": False, "threads": 1, "deterministic": True},
    }
    for key, value in over.items():
        section, field = key.split("__")
        data[section][field] = value
    return data


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.unit
def test_validation_loads_the_plugin_and_asks_its_specs(plugin, capsys):
    assert "tsd_mse" not in METHODS
    cfg = from_dict(config(), "<test>")  # validation imported the plugin
    assert plugins.loaded() == (plugin,)
    spec = METHODS["tsd_mse"]
    # teacher steps: t_t is framed for event data as for tsd/tssd, and t_t > t_s is checked
    assert from_dict(config(data__name="digits_dvs"), "<t>").timesteps_needed() == (1, 2)
    with pytest.raises(ConfigError, match=r"'method.t_t': got 1, expected an integer > method"):
        from_dict(config(method__t_t=1), "<t>")
    # a batch holding exactly those framings runs the step (no KeyError in to_sequence)
    from tssd.models import build_model

    model = build_model(
        "micro_cnn", num_classes=3, in_channels=2, input_size=8, neuron=cfg.neuron, width=8
    )
    batch = {t: torch.rand(4, t, 2, 8, 8) for t in cfg.timesteps_needed()}
    out = spec.step(StepContext(model, None, cfg.method, None, "event"), batch, torch.arange(4) % 3)
    assert set(out.terms) == {"task", "tsd_mse"} and torch.isfinite(out.loss)
    # the dataset's options and split are checked from its spec
    with pytest.raises(ConfigError, match=r"data\.options\.nosie.*allowed: noise"):
        from_dict(config(data__options={"nosie": 0.1}), "<t>")
    with pytest.raises(ConfigError, match=r"'data\.split'"):
        from_dict(config(data__split="random:0:0.5"), "<t>")
    from tssd.data import shape_of

    assert shape_of(cfg.data).n_train == 90 and shape_of({"name": "tiny_blobs"}).n_test == 30
    # unread fields leave the hash alone; read ones do not
    assert from_dict(config(method__beta=0.1), "<t>").hash() == cfg.hash()
    assert from_dict(config(method__alpha=0.1), "<t>").hash() != cfg.hash()
    # data check reports it
    from tssd.cli import main

    assert main(["data", "check", "--data-root", "/", "--only", "tiny_blobs"]) == 0
    assert "tiny_blobs   OK" in capsys.readouterr().out


@pytest.mark.unit
def test_a_bad_plugin_entry_is_a_config_error(monkeypatch, tmp_path):
    monkeypatch.setenv(plugins.ENV, str(tmp_path / "missing.py"))
    with pytest.raises(ConfigError, match=r"TSSD_PLUGINS: plugin '.*missing\.py': file not found"):
        from_dict(config(method__name="baseline", data__name="digits"), "<t>")
    monkeypatch.setenv(plugins.ENV, "no_such_plugin_module")
    with pytest.raises(ConfigError, match=r"no module named 'no_such_plugin_module'"):
        plugins.load_plugins()
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('half-written')\n")
    with pytest.raises(ConfigError, match=r"failed to import: RuntimeError: half-written"):
        plugins.load_plugins([str(broken)])
    assert str(broken) not in plugins.loaded()


def test_plugin_method_and_dataset_through_tssd_train(plugin, tmp_path, capsys):
    from tssd.cli import main

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config()))
    out = tmp_path / "run"
    assert main(["train", str(path), "--out", str(out), "--quiet"]) == 0
    assert "T_t=2" in capsys.readouterr().out  # the CLI asked the spec, not the name
    rows = read_csv(out / "epochs.csv")
    assert len(rows) == 2
    # the built-in columns stay (NaN where the method has no such term), its own term follows
    assert [k for k in rows[0] if k.startswith("loss_")] == [
        "loss_task",
        "loss_tsd",
        "loss_ssd",
        "loss_kd",
        "loss_tsd_mse",
    ]
    assert all(math.isfinite(float(r["loss_tsd_mse"])) for r in rows)
    assert all(math.isnan(float(r["loss_tsd"])) for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["dataset"] == "tiny_blobs"
    assert summary["t_t"] == 2 and summary["config_hash"] == from_dict(config()).hash()


def test_plugin_method_and_dataset_through_bench_run_share_the_cache(plugin, tmp_path, capsys):
    from bench import cli
    from bench.plan.expand import expand
    from bench.plan.schema import load_experiment, load_profile
    from tssd.cli import main as tssd_main

    exp = write_tiny(
        tmp_path,
        [("b", "Baseline", "baseline"), ("m", "TSD-MSE", "tsd_mse")],
        "model.width: 8, optim.epochs: 2, data.name: tiny_blobs, data.batch_size: 32",
    )
    res = tmp_path / "results"
    # the workers are fresh processes: the harness hands them the plugin with each job
    assert cli.main(["run", str(exp), "--results", str(res), "--seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert "2 runs: 0 cached, 2 to run" in out
    acc = {
        r["method"]: r for r in read_csv(res / "quick" / "tiny.csv") if r["metric"] == "test_acc"
    }
    assert set(acc) == {"baseline", "tsd_mse"}
    # (2 epochs of 3 batches: a number, not a good one, is all this checks)
    assert all(
        r["status"] == "ok" and r["n"] == "1" and 0 <= float(r["mean"]) <= 100 for r in acc.values()
    )
    plan = expand(load_experiment(exp), load_profile("quick"), runs_dir=res / "runs", seeds=[0])
    (rid,) = next(c for c in plan.cells if c.key["method"] == "tsd_mse").runs
    assert "loss_tsd_mse" in read_csv(res / "runs" / rid / "epochs.csv")[0]
    summary = (res / "runs" / rid / "summary.json").read_text()

    # python -m tssd train with the planned config plus a field tsd_mse never reads: same hash,
    # so it finds the harness's finished run instead of training again
    data = plan.runs[rid].config
    data["method"]["beta"] = 0.25
    data["name"] = "by-hand"
    path = tmp_path / "by_hand.yaml"
    path.write_text(yaml.safe_dump(data))
    assert from_dict(data).hash() == rid
    assert tssd_main(["train", str(path), "--out", str(res / "runs" / rid), "--quiet"]) == 0
    assert "final test accuracy" in capsys.readouterr().out
    assert (res / "runs" / rid / "summary.json").read_text() == summary


def test_a_worker_loads_the_plugins_its_job_names(plugin, monkeypatch, tmp_path):
    """A worker whose environment lacks TSSD_PLUGINS (a fork server started before it was set, a
    SLURM node) still loads what the planning process loaded: the job carries it."""
    from bench.execute.worker import RunJob, execute
    from tssd.rundir import RunDir

    monkeypatch.delenv(plugins.ENV)
    run = tmp_path / "run"
    job = RunJob("r", config(), str(run), str(tmp_path / "r.lock"))
    res = execute(job)  # no plugin: the method is unknown, recorded as the run's error
    assert res.status == "error" and "unknown method 'tsd_mse'" in res.error
    assert RunDir(run).state().status == "error"
    res = execute(RunJob("r", config(), str(run), str(tmp_path / "r.lock"), plugins=(plugin,)))
    assert res.status == "finished" and res.trained_epochs == 2
    assert RunDir(run).read_error() is None and RunDir(run).state().status == "finished"


# ---- a dataset in one file, and nothing else edited ------------------------------------------

ONE_FILE_DATASET = '''\
"""Two classes of 8x8 grey images: a bright bar high up or low down, in noise."""

import torch

from tssd.data import DataBundle, TensorSplit, dataset_spec, register_dataset


def _split(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = 0.3 * torch.randn(n, 1, 8, 8, generator=g)
    x[y == 0, 0, 1:3] += 1.0
    x[y == 1, 0, 5:7] += 1.0
    return TensorSplit(x, y)


@register_dataset(
    "one_file_bars", kind="static", num_classes=2, in_channels=1, input_size=8, n_train=40,
    n_test=20,
)
def one_file_bars(cfg, timesteps):
    info = dataset_spec("one_file_bars").info(cfg.size or 8, "generated 40/20 (seeds 0, 1)")
    return DataBundle(info, _split(40, 0), _split(20, 1))
'''

BARS_EXPERIMENT = """\
id: bars
kind: table
title: bars
layout: {layout}
axes: {{data: {{key: data.name}}}}
grid:
  method: [baseline]
  data: [one_file_bars]
set: {{model.width: 8, optim.epochs: 2, data.batch_size: 16}}
"""

BARS_LAYOUT = """\
id: bars
kind: table
title: bars
status: inferred
columns:
  - {id: bars, label: Bars, match: {data: one_file_bars}}
rows:
  - {id: b, label: Baseline, match: {method: baseline}}
"""


@pytest.fixture
def one_file_dataset(monkeypatch, tmp_path):
    """A dataset plugin written as one file and named in ``TSSD_PLUGINS``; afterwards what it
    registered is removed."""
    datasets, loaded = set(DATASETS), set(plugins.loaded())
    path = tmp_path / "one_file_bars.py"
    path.write_text(ONE_FILE_DATASET)
    monkeypatch.setenv(plugins.ENV, str(path))
    monkeypatch.setenv("TSSD_CACHE", str(tmp_path / "cache"))  # --estimate's calibrations
    yield path
    for name in set(DATASETS) - datasets:
        del DATASETS[name]
    for entry in set(plugins.loaded()) - loaded:
        module = plugins._LOADED.pop(entry)
        sys.modules.pop(module.__name__, None)


def test_a_dataset_in_one_file_is_planned_estimated_and_run_with_no_profile_edit(
    one_file_dataset, tmp_path, capsys
):
    """A newcomer's dataset: one plugin file, an experiment that names it, the shipped quick
    profile as it is. Its sizes reach the cost estimate from its registration (the profile
    states none), the dry run prices it, and ``bench run`` trains and tabulates it."""
    from bench import cli
    from bench.plan.expand import estimate_seconds, expand
    from bench.plan.schema import load_experiment, load_profile
    from tssd.data import shape_of

    (tmp_path / "layouts").mkdir()
    layout = tmp_path / "layouts" / "bars.yaml"
    layout.write_text(BARS_LAYOUT)
    exp = tmp_path / "bars.yaml"
    exp.write_text(BARS_EXPERIMENT.format(layout=layout))
    profile = load_profile("quick")
    assert "one_file_bars" not in Path(profile.path).read_text()
    res = tmp_path / "results"

    plan = expand(load_experiment(exp), profile, runs_dir=res / "runs", seeds=[0])
    (run,) = plan.runs.values()
    assert run.unavailable is None and run.cfg.data.name == "one_file_bars"
    assert shape_of(run.cfg.data).n_train == 40  # the registration's size, not a profile's
    assert run.est_s is not None and run.est_s == estimate_seconds(run.cfg, profile) > 0

    assert cli.main(["run", str(exp), "--results", str(res), "--seeds", "0", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{run.run_id}" in out and "to run" in out and "without an estimate" not in out
    args = ["run", str(exp), "--results", str(res), "--seeds", "0", "--dry-run", "--estimate"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "no calibration" not in out and "without an estimate" not in out

    assert cli.main(["run", str(exp), "--results", str(res), "--seeds", "0"]) == 0
    assert "1 runs: 0 cached, 1 to run" in capsys.readouterr().out
    (row,) = [r for r in read_csv(res / "quick" / "bars.csv") if r["metric"] == "test_acc"]
    assert row["status"] == "ok" and row["n"] == "1" and 0 <= float(row["mean"]) <= 100
    summary = json.loads((res / "runs" / run.run_id / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["dataset"] == "one_file_bars"
