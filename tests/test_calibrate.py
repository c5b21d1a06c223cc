"""Cost calibration: measured step times, cached, turned into run estimates."""

from __future__ import annotations

import json

import pytest
import torch

from tssd.calibrate import calibrate, calibration_key, estimate
from tssd.config import from_dict

pytestmark = pytest.mark.unit


def test_calibration_is_measured_cached_and_scales_the_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("TSSD_CACHE", str(tmp_path))
    cfg = from_dict(
        {
            "method": {"name": "tssd", "t_s": 2, "t_t": 4},
            "model": {"name": "micro_cnn", "width": 8},
            "data": {"batch_size": 32},
            "optim": {"epochs": 10},
        }
    )
    first = calibrate(cfg, "cpu", steps=2)
    assert first["sec_per_step"] > 0 and first["sec_per_eval_batch"] > 0
    cached = json.loads((tmp_path / "calibration.json").read_text())
    assert list(cached) == [first["key"]]
    # a second call reads the cache instead of measuring again (same numbers, to the bit)
    assert calibrate(cfg, "cpu") == first
    # an entry written before a measured field existed is measured again
    del cached[first["key"]]["sec_per_forward_batch"]
    (tmp_path / "calibration.json").write_text(json.dumps(cached))
    again = calibrate(cfg, "cpu", steps=2)
    assert again["sec_per_forward_batch"] > 0  # KeyError had it been read from the old entry
    # digits: 1437 train / 360 test samples -> 45 steps of 32 per epoch; an image costs 1/32 of
    # an evaluation batch
    cal = {"sec_per_step": 1.0, "sec_per_eval_batch": 0.5, "eval_batch": 32}
    no_nb = {**cfg.to_dict(), "eval": {"neurobench": False}}
    # 10 epochs of training; test accuracy after each of them (the last is the final one), and
    # once at the teacher's T_t = 4, at twice the cost of a pass at T_s = 2
    tt = 360 / 64 * 4 / 2
    est = estimate(from_dict(no_nb), cal, startup_s=3.0)
    assert (est.train_s, est.test_s, est.val_s, est.startup_s) == (
        450.0,
        10 * 360 / 64 + tt,
        0,
        3.0,
    )
    assert est.total_s == 3.0 + 450.0 + 10 * 360 / 64 + tt
    # every 4 epochs: after epochs 4 and 8 and after the last (10)
    sparse = from_dict({**no_nb, "eval": {"every": 4, "neurobench": False}})
    assert estimate(sparse, cal).test_s == 3 * 360 / 64 + tt
    # a class-balanced training subset is counted as such: 10 x 20 images = 7 steps of 32
    sub = from_dict(
        {
            **no_nb,
            "data": {"name": "fashion_mnist", "batch_size": 32, "options": {"train_per_class": 20}},
        }
    )
    assert estimate(sub, cal).train_s == 10 * 7 * 1.0


def test_key_separates_what_changes_the_cost():
    import torch

    base = {"method": {"name": "tssd", "t_s": 2, "t_t": 4}}
    k = calibration_key(from_dict(base), torch.device("cpu"))
    for over in (
        {"method": {"name": "tssd", "t_s": 2, "t_t": 8}},
        {"method": {"name": "baseline", "t_s": 2}},
        {"data": {"batch_size": 16}},
        {"model": {"name": "vgg9"}, "data": {"name": "digits"}},
        {"runtime": {"amp": "bf16"}},
        {"runtime": {"compile": True}},
        {"model": {"weak_head": {"stage": "0"}}},
        {"model": {"weak_head": {"channels": 16}}},
        {"optim": {"name": "adamw"}},
        {"data": {"test_batch_size": 128}},
        {"runtime": {"threads": 3}},
    ):
        assert calibration_key(from_dict({**base, **over}), torch.device("cpu")) != k, over
    assert calibration_key(from_dict(base), torch.device("cpu"), parallel_runs=2) != k


