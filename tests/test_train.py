"""The one-run trainer: run directory contract, resume, determinism, failure, export."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from tssd.config import load_config
from tssd.data import build_dataset, iterate_batches
from tssd.export import load_inference
from tssd.models import count_macs, count_params, encode_static
from tssd.train import METRIC_COLUMNS, RunFailed, RunInterrupted, read_epochs, read_summary, train

pytestmark = pytest.mark.unit


def metric_text(run_dir):
    with open(run_dir / "epochs.csv", newline="") as f:
        return [[r[c] for c in METRIC_COLUMNS] for r in csv.DictReader(f)]


def test_run_directory_contract(tiny_cfg, tmp_path):
    cfg = tiny_cfg(eval__timesteps=[1, 4])
    s = train(cfg, tmp_path)
    for name in ("config.yaml", "epochs.csv", "checkpoint.pt", "summary.json", "inference.pt"):
        assert (tmp_path / name).is_file(), name
    assert s["status"] == "finished" and s["config_hash"] == cfg.hash()
    assert s == read_summary(tmp_path)
    rows = read_epochs(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert not math.isnan(rows[-1]["loss_tsd"]) and not math.isnan(rows[-1]["loss_ssd"])
    assert math.isnan(rows[-1]["loss_kd"])  # terms a method does not use are NaN, never 0
    assert s["test_acc"] == rows[-1]["test_acc"]  # selection rule: the final epoch
    assert set(s["test_acc_by_timesteps"]) == {"1", "4"}
    assert len(s["firing_rates"]) == 3 and all(0 <= r <= 1 for r in s["firing_rates"].values())
    for key in (
        "torch_version",
        "backend",
        "backend_version",
        "git_commit",
        "git_dirty",
        "device",
        "seed",
        "split_hash",
        "wall_s",
        "peak_mem_mb",
        "selection",
    ):
        assert key in s, key
    assert s["backend"] == "native" and s["selection"] == "final_epoch"


def test_finished_run_is_not_redone(tiny_cfg, tmp_path):
    cfg = tiny_cfg()
    first = train(cfg, tmp_path)
    before = (tmp_path / "epochs.csv").stat().st_mtime_ns
    again = train(cfg, tmp_path)
    assert again == first
    assert (tmp_path / "epochs.csv").stat().st_mtime_ns == before


def test_other_config_in_same_directory_is_refused(tiny_cfg, tmp_path):
    train(tiny_cfg(), tmp_path)
    with pytest.raises(RunFailed, match="holds run"):
        train(tiny_cfg(method__alpha=0.5), tmp_path)


def test_deterministic_runs_are_bit_identical(tiny_cfg, tmp_path):
    cfg = tiny_cfg(runtime__deterministic=True)
    train(cfg, tmp_path / "a")
    train(cfg, tmp_path / "b")
    assert metric_text(tmp_path / "a") == metric_text(tmp_path / "b")
    assert torch.are_deterministic_algorithms_enabled() is False  # the switch was restored


def test_interrupted_run_resumes_to_the_same_result(tiny_cfg, tmp_path):
    cfg = tiny_cfg(optim__epochs=4, runtime__deterministic=True)
    train(cfg, tmp_path / "full")
    with pytest.raises(RunInterrupted):
        train(cfg, tmp_path / "cut", stop_after_epoch=2)
    assert read_summary(tmp_path / "cut")["status"] == "running"
    assert len(read_epochs(tmp_path / "cut")) == 2
    resumed = train(cfg, tmp_path / "cut")
    assert resumed["status"] == "finished"
    assert metric_text(tmp_path / "cut") == metric_text(tmp_path / "full")
    assert resumed["test_acc"] == read_summary(tmp_path / "full")["test_acc"]


def test_nonfinite_loss_fails_the_run_and_never_becomes_a_result(tiny_cfg, tmp_path, monkeypatch):
    import tssd.steps as steps

    real = steps.task_loss
    monkeypatch.setattr(steps, "task_loss", lambda s, y: real(s, y) * float("nan"))
    with pytest.raises(RunFailed, match="non-finite loss"):
        train(tiny_cfg(), tmp_path)
    s = read_summary(tmp_path)
    assert s["status"] == "failed" and "non-finite" in s["error"]
    assert "test_acc" not in s
    assert not (tmp_path / "inference.pt").exists()
    # a failed run is reported as failed again, not silently retried
    monkeypatch.setattr(steps, "task_loss", real)
    assert train(tiny_cfg(), tmp_path)["status"] == "failed"
    assert train(tiny_cfg(), tmp_path, force=True)["status"] == "finished"


def test_exported_model_loads_alone_and_costs_what_the_baseline_costs(tiny_cfg, tmp_path):
    s_tssd = train(tiny_cfg(), tmp_path / "tssd")
    s_base = train(tiny_cfg(method__name="baseline"), tmp_path / "base")
    assert s_tssd["weak_head_params"] > 0
    # the teacher's T_t is measured by every run that trains at it, with no eval.timesteps set
    # (figure 3's teacher_gap); a baseline trains at T_s only
    assert set(s_tssd["test_acc_by_timesteps"]) == {"4"} and s_base["test_acc_by_timesteps"] == {}
    assert s_tssd["params"] == s_base["params"]
    assert s_tssd["macs_per_sample"] == s_base["macs_per_sample"]
    m_tssd = load_inference(tmp_path / "tssd" / "inference.pt")
    m_base = load_inference(tmp_path / "base" / "inference.pt")
    x = torch.zeros(1, 1, 8, 8)
    assert count_params(m_tssd) == count_params(m_base) == s_base["params"]
    assert count_macs(m_tssd.net, encode_static(x, 2)) == s_base["macs_per_sample"]
    # the exported network reproduces the run's final test accuracy on its own
    bundle = build_dataset(tiny_cfg().data, (2,))
    correct = total = 0
    with torch.no_grad():
        for xb, yb in iterate_batches(bundle.test, 128):
            correct += int((m_tssd(xb).argmax(-1) == yb).sum())
            total += len(yb)
    assert correct / total == s_tssd["test_acc"]


def test_kd_from_an_ann_teacher(tiny_cfg, tmp_path):
    teacher = train(
        tiny_cfg(method__name="baseline", method__t_s=1, neuron__backend="ann"),
        tmp_path / "runs" / "teacher",
    )
    cfg = tiny_cfg(
        method__name="kd",
        method__teacher=teacher["config_hash"],
        runtime__runs_root=str(tmp_path / "runs" / "missing"),
    )
    with pytest.raises(RunFailed, match="no inference.pt found"):
        train(cfg, tmp_path / "kd0")
    cfg = tiny_cfg(method__name="kd", method__teacher=str(tmp_path / "runs" / "teacher"))
    s = train(cfg, tmp_path / "kd")
    rows = read_epochs(tmp_path / "kd")
    assert s["status"] == "finished" and rows[-1]["loss_kd"] > 0
    assert s["teacher"].endswith("inference.pt")


@pytest.mark.smoke
def test_quick_tssd_run_reaches_90_percent(tmp_path):
    """The README's quick run (micro net, digits, T_s=2, T_t=4): at least 90 % test accuracy."""
    cfg = load_config("configs/quick_tssd.yaml", ["runtime.progress=false"])
    s = train(cfg, tmp_path)
    assert s["status"] == "finished"
    assert s["test_acc"] >= 0.90, json.dumps(s, indent=1)


