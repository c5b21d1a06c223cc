"""The CI regression check: a reference with every seed's value, and a test sized from its spread.

The unit tests check the statistics (false-alarm rate and power, simulated with the committed
reference's own seed counts and spreads) and that the committed reference is complete and not
stale. The smoke test runs the real harness on a tiny experiment against a synthetic reference.
The slow tests re-train the quick regression cells: with other seeds and another thread count
(a stand-in for another machine) the check passes; with a deliberately broken method it fails.
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
from bench.compare import file_references, reference_path
from bench.expand import expand
from bench.regression import TOLERANCE_COLUMNS, regression_of, tolerance_rows
from bench.schema import experiment_path, load_experiment, load_profile
from bench.stats import detectable_shift, per_check_alpha, shift_tolerance


def _ref_dir() -> Path:
    return ROOT / load_profile("quick").reference_dir


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
            rows = [r for r in csv.DictReader(f) if r["metric"] == "test_acc"]
        assert {r["cell"] for r in rows} == {c.id for c in plan.cells}, (
            f"{eid}: reference cells differ from the plan; run python -m bench reference"
        )
        for cell in plan.cells:
            seeds = sorted(int(r["seed"]) for r in rows if r["cell"] == cell.id)
            assert seeds == sorted(reg.reference_seeds), cell.id
            assert all(0.0 < float(r["value"]) <= 100.0 for r in rows if r["cell"] == cell.id)


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
        alphas = {float(g["alpha_cell"]) for g in got}
        # Sidak over the cells of the check: the whole check's false-alarm rate is the profile's
        (alpha,) = alphas
        assert 1 - (1 - alpha) ** len(got) == pytest.approx(profile.tolerance.false_alarm)


def _simulate(stds, n_ref, m, shift, sims, seed=0):
    """Fraction of simulated checks that fail (any cell), and per-cell rejection rates, with the
    production tolerance (``Tolerance.of``) applied to normal seed values."""
    tol = load_profile("quick").tolerance
    rng = np.random.default_rng(seed)
    k = len(stds)
    any_fail = np.zeros(sims, dtype=bool)
    per_cell = []
    for sd in stds:
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
    stds = [
        float(np.std(r.values, ddof=1))
        for eid in reg.experiments
        for r in file_references(profile, eid).values()
    ]
    sims = 40_000
    rate, _ = _simulate(stds, len(reg.reference_seeds), len(reg.seeds), lambda sd: 0.0, sims)
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
    n, m, k = len(reg.reference_seeds), len(reg.seeds), 8
    alpha = per_check_alpha(profile.tolerance.false_alarm, k)
    sims = 20_000
    _, per_cell = _simulate(
        [1.5] * k, n, m, lambda sd: -detectable_shift(sd, n, m, alpha), sims, seed=2
    )
    assert np.mean(per_cell) == pytest.approx(0.95, abs=3.5 * math.sqrt(0.95 * 0.05 / (k * sims)))


@pytest.mark.unit
def test_a_reference_in_the_old_aggregate_format_is_refused(tmp_path):
    profile = load_profile("quick")
    text = (ROOT / "bench" / "profiles" / "quick.yaml").read_text()
    prof = tmp_path / "quick.yaml"
    prof.write_text(
        text.replace(f"reference_dir: {profile.reference_dir}", f"reference_dir: {tmp_path}")
    )
    (tmp_path / "table1.csv").write_text("cell,metric,unit,n,mean,std\nx,test_acc,%,3,99,0.5\n")
    with pytest.raises(Exception, match=r"columns \['seed', 'value'\] missing"):
        file_references(load_profile(prof), "table1")


@pytest.mark.smoke
def test_check_passes_on_the_same_runs_and_fails_when_a_cell_moves(tmp_path, capsys):
    """Real harness, tiny experiment, a reference of ten seeds around the measured values."""
    prof_text = (ROOT / "bench" / "profiles" / "quick.yaml").read_text()
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    (tmp_path / "p").mkdir()
    prof = tmp_path / "p" / "quick.yaml"
    prof.write_text(
        prof_text.replace("reference_dir: results/reference/quick", f"reference_dir: {ref_dir}")
    )
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
        "tssd/methods.py",
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
