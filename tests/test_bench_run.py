"""The runner end to end on tiny runs: caching, failures, teachers, two harnesses, kill and resume.

Each test runs real worker processes on micro_cnn width 8 for a few epochs on the digits (about a
second per run), through ``python -m bench`` like a user would.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import write_tiny

from bench import ROOT, cli
from bench.execute.run import Progress, run_state
from bench.plan.schema import load_profile

pytestmark = pytest.mark.smoke

ROWS = [("b", "Baseline", "baseline"), ("t", "TSSD", "tssd"), ("k", "KD", "kd_ann")]

KD_AND_CLAIM = """\
methods:
  kd_ann:
    set: {{method.name: kd}}
    teacher: {{label: teacher, set: {{method.name: baseline, neuron.backend: ann,
                                      method.t_s: 1{teacher_extra}}}}}
claims:
  - {{id: tssd_wins, kind: greater, text: t, a: {{method: tssd}}, b: {{method: baseline}},
      per: [dataset]}}
"""


def tiny(tmp_path: Path, methods="[baseline, tssd]", epochs=2, extra="", teacher_extra="") -> str:
    """The tiny experiment: rows baseline, tssd and kd_ann (KD from an ANN teacher trained first),
    the grid of ``methods``, ``epochs`` epochs, ``extra`` / ``teacher_extra`` set (``, key: v``)
    on the runs / the teachers."""
    sets = f"model.width: 8, optim.epochs: {epochs}{extra}"
    more = KD_AND_CLAIM.format(teacher_extra=teacher_extra)
    return str(write_tiny(tmp_path, ROWS, sets, methods, more))


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def bench(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_run_renders_and_a_second_run_is_cached(tmp_path, capsys):
    exp, res = tiny(tmp_path), tmp_path / "results"
    assert cli.main(["run", exp, "--results", str(res), "--seeds", "0,1"]) == 0
    out = capsys.readouterr().out
    assert "4 runs: 0 cached, 4 to run" in out and "epoch" in out and "ETA" in out
    rows = read(res / "quick" / "tiny.csv")
    acc = [r for r in rows if r["metric"] == "test_acc"]
    assert len(acc) == 2 and all(r["n"] == "2" and r["status"] == "ok" for r in acc)
    assert all(50.0 < float(r["mean"]) <= 100.0 for r in acc)
    assert all(r["verdict"] == "no-reference" for r in acc)
    runs = read(res / "quick" / "tiny_runs.csv")
    assert len(runs) == 4 and all(r["git_commit"] and r["torch_version"] for r in runs)
    tex = (res / "quick" / "tiny.tex").read_text().splitlines()
    assert [line.split(" & ")[0] for line in tex if r"$\pm$" in line and " & " in line] == [
        "Baseline",
        "TSSD",
    ]
    assert (res / "quick" / "macros.tex").is_file()
    stamps = sorted((p, p.stat().st_mtime_ns) for p in (res / "runs").glob("*/summary.json"))
    assert cli.main(["run", exp, "--results", str(res), "--seeds", "0,1"]) == 0
    # the first invocation recorded its runs: the second one trains nothing
    assert "4 runs: 4 recorded, 0 cached, 0 to run" in capsys.readouterr().out
    assert stamps == sorted(
        (p, p.stat().st_mtime_ns) for p in (res / "runs").glob("*/summary.json")
    )
    assert read(res / "quick" / "tiny.csv") == rows
    assert cli.main(["check", exp, "--results", str(res)]) == 0


def test_failed_run_is_failed_everywhere_never_a_number(tmp_path, capsys):
    exp = tiny(tmp_path, methods="[baseline, kd_ann]", extra=", optim.lr: 1.0e+12")
    res = tmp_path / "results"
    assert cli.main(["run", exp, "--results", str(res), "--seeds", "0"]) == 1
    rows = {r["method"]: r for r in read(res / "quick" / "tiny.csv") if r["metric"] == "test_acc"}
    assert rows["baseline"]["status"] == "failed" and rows["baseline"]["mean"] == ""
    assert rows["baseline"]["verdict"] == "fail" and "non-finite loss" in rows["baseline"]["reason"]
    # the kd cell's teacher (same lr) failed, so the cell never ran
    assert rows["kd_ann"]["status"] in ("failed", "not-run") and rows["kd_ann"]["mean"] == ""
    md = (res / "quick" / "tiny.md").read_text()
    assert "| Baseline | failed |" in md
    assert cli.main(["check", exp, "--results", str(res)]) == 1
    capsys.readouterr()


def test_teacher_runs_first_and_its_failure_blocks_the_cell(tmp_path, capsys):
    res = tmp_path / "results"
    exp = tiny(tmp_path, methods="[kd_ann]", teacher_extra=", optim.lr: 1.0e+12")
    assert cli.main(["run", exp, "--results", str(res), "--seeds", "0"]) == 0
    row = next(r for r in read(res / "quick" / "tiny.csv") if r["metric"] == "test_acc")
    assert row["status"] == "not-run" and row["mean"] == "" and "teacher" in capsys.readouterr().out
    exp = tiny(tmp_path, methods="[kd_ann]")
    assert cli.main(["run", exp, "--results", str(res), "--seeds", "0"]) == 0
    runs = read(res / "quick" / "tiny_runs.csv")
    teacher = next(r for r in runs if r["role"] == "teacher")
    student = next(r for r in runs if r["role"] == "cell")
    assert teacher["status"] == student["status"] == "finished"
    assert teacher["finished"] <= student["started"]
    cfg = json.loads((res / "runs" / student["run_id"] / "summary.json").read_text())
    assert cfg["method"] == "kd"


def test_two_harnesses_on_one_results_dir_run_each_run_once(tmp_path):
    exp, res = tiny(tmp_path, epochs=3), str(tmp_path / "results")
    procs = [
        bench("run", exp, "--results", res, "--seeds", "0,1", "--workers", "1") for _ in range(2)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    trained = sum(o.count(" finished |") for o in outs)
    assert trained == 4, outs  # every run trained by exactly one of the two harnesses
    for d in (tmp_path / "results" / "runs").glob("[0-9a-f]*"):
        epochs = [int(float(r["epoch"])) for r in read(d / "epochs.csv")]
        assert epochs == [1, 2, 3]
    rows = read(tmp_path / "results" / "quick" / "tiny.csv")
    assert len({(r["cell"], r["metric"]) for r in rows}) == len(rows)
    assert all(r["n"] == "2" for r in rows if r["metric"] == "test_acc")


def test_killed_harness_resumes_to_the_same_results(tmp_path):
    exp = tiny(tmp_path, epochs=6)
    ref, res = str(tmp_path / "uninterrupted"), str(tmp_path / "killed")
    p = bench("run", exp, "--results", ref, "--seeds", "0")
    assert p.wait(timeout=300) == 0
    p = bench("run", exp, "--results", res, "--seeds", "0")
    deadline = time.time() + 120
    while time.time() < deadline:
        if any(len(read(f)) >= 2 for f in Path(res, "runs").glob("*/epochs.csv")):
            break
        time.sleep(0.1)
    os.killpg(p.pid, signal.SIGKILL)  # the harness, its fork server and its workers
    p.wait(timeout=30)
    partial = [
        d
        for d in Path(res, "runs").glob("[0-9a-f]*")
        if not (d / "summary.json").is_file()
        or json.loads((d / "summary.json").read_text())["status"] != "finished"
    ]
    assert partial, "the kill came after every run had finished"
    p = bench("run", exp, "--results", res, "--seeds", "0")
    assert p.wait(timeout=300) == 0
    a = {r["cell"]: r for r in read(Path(ref, "quick", "tiny.csv"))}
    b = {r["cell"]: r for r in read(Path(res, "quick", "tiny.csv"))}
    assert a.keys() == b.keys()
    for k in a:
        assert a[k]["mean"] == b[k]["mean"], k  # deterministic runs: resumed = uninterrupted


def test_progress_line_shows_runs_epoch_and_eta(tmp_path):
    import io

    from bench.plan.expand import expand
    from bench.plan.schema import load_experiment

    plan = expand(
        load_experiment(tiny(tmp_path)),
        load_profile("quick"),
        runs_dir=tmp_path / "runs",
        seeds=[0],
    )
    runs = plan.ordered_runs()
    states = {r.run_id: run_state(r, plan.runs_dir) for r in runs}
    d = plan.runs_dir / runs[0].run_id
    d.mkdir(parents=True)
    (d / "epochs.csv").write_text("epoch,lr\n1,0.1\n")
    out = io.StringIO()
    prog = Progress("tiny quick", runs, states, 2, plan.runs_dir, stream=out)
    prog.begin()
    prog.started(runs[0])
    prog.tick(force=True)
    text = out.getvalue()
    assert "2 runs: 0 cached, 2 to run" in text
    assert f"{runs[0].name} epoch 1/2" in text and "0/2 runs" in text and "ETA" in text


def test_estimate_prices_a_run_shared_by_two_experiments_in_each_from_its_calibration(
    tmp_path, capsys, monkeypatch
):
    """``--dry-run --estimate`` per experiment: Figure 5 reuses Table 1's runs, so each of its
    lines must sum the calibrated seconds (not the profile's cost model) of the runs it holds."""
    from bench.execute import run as run_mod

    monkeypatch.setattr(run_mod, "calibrated_seconds", lambda *_: 360.0)
    args = ["run", "table1", "figure5", "--profile", "quick", "--seeds", "0"]
    assert cli.main([*args, "--results", str(tmp_path), "--dry-run", "--estimate"]) == 0
    out = capsys.readouterr().out
    hours = {line.split()[0]: float(line.split()[1]) for line in out.splitlines() if " h" in line}
    # table1: 10 runs; figure5: 4 of them; each calibrated at 360 s = 0.1 h
    assert hours == {"table1": 1.0, "figure5": 0.4, "all": 1.0}


def test_experiments_sharing_a_run_must_agree_outside_its_hash(tmp_path, capsys):
    """Figure 5 reuses Table 1's runs; a copy of it that validates at another interval
    (``eval.every`` is not in the run hash) would lose that setting to Table 1's run, silently.
    The plan refuses it in one line naming the file, the run and the field, before any run."""
    text = (ROOT / "bench" / "experiments" / "figure5.yaml").read_text()
    exp = tmp_path / "figure5_every3.yaml"
    exp.write_text(
        text.replace("id: figure5", "id: figure5_every3")
        + "profiles:\n  quick: {set: {eval.every: 3}}\n"
    )
    args = ["run", "table1", str(exp), "--profile", "quick", "--seeds", "0", "--dry-run"]
    assert cli.main([*args, "--results", str(tmp_path / "results")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "figure5_every3.yaml" in err[0] and "also planned by table1" in err[0]
    assert "eval.every=" in err[0] and "here 3" in err[0]
    assert not (tmp_path / "results" / "runs").exists()  # nothing started
    # agreeing copies plan fine
    copy = tmp_path / "figure5_copy.yaml"
    copy.write_text(text.replace("id: figure5", "id: figure5_copy"))
    args[2] = str(copy)
    assert cli.main([*args, "--results", str(tmp_path / "results")]) == 0