def test_a_run_gets_its_share_of_the_cores(monkeypatch):
    """``runtime.threads: 0`` is the cores divided among the runs at once, never the load."""
    from tssd import calibrate as cal

    monkeypatch.setattr(cal, "available_cpus", lambda: 8)
    auto = from_dict({})
    assert [cal.calibration_threads(auto, n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    assert cal.calibration_threads(from_dict({"runtime": {"threads": 3}}), 2) == 3


@pytest.mark.slow
def test_a_compiled_calibration_measures_cold_and_warm_compiles(tmp_path, monkeypatch):
    monkeypatch.setenv("TSSD_CACHE", str(tmp_path))
    cfg = from_dict(
        {
            "method": {"name": "baseline", "t_s": 2},
            "model": {"name": "micro_cnn", "width": 4},
            "data": {"batch_size": 16},
            "runtime": {"compile": True, "compile_cache": str(tmp_path / "cc")},
        }
    )
    cal = calibrate(cfg, "cpu", steps=2)
    assert "|compiled|" in cal["key"]  # then, on the CPU, threads and runs at once
    # a warm compile reads the graphs the cold one wrote: it is the cheaper of the two
    assert 0 < cal["warm_compile_s"] < cal["cold_compile_s"], cal
    assert any((tmp_path / "cc").rglob("*.py")), "nothing was written to the compile cache"
    est = estimate(cfg, cal)
    assert est.compile_s == cal["warm_compile_s"]


def test_a_cpu_step_is_timed_as_the_harness_trains_it(tmp_path, monkeypatch):
    """On the CPU the key holds the threads a run gets and how many runs train at once, and a
    calibration for 2 runs at once times its step while another process trains the same step."""
    import torch

    monkeypatch.setenv("TSSD_CACHE", str(tmp_path))
    cfg = from_dict(
        {
            "method": {"name": "baseline", "t_s": 2},
            "model": {"name": "micro_cnn", "width": 4},
            "data": {"batch_size": 16},
            "runtime": {"threads": 1},
        }
    )
    cpu = torch.device("cpu")
    threads = torch.get_num_threads()
    assert calibration_key(cfg, cpu).endswith("|th1|runs1")
    assert calibration_key(cfg, cpu, parallel_runs=2).endswith("|th1|runs2")
    two = calibrate(cfg, "cpu", steps=20, parallel_runs=2)
    assert two["key"].endswith("|runs2") and two["parallel_runs"] == 2
    assert two["neighbour_steps"] > 0, "no other run trained while the step was timed"
    assert two["threads"] == 1 and two["eval_batch"] == cfg.data.test_batch_size
    alone = calibrate(cfg, "cpu", steps=2)
    assert alone["parallel_runs"] == 1 and alone["neighbour_steps"] == 0
    assert torch.get_num_threads() == threads, "the caller's thread count was not restored"
    assert set(json.loads((tmp_path / "calibration.json").read_text())) == {
        two["key"],
        alone["key"],
    }


def test_a_neighbour_that_does_not_warm_up_is_a_clear_error(tmp_path, monkeypatch):
    """No warm neighbour in time: CalibrationFailed (the harness then falls back to the cost
    model), nothing cached, no process left behind."""
    import multiprocessing

    from tssd import calibrate as cal

    monkeypatch.setenv("TSSD_CACHE", str(tmp_path))
    monkeypatch.setattr(cal, "NEIGHBOUR_START_S", 0.0)
    cfg = from_dict({"model": {"name": "micro_cnn", "width": 4}, "runtime": {"threads": 1}})
    with pytest.raises(cal.CalibrationFailed, match="did not warm up within 0 s"):
        calibrate(cfg, "cpu", steps=1, parallel_runs=2)
    assert not (tmp_path / "calibration.json").exists()
    assert multiprocessing.active_children() == []


def test_the_harness_eta_uses_cached_calibrations_and_never_times_a_step(tmp_path, monkeypatch):
    """`bench run` prices its runs for the ETA from this machine's cached step timings where it
    has them (the cost model runs ~40 % pessimistic on `small`), the cost model elsewhere, and
    times nothing: a calibration beside the runs it prices would slow them and read them wrong."""
    from bench.pipeline import Selection, _calibrate, experiments, plans
    from bench.plan.schema import load_profile
    from tssd import calibrate as cal_mod

    def no_timing(*_, **__):
        raise AssertionError("the harness timed a step")

    monkeypatch.setattr(cal_mod, "measure_step", no_timing)
    monkeypatch.setenv("TSSD_CACHE", str(tmp_path))
    quick = load_profile("quick")
    sel = Selection(quick, experiments(["table2"]), tmp_path, seeds=[0])
    runs = [r for plan, _ in plans(sel) for r in plan.ordered_runs()]
    model = {r.run_id: r.est_s for r in runs}
    by_id = {r.run_id: r for r in runs}
    _calibrate(runs, by_id, quick, 2, measure=False)  # an empty cache: the cost model stays
    assert {r.run_id: r.est_s for r in runs} == model
    first = runs[0]
    entry = {"sec_per_step": 0.5, "sec_per_eval_batch": 0.25, "eval_batch": 256}
    entry["sec_per_forward_batch"] = 0.1
    key = calibration_key(first.cfg, torch.device("cpu"), 2)
    (tmp_path / "calibration.json").write_text(json.dumps({key: entry}))
    _calibrate(runs, by_id, quick, 2, measure=False)
    assert first.est_s == pytest.approx(estimate(first.cfg, entry, quick.cost.startup_s).total_s)
    assert first.est_s != model[first.run_id]
    shared = [r for r in runs[1:] if calibration_key(r.cfg, torch.device("cpu"), 2) == key]
    others = [r for r in runs[1:] if r not in shared]
    assert others and all(r.est_s == model[r.run_id] for r in others)
