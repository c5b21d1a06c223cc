"""The CI regression check: a reference with every seed's value, and a test sized from its spread.

The reference holds per seed each run's accuracy and its behaviour (bench/regression.py,
``quantities``: firing rates, final losses, teacher gap). The unit tests check the statistics
(false-alarm rate and power, simulated with the committed reference's own seed counts and
spreads; each 5-seed fold of the reference against the other 15 passes) and that the committed
reference is complete and not stale. The smoke test runs the real harness on a tiny experiment
against a synthetic reference: a moved firing rate or loss fails the check while accuracy
passes. The slow tests re-train the quick regression cells: with other seeds and another thread
count (a stand-in for another machine) the check passes; with a deliberately broken method it
fails (each prints which quantities caught it).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_bench_run import read, tiny

from bench import ROOT, cli
from bench.analyse.compare import compared, file_references, in_points, reference_path, tolerance_of
from bench.plan.expand import expand
from bench.plan.schema import experiment_path, load_experiment, load_profile
from bench.regression import (
    TOLERANCE_COLUMNS,
    check_rows,
    quantities,
    regression_of,
    seed_rows,
    tolerance_rows,
)
from bench.stats import detectable_shift, per_check_alpha, shift_tolerance
from tssd.methods import METHODS


def _ref_dir() -> Path:
    return ROOT / load_profile("quick").reference_dir


def _quick_with_reference(prof: Path, ref_dir: Path) -> Path:
    """The quick profile written to ``prof`` with its reference in ``ref_dir`` (both made)."""
    ref_dir.mkdir(parents=True, exist_ok=True)
    prof.parent.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "bench" / "profiles" / "quick.yaml").read_text()
    old = "reference_dir: results/reference/quick"
    assert old in text
    prof.write_text(text.replace(old, f"reference_dir: {ref_dir}"))
    return prof


@pytest.mark.unit
def test_reference_holds_every_seed_of_every_cell_with_provenance():
    profile = load_profile("quick")
    reg = regression_of(profile)
    assert set(reg.seeds) <= set(reg.reference_seeds) and len(reg.reference_seeds) >= 10
    prov = json.loads((_ref_dir() / "provenance.json").read_text())
    assert prov["command"].startswith("python -m bench reference")
    assert prov["git_commit"] and prov["git_dirty"] is False, "make the reference from a clean tree"
    assert prov["cpu"] and prov["machine"] and prov["torch_version"] and prov["date"]
    assert prov["reference_seeds"] == list(reg.reference_seeds)
    assert prov["test"]["false_alarm_per_check"] == profile.tolerance.false_alarm
    for eid in reg.experiments:
        plan = expand(load_experiment(experiment_path(eid)), profile, runs_dir=ROOT / "unused")
        with open(reference_path(profile, eid), newline="") as f:
            every = list(csv.DictReader(f))
        rows = [r for r in every if r["metric"] == "test_acc"]
        assert {r["cell"] for r in rows} == {c.id for c in plan.cells}, (
            f"{eid}: reference cells differ from the plan; run python -m bench reference"
        )
        for cell in plan.cells:
            seeds = sorted(int(r["seed"]) for r in rows if r["cell"] == cell.id)
            assert seeds == sorted(reg.reference_seeds), cell.id
            assert all(0.0 < float(r["value"]) <= 100.0 for r in rows if r["cell"] == cell.id)
            # ...and the cell's behaviour, every quantity for every seed
            spec = METHODS[str(cell.key["method"])]
            mine = [r for r in every if r["cell"] == cell.id]
            names = {r["metric"] for r in mine}
            want = {"test_acc", *(f"final_loss:{t}" for t in spec.loss_terms)}
            want |= {"final_loss"} if len(spec.loss_terms) > 1 else set()
            want |= {"teacher_gap"} if spec.uses_teacher_steps else set()
            rates = {n for n in names if n.startswith("firing_rate:")}
            assert len(rates) >= 3 and names == want | rates, (cell.id, sorted(names))
            for name in names:
                got = sorted(int(r["seed"]) for r in mine if r["metric"] == name)
                assert got == sorted(reg.reference_seeds), (cell.id, name)
            assert all(0.0 < float(r["value"]) < 1.0 for r in mine if r["metric"] in rates), cell.id


@pytest.mark.unit
def test_tolerance_table_is_what_the_reference_implies():
    """``<id>_tolerance.csv`` is derived; it must equal a recomputation (never stale)."""
    profile = load_profile("quick")
    reg = regression_of(profile)
    for eid in reg.experiments:
        got = read(_ref_dir() / f"{eid}_tolerance.csv")
        want = tolerance_rows(profile, eid, len(reg.seeds))
        assert list(got[0]) == TOLERANCE_COLUMNS and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g["cell"] == w["cell"]
            for k in ("tolerance", "alpha_cell", "detectable_shift_95", "ref_std"):
                assert float(g[k]) == pytest.approx(w[k], rel=1e-5), (eid, g["cell"], k)
            floor = profile.tolerance.floor_std if in_points(g["metric"]) else 0.0
            assert float(g["std_used"]) == pytest.approx(max(float(g["ref_std"]), floor))
        alphas = {float(g["alpha_cell"]) for g in got}
        # Sidak over every compared (cell, quantity) of the check: the whole check's false-alarm
        # rate is the profile's
        (alpha,) = alphas
        assert 1 - (1 - alpha) ** len(got) == pytest.approx(profile.tolerance.false_alarm)
        assert {int(g["cells_in_check"]) for g in got} == {len(got)}
        assert len(got) > 8 * 5, "the check compares more than accuracy"


def _simulate(stds, n_ref, m, shift, sims, seed=0, floors=None):
    """Fraction of simulated checks that fail (any compared pair), and per-pair rejection rates,
    with the production tolerance (``Tolerance.of``) applied to normal seed values; ``floors``:
    each pair's std floor (default: the profile's, as for accuracy)."""
    import dataclasses

    base = load_profile("quick").tolerance
    rng = np.random.default_rng(seed)
    k = len(stds)
    any_fail = np.zeros(sims, dtype=bool)
    per_cell = []
    for i, sd in enumerate(stds):
        tol = base if floors is None else dataclasses.replace(base, floor_std=floors[i])
        ref = rng.normal(90.0, sd, size=(sims, n_ref))
        fresh = rng.normal(90.0 + shift(sd), sd, size=(sims, m))
        alpha = per_check_alpha(tol.false_alarm, k)
        used = np.maximum(ref.std(axis=1, ddof=1), tol.floor_std)
        limit = shift_tolerance(1.0, n_ref, m, alpha) * used
        # spot-check that the vectorised limit is the production one
        assert tol.of(tuple(ref[0]), m, k)[0] == pytest.approx(limit[0])
        rejected = np.abs(fresh.mean(axis=1) - ref.mean(axis=1)) > limit
        any_fail |= rejected
        per_cell.append(rejected.mean())
    return any_fail.mean(), per_cell


@pytest.mark.unit
def test_false_alarm_rate_of_the_whole_check_is_at_most_one_percent():
    """Simulated with the reference's own seed counts and spreads: no change, fresh draws."""
    profile = load_profile("quick")
    reg = regression_of(profile)
    refs = [
        (cell, metric, r)
        for eid in reg.experiments
        for (cell, metric), r in file_references(profile, eid).items()
        if compared(metric, profile)
    ]
    stds = [float(np.std(r.values, ddof=1)) for _, _, r in refs]
    floors = [tolerance_of(profile, metric, None).floor_std for _, metric, _ in refs]
    assert 0.0 in floors and profile.tolerance.floor_std in floors  # rates, losses; accuracy
    sims = 40_000
    rate, _ = _simulate(
        stds, len(reg.reference_seeds), len(reg.seeds), lambda sd: 0.0, sims, floors=floors
    )
    # The std floor only widens tolerances, so the rate is at most the nominal 1 %; binomial
    # standard error at 1 % and 40k checks is 0.05 %: 3.5 of them above 1 % fails the test.
    assert rate <= profile.tolerance.false_alarm + 3.5 * math.sqrt(0.01 * 0.99 / sims)
    # ...and at spreads well above the floor it is the nominal 1 %, not vacuously small.
    rate, _ = _simulate(
        [2.0] * len(stds), len(reg.reference_seeds), len(reg.seeds), lambda sd: 0.0, sims, 1
    )
    assert abs(rate - 0.01) <= 3.5 * math.sqrt(0.01 * 0.99 / sims)