def test_extra_eval_timesteps_on_event_data(tiny_cfg, tmp_path, monkeypatch):
    """Event data is framed once per T, so evaluation at other timesteps needs their framings."""
    monkeypatch.setenv("TSSD_CACHE", str(tmp_path / "cache"))
    cfg = tiny_cfg(
        data__name="digits_dvs",
        method__name="baseline",
        method__t_s=2,
        eval__timesteps=[1, 4],
        optim__epochs=1,
    )
    assert cfg.timesteps_needed() == (1, 2, 4)
    s = train(cfg, tmp_path / "run")
    assert set(s["test_acc_by_timesteps"]) == {"1", "4"}


def test_eval_every_measures_test_accuracy_on_its_epochs_and_the_last(tiny_cfg, tmp_path):
    full = train(tiny_cfg(method__name="baseline"), tmp_path / "every1")
    s = train(tiny_cfg(method__name="baseline", eval__every=2), tmp_path / "every2")
    rows = read_epochs(tmp_path / "every2")
    measured = [not math.isnan(r["test_acc"]) for r in rows]
    assert measured == [False, True, True]  # epoch 2 (every 2) and epoch 3 (the last)
    # evaluation changes nothing that is trained: the final result is the every-epoch run's
    assert s["test_acc"] == full["test_acc"] and s["train_acc"] == full["train_acc"]


