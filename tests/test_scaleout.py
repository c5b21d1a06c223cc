"""Scale-out launchers: submitit (local executor standing in for SLURM) and torchrun."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from bench.execute.scaleout import SlurmLauncher, TorchrunLauncher
from bench.execute.worker import RunJob, lock_path
from tssd.config import from_dict

pytestmark = pytest.mark.smoke


def job(tmp_path, seed: int, **method) -> RunJob:
    cfg = from_dict(
        {
            "seed": seed,
            "method": {"name": "baseline", "t_s": 2, **method},
            "model": {"name": "micro_cnn", "width": 8},
            "optim": {"epochs": 2, "schedule": "cosine"},
            "runtime": {"threads": 1, "progress": False},
        }
    )
    rid = cfg.hash()
    return RunJob(
        rid, cfg.to_dict(), str(tmp_path / "runs" / rid), str(lock_path(tmp_path / "runs", rid))
    )


def drain(launcher, n: int, limit_s: float = 300) -> dict:
    got, deadline = {}, time.time() + limit_s
    while len(got) < n and time.time() < deadline:
        for r in launcher.wait(1.0):
            got[r.run_id] = r
    return got


def test_submitit_sweep_of_three_runs_lands_and_a_failed_job_names_its_log(tmp_path):
    jobs = [job(tmp_path, s) for s in range(3)]
    launcher = SlurmLauncher(
        workers=3, folder=tmp_path / "slurm", cluster="local", resources={"timeout_min": 10}
    )
    for j in jobs:
        launcher.submit(j)
    got = drain(launcher, 3)
    assert {r.status for r in got.values()} == {"finished"}, got
    for j in jobs:
        s = json.loads((tmp_path / "runs" / j.run_id / "summary.json").read_text())
        assert s["status"] == "finished" and s["config_hash"] == j.run_id

    # A job whose task dies (here: a config the core rejects inside the task) is reported as an
    # error carrying the path of its log, never as a result.
    bad = RunJob(
        "deadbeef0000",
        {"method": {"name": "no_such_method"}},
        str(tmp_path / "runs" / "bad"),
        str(lock_path(tmp_path / "runs", "bad")),
    )
    launcher.submit(bad)
    res = drain(launcher, 1)["deadbeef0000"]
    assert res.status == "error"
    assert "no_such_method" in res.error
    log = res.error.rsplit("log: ", 1)[1]
    assert log.endswith(".err") and Path(log).is_file()
    launcher.shutdown()


def test_torchrun_launcher_runs_a_two_process_job(tmp_path):
    j = job(tmp_path, 0)
    launcher = TorchrunLauncher(workers=1, nproc=2)
    launcher.submit(j)
    res = drain(launcher, 1)[j.run_id]
    launcher.shutdown()
    assert res.status == "finished", res.error
    s = json.loads((tmp_path / "runs" / j.run_id / "summary.json").read_text())
    assert s["world_size"] == 2
    assert (tmp_path / "runs" / j.run_id / "torchrun.log").is_file()


def test_bench_run_through_a_slurm_array_aggregates_like_a_local_run(tmp_path):
    """`bench run --launcher slurm` (submitit's local executor standing in for SLURM): the runs
    land in the results directory and the table aggregates from them."""
    import csv
    import subprocess
    import sys

    res = tmp_path / "results"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "table4",
            "--results",
            str(res),
            "--seeds",
            "0",
            "--set",
            "optim.epochs=1",
            "--launcher",
            "slurm",
            "--slurm-cluster",
            "local",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TSSD_CACHE": str(tmp_path / "cache")},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    rows = list(csv.DictReader((res / "quick" / "table4.csv").read_text().splitlines()))
    assert rows and all(r["n"] == "1" for r in rows), rows
    assert any((res / "slurm").rglob("*.out"))  # submitit's per-task logs