@pytest.mark.unit
def test_detectable_shift_is_detected_with_95_percent_power():
    profile = load_profile("quick")
    reg = regression_of(profile)
    k = sum(len(tolerance_rows(profile, eid, len(reg.seeds))) for eid in reg.experiments)
    n, m = len(reg.reference_seeds), len(reg.seeds)
    alpha = per_check_alpha(profile.tolerance.false_alarm, k)
    sims = 20_000
    _, per_cell = _simulate(
        [1.5] * k, n, m, lambda sd: -detectable_shift(sd, n, m, alpha), sims, seed=2
    )
    assert np.mean(per_cell) == pytest.approx(0.95, abs=3.5 * math.sqrt(0.95 * 0.05 / (k * sims)))


@pytest.mark.unit
def test_each_fold_of_the_reference_passes_against_the_other_seeds():
    """A null check on the real seed distributions: each disjoint block of CI-many reference
    seeds against the other seeds, every compared pair at the check's level. Under the test's
    model at most a few percent of such folds hold one false alarm and two are ~1e-3 unlikely;
    a quantity with heavy tails (a loss that sometimes blows up) would fail many."""
    profile = load_profile("quick")
    reg = regression_of(profile)
    m, seeds = len(reg.seeds), list(reg.reference_seeds)
    alarms, compared_pairs = [], 0
    for eid in reg.experiments:
        with open(reference_path(profile, eid), newline="") as f:
            rows = [r for r in csv.DictReader(f) if compared(r["metric"], profile)]
        values: dict[tuple[str, str], dict[int, float]] = {}
        for r in rows:
            values.setdefault((r["cell"], r["metric"]), {})[int(r["seed"])] = float(r["value"])
        k = len(values)
        for i in range(0, len(seeds) - m + 1, m):
            fold = set(seeds[i : i + m])
            for (cell, metric), by_seed in values.items():
                ci = [v for s, v in by_seed.items() if s in fold]
                rest = tuple(v for s, v in by_seed.items() if s not in fold)
                ds = dict(p.split("=") for p in cell.split(",")).get("dataset")
                tol, _ = tolerance_of(profile, metric, ds).of(rest, m, k)
                compared_pairs += 1
                if abs(np.mean(ci) - np.mean(rest)) > tol:
                    alarms.append((i, cell, metric))
    assert compared_pairs > 100
    assert len(alarms) <= 1, alarms


