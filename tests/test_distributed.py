"""torchrun data parallelism on CPU (gloo, 2 processes): parity with 1 process, kill, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.smoke

ROOT = Path(__file__).resolve().parents[1]
ARGS = [
    "configs/quick_tssd.yaml",
    "--quiet",
    "--set",
    "runtime.threads=1",
    "--set",
    "runtime.deterministic=true",
]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(out: Path, *extra: str, nproc: int = 2) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(nproc),
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "-m",
        "tssd",
        "train",
        *ARGS,
        *extra,
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(p: subprocess.Popen) -> str:
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out
    return out


def kill_job(marker: str) -> int:
    """SIGKILL every process whose command line mentions ``marker`` (torchrun's workers run in
    process groups of their own, so killing the launcher's group is not enough)."""
    killed = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    return killed


def summary(d: Path) -> dict:
    return json.loads((d / "summary.json").read_text())


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    finish(torchrun(tmp_path / "ddp", "--set", "optim.epochs=6"))
    one = subprocess.run(
        [
            sys.executable,
            "-m",
            "tssd",
            "train",
            *ARGS,
            "--set",
            "optim.epochs=6",
            "--out",
            str(tmp_path / "one"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr
    a, b = summary(tmp_path / "ddp"), summary(tmp_path / "one")
    assert (a["world_size"], b["world_size"]) == (2, 1)
    assert a["config_hash"] == b["config_hash"]
    # Tolerance 2 points (7 of 360 test images). Each rank normalises with the batch statistics of
    # its half-batch (SyncBatchNorm is GPU-only in PyTorch), so the two runs follow different
    # trajectories; their gap (0.8 pt measured) is of the size of the seed-to-seed spread of this
    # config (97.8-98.6 % over seeds 0-3, 6 epochs). A broken gradient all-reduce or a wrong shard
    # (each rank training on all data, or on half of it without averaging) is far outside it.
    assert abs(a["test_acc"] - b["test_acc"]) <= 0.02
    assert a["test_acc"] >= 0.9


def test_killed_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    finish(torchrun(tmp_path / "full", "--set", "optim.epochs=5"))
    cut = tmp_path / "cut"
    p = torchrun(cut, "--set", "optim.epochs=5")
    deadline = time.time() + 240
    while time.time() < deadline:  # wait until 2 epochs are on disk, then kill the whole job
        csv = cut / "epochs.csv"
        if csv.is_file() and len(csv.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    assert kill_job(str(cut)) >= 3  # the launcher and both workers
    p.communicate(timeout=60)
    assert summary(cut)["status"] == "running"
    finish(torchrun(cut, "--set", "optim.epochs=5"))
    a, b = summary(cut), summary(tmp_path / "full")
    assert a["status"] == "finished"
    # Deterministic mode, a sample order that is a function of (seed, epoch), and the checkpoint
    # of the last finished epoch: the resumed job redoes exactly the lost work.
    assert (a["test_acc"], a["test_loss"]) == (b["test_acc"], b["test_loss"])
    assert (cut / "epochs.csv").read_text().splitlines()[1:] != []