def test_compiling_is_like_another_machine_for_the_hash(tiny_cfg):
    """runtime.compile changes how the step rounds (measured: losses differ from the eager run's
    in the fourth digit after two epochs), as another CPU or thread count does: the suite treats
    all of them as fresh draws of one run (the regression check), so none of them is hashed."""
    eager = tiny_cfg()
    assert tiny_cfg(runtime__compile=True).hash() == eager.hash()
    assert tiny_cfg(runtime__compile_cache="/elsewhere").hash() == eager.hash()
    assert tiny_cfg(runtime__threads=2).hash() == eager.hash()
    assert tiny_cfg(method__alpha=0.5).hash() != eager.hash()  # a semantic field still is


def test_the_compile_cache_folder_follows_our_autograd_functions(tmp_path, monkeypatch):
    """AOTAutograd caches graphs holding our autograd.Functions only in a folder named after
    their source: an edited Function gets a fresh folder, never its old compiled artifact."""
    import os

    from torch._functorch import config

    from tssd import runtime

    fn = tmp_path / "function.py"
    fn.write_text("class F: pass\n")
    monkeypatch.setattr(runtime, "AUTOGRAD_FUNCTION_MODULES", (str(fn),))
    first = runtime.compile_cache_dir(tmp_path / "cc")
    assert first.parent == tmp_path / "cc" and first.name.startswith("tssd-")
    assert runtime.compile_cache_dir(tmp_path / "cc") == first
    fn.write_text("class F: x = 1\n")
    assert runtime.compile_cache_dir(tmp_path / "cc") != first
    monkeypatch.setenv(runtime.COMPILE_CACHE_ENV, "unchanged")
    with config.patch(autograd_cache_allow_custom_autograd_functions=False):  # torch's default
        runtime.use_compile_cache("")  # torch's default cache: torch's default rule
        assert os.environ[runtime.COMPILE_CACHE_ENV] == "unchanged"
        assert not config.autograd_cache_allow_custom_autograd_functions
        runtime.use_compile_cache(tmp_path / "cc")
        folder = runtime.compile_cache_dir(tmp_path / "cc")
        assert os.environ[runtime.COMPILE_CACHE_ENV] == str(folder.resolve())
        assert folder.is_dir() and config.autograd_cache_allow_custom_autograd_functions


@pytest.mark.slow
def test_a_warm_compile_reads_aotautograds_cache(tiny_cfg, tmp_path, monkeypatch):
    """The second compiled run of one config, in a fresh compile state, loads its joint graph
    from AOTAutograd's cache instead of tracing and partitioning it again."""
    from torch._dynamo.utils import counters
    from torch._functorch import config

    from tssd import runtime

    monkeypatch.setenv(runtime.COMPILE_CACHE_ENV, "")
    cfg = tiny_cfg(
        method__name="baseline",
        runtime__compile=True,
        runtime__compile_cache=str(tmp_path / "cc"),
        optim__epochs=1,
    )
    with config.patch(autograd_cache_allow_custom_autograd_functions=False):  # torch's default
        for i in range(2):
            runtime.forget_compiled()
            counters.clear()
            assert train(cfg, tmp_path / f"run{i}")["status"] == "finished"
    runtime.forget_compiled()  # later tests compile from scratch, into caches of their own
    aot = dict(counters["aot_autograd"])
    assert aot.get("autograd_cache_hit", 0) >= 1 and "autograd_cache_bypass" not in aot, aot


@pytest.mark.slow
def test_compiled_training_runs_and_records_it(tiny_cfg, tmp_path):
    cache = tmp_path / "compile-cache"
    cfg = tiny_cfg(
        method__name="baseline",
        runtime__compile=True,
        runtime__compile_cache=str(cache),
        optim__epochs=1,
    )
    s = train(cfg, tmp_path / "run")
    assert s["status"] == "finished" and 0.0 < s["test_acc"] <= 1.0
    assert s["config_hash"] == cfg.hash() and s["compile"] is True
    assert any(cache.rglob("*.py")), "the compiled step's kernels were not written to the cache"