@pytest.mark.unit
def test_quantities_of_a_run_name_every_layer_and_loss_term():
    summary = {
        "method": "ssd",
        "test_acc": 0.975,
        "firing_rates": {"stages.0.1": 0.2, "stages.1.0.1": 0.1},
        "t_s": 2,
        "t_t": 4,
    }
    epochs = [
        {"loss": 9.0, "loss_task": 9.0, "loss_ssd": 9.0},
        {"loss": 0.5, "loss_task": 0.1, "loss_ssd": 0.4, "loss_tsd": float("nan")},
    ]
    q = quantities(Path("unused"), summary, epochs)  # ssd has no T_t pass: no teacher gap
    assert q == {
        "test_acc": 97.5,
        "firing_rate:stages.0.1": 0.2,
        "firing_rate:stages.1.0.1": 0.1,
        "final_loss": 0.5,
        "final_loss:task": 0.1,
        "final_loss:ssd": 0.4,
    }
    base = quantities(Path("unused"), {**summary, "method": "baseline"}, epochs)
    assert "final_loss" not in base and base["final_loss:task"] == 0.1  # one term: no sum
    profile = load_profile("quick")
    assert all(compared(name, profile) for name in q) and compared("teacher_gap", profile)
    # the one-image floor is for points; a rate or a loss is not floored
    assert tolerance_of(profile, "teacher_gap", "digits").floor_std == 0.28
    assert tolerance_of(profile, "firing_rate:stages.0.1", "digits").floor_std == 0.0
    assert tolerance_of(profile, "final_loss:task", "digits").floor_std == 0.0


@pytest.mark.unit
def test_a_reference_in_the_old_aggregate_format_is_refused(tmp_path):
    prof = _quick_with_reference(tmp_path / "quick.yaml", tmp_path)
    (tmp_path / "table1.csv").write_text("cell,metric,unit,n,mean,std\nx,test_acc,%,3,99,0.5\n")
    with pytest.raises(Exception, match=r"columns \['seed', 'value'\] missing"):
        file_references(load_profile(prof), "table1")


@pytest.mark.smoke
def test_check_passes_on_the_same_runs_and_fails_when_a_cell_moves(tmp_path, capsys):
    """Real harness, tiny experiment, a reference of ten seeds around the measured values."""
    ref_dir = tmp_path / "ref"
    prof = _quick_with_reference(tmp_path / "p" / "quick.yaml", ref_dir)
    exp, res = tiny(tmp_path), str(tmp_path / "results")
    common = ["--profile", str(prof), "--results", res, "--seeds", "0,1"]
    assert cli.main(["run", exp, *common]) == 0
    rows = [
        r for r in read(tmp_path / "results" / "quick" / "tiny.csv") if r["metric"] == "test_acc"
    ]

    def write_ref(shift_tssd: float) -> None:
        with open(ref_dir / "tiny.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["cell", "method", "metric", "unit", "seed", "value"])
            for r in rows:
                mean = float(r["mean"]) + (shift_tssd if r["method"] == "tssd" else 0.0)
                for seed in range(10):  # a spread of 0.5 points around the measured mean
                    w.writerow(
                        [
                            r["cell"],
                            r["method"],
                            "test_acc",
                            "%",
                            seed,
                            mean + 0.5 * (seed % 2 - 0.5) * 2,
                        ]
                    )

    write_ref(0.0)
    assert cli.main(["aggregate", exp, *common]) == 0
    agg = [
        r for r in read(tmp_path / "results" / "quick" / "tiny.csv") if r["metric"] == "test_acc"
    ]
    assert {r["verdict"] for r in agg} == {"pass"}
    assert cli.main(["check", exp, *common]) == 0
    write_ref(5.0)  # the reproduction now sits 5 points below a reference with a 0.5 spread
    assert cli.main(["aggregate", exp, *common]) == 0
    assert cli.main(["check", exp, *common]) == 1
    out = capsys.readouterr().out
    assert "fail" in out and "tolerance" in out and "t-test" in out


@pytest.mark.unit
def test_an_accuracy_only_reference_is_refused_before_anything_trains(tmp_path, capsys):
    """The committed reference's accuracy rows alone (the format before behaviour was compared):
    the check would fail every other quantity after training, so it refuses to start."""
    committed = reference_path(load_profile("quick"), "table1").read_text().splitlines()
    acc = [committed[0], *(line for line in committed[1:] if ",test_acc," in line)]
    assert 1 < len(acc) < len(committed)
    prof = _quick_with_reference(tmp_path / "quick.yaml", tmp_path / "ref")
    (tmp_path / "ref" / "table1.csv").write_text("\n".join(acc) + "\n")
    res = tmp_path / "res"
    assert cli.main(["regression", "--profile", str(prof), "--results", str(res)]) == 2
    err = capsys.readouterr().err
    assert "no rows of firing_rate:*, final_loss:task" in err and "bench reference" in err, err
    assert not (res / "runs").exists()


@pytest.mark.smoke
def test_behaviour_moved_fails_while_accuracy_passes(tmp_path):
    """Real harness, tiny experiment (baseline and tssd); a reference made by the reference's own
    code (``seed_rows``) from two seeds, widened to ten seeds around each mean. The same runs
    pass every quantity; a firing rate or a loss term moved fails that pair alone; a quantity
    the reference lacks or no longer measured fails."""
    ref_dir = tmp_path / "ref"
    prof = _quick_with_reference(tmp_path / "p" / "quick.yaml", ref_dir)
    exp, res = tiny(tmp_path), tmp_path / "results"
    run = ["run", exp, "--profile", str(prof), "--results", str(res), "--seeds", "0,1"]
    assert cli.main(run) == 0
    profile = load_profile(prof)
    plan = expand(load_experiment(Path(exp)), profile, runs_dir=res / "runs", seeds=[0, 1])
    measured = seed_rows(plan, profile)
    names = {(r["cell"], r["metric"]) for r in measured}
    tssd = next(c.id for c in plan.cells if c.key["method"] == "tssd")
    assert (tssd, "teacher_gap") in names and (tssd, "final_loss:tsd") in names
    assert sum(1 for c, m in names if c == tssd and m.startswith("firing_rate:")) >= 2

    def write_ref(move: dict[tuple[str, str], float], drop=()) -> list[dict]:
        means: dict[tuple[str, str], list[float]] = {}
        for r in measured:
            means.setdefault((r["cell"], r["metric"]), []).append(float(r["value"]))
        with open(ref_dir / "tiny.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["cell", "metric", "unit", "seed", "value"])
            for (cell, metric), vals in means.items():
                if (cell, metric) in drop:
                    continue
                mean = float(np.mean(vals))
                spread = 0.5 if in_points(metric) else 0.02 * abs(mean) + 1e-6
                mean += move.get((cell, metric), 0.0) * spread
                for seed in range(10):
                    w.writerow([cell, metric, "", seed, mean + spread * (seed % 2 - 0.5) * 2])
        return check_rows(plan, profile)

    rows = write_ref({})
    assert len(rows) == len(names) and {r["verdict"] for r in rows} == {"pass"}
    assert {r["cells_in_check"] for r in rows} == {len(names)}
    rate = next(m for c, m in sorted(names) if c == tssd and m.startswith("firing_rate:"))
    for moved in [(tssd, rate), (tssd, "final_loss:tsd")]:
        rows = write_ref({moved: 30.0})
        failed = {(r["cell"], r["metric"]) for r in rows if r["verdict"] == "fail"}
        assert failed == {moved}, failed
        assert all(r["verdict"] == "pass" for r in rows if r["metric"] == "test_acc")
    rows = write_ref({}, drop={(tssd, "teacher_gap")})
    bad = [r for r in rows if r["verdict"] == "fail"]
    assert [(r["cell"], r["metric"]) for r in bad] == [(tssd, "teacher_gap")]
    assert "absent from the reference" in bad[0]["reason"]
    # a quantity the reference holds that the runs no longer measure (a spiking layer renamed)
    with open(ref_dir / "tiny.csv", "a", newline="") as f:
        w = csv.writer(f)
        for seed in range(10):
            w.writerow([tssd, "firing_rate:gone", "", seed, 0.1 + 0.01 * seed])
    bad = [r for r in check_rows(plan, profile) if r["verdict"] == "fail"]
    assert ("firing_rate:gone", "in the reference, no longer measured by the runs") in {
        (r["metric"], r["reason"]) for r in bad
    }


# ---- slow: the real quick regression cells, re-trained ----------------------------------------


def _regression(tmp_path: Path, *args: str, src: Path = ROOT) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "regression",
            "--results",
            str(tmp_path / "results"),
            *args,
        ],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.regression
@pytest.mark.parametrize(
    "args",
    [("--seeds", "20,21,22,23,24"), ("--threads", "2", "--workers", "1")],
    ids=["other-seeds", "two-threads"],
)
def test_check_passes_with_other_seeds_or_threads(tmp_path, args):
    code, out = _regression(tmp_path, *args)
    assert code == 0 and "regression: PASS" in out, out[-3000:]


BREAKAGES = {
    # the TSD term pushes the student away from the teacher instead of toward it
    "tsd-sign-flipped": (
        "tssd/steps.py",
        'loss = loss + m.alpha * terms["tsd"]',
        'loss = loss - m.alpha * terms["tsd"]',
    ),
    # every LIF neuron fires at twice its threshold
    "threshold-doubled": (
        "tssd/neurons/spec.py",
        "theta: float = 1.0",
        "theta: float = 2.0",
    ),
    # the weak head's loss no longer reaches the backbone: the SSD term trains only the head
    "weak-head-detached": (
        "tssd/models/heads.py",
        "return self.fc(self.pool(self.sn(self.conv(feature))))",
        "return self.fc(self.pool(self.sn(self.conv(feature.detach()))))",
    ),
    # the fused LIF (the default native implementation) resets to zero after a spike instead of
    # subtracting the threshold, while its backward still differentiates a soft reset
    "soft-reset-turned-hard": (
        "tssd/neurons/fused.py",
        "torch.sub(h, s, alpha=theta, out=v)",
        "torch.addcmul(h, h, s, value=-1.0, out=v)",
    ),
    # the distillation KL runs the wrong way: KL(student || teacher), mode-seeking, for the TSD
    # and SSD terms alike
    "kl-direction-reversed": (
        "tssd/losses.py",
        'kl = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)',
        'kl = F.kl_div(log_p_t, log_p_s, reduction="batchmean", log_target=True)',
    ),
    # the fused LIF saves a surrogate window half as wide as configured (|H - theta| < a/4), so
    # half the gradient's area reaches the input
    "surrogate-window-halved": (
        "tssd/neurons/fused.py",
        "float(spec.decay), float(spec.surrogate_width) / 2\n",
        "float(spec.decay), float(spec.surrogate_width) / 4\n",
    ),
}


@pytest.mark.slow
@pytest.mark.regression
@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_check_fails_on_a_broken_method(tmp_path, name):
    """A copy of the suite with one deliberate bug: the check must fail on it."""
    path, old, new = BREAKAGES[name]
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".nox", "results", "runs"))
    shutil.copytree(ROOT / "results" / "reference", src / "results" / "reference")
    target = src / path
    text = target.read_text()
    assert text.count(old) >= 1, f"{path}: {old!r} not found; update the breakage"
    target.write_text(text.replace(old, new))
    code, out = _regression(tmp_path, src=src)
    assert code == 1 and "regression: FAIL" in out, out[-3000:]
    # which quantities caught it (the reference README's table of breakages)
    check = read(tmp_path / "results" / "regression" / "quick" / "table1_check.csv")
    caught = [r for r in check if r["verdict"] == "fail"]
    assert caught, "the check failed, but no (cell, quantity) pair did"
    print(f"\n{name}: {len(caught)} of {len(check)} pairs failed")
    for r in caught:
        print(f"  {r['cell']}  {r['metric']}  {r['reason']}")


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_each_breakage_still_applies_to_the_code(name):
    """A breakage whose text left the code would test nothing: each occurs exactly once."""
    path, old, new = BREAKAGES[name]
    assert old != new
    assert (ROOT / path).read_text().count(old) == 1, f"{path}: {old!r}; update the breakage"
