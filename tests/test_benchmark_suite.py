"""The benchmark suite (benchmarks/) runs and reports its ratios.

The suite runs in a subprocess (its own pytest session, as ``nox -s benchmark`` runs it) in quick
mode with one round. No timing is asserted (the machine is shared and noisy): only that every
ratio of the collected sections is computed from measurements of the run and printed with its
target and verdict, and that the JSON reports are written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def run_suite(tmp_path: Path, *args: str, timeout: float) -> tuple[str, dict, dict]:
    ratios, bench = tmp_path / "ratios.json", tmp_path / "bench.json"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "--bench-quick",
        "--bench-rounds",
        "1",
        "--bench-threads",
        "1",
        "--bench-ratios",
        str(ratios),
        "--benchmark-json",
        str(bench),
        *args,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    report = json.loads(ratios.read_text())
    saved = json.loads(bench.read_text()) if bench.exists() else {}
    return out, report, saved


@pytest.mark.smoke
def test_eager_layers_report_their_ratios(tmp_path):
    out, report, saved = run_suite(
        tmp_path, "benchmarks/test_neurons.py", "-k", "not compile", timeout=600
    )
    assert "TSSD benchmark: ratios measured in this run" in out
    assert report["complete"] and report["quick"] and report["device"] in ("cpu", "cuda")
    assert {r["section"] for r in report["ratios"]} == {"neurons"}  # only what was collected
    by_label = {r["label"]: r for r in report["ratios"]}
    fused = by_label["fused LIF / reference loop, time (T=8)"]
    assert fused["value"] > 0 and fused["verdict"] in ("MET", "NOT MET")
    assert fused["numerator"] == "layer T=8/native-fused"
    assert f"{fused['label']}" in out and "(target <= 0.6x, issue 7)" in out
    compiled = by_label["compiled LIF / ReLU, time (T=8)"]  # deselected: reported, not computed
    assert compiled["value"] is None and compiled["why"].startswith("not measured")
    m = report["measurements"]["layer T=8/native-loop"]
    assert m["median_s"] > 0 and m["peak_bytes"] > 0
    assert report["layer_peak_mib"]["layer T=8/native-fused"] > 0
    names = {b["name"] for b in saved["benchmarks"]}
    assert "test_layer[T=8-native-fused]" in names
    assert all("peak_mib" in b["extra_info"] for b in saved["benchmarks"])


@pytest.mark.smoke
def test_with_timing_disabled_the_report_says_so(tmp_path):
    out, report, _ = run_suite(
        tmp_path,
        "benchmarks/test_neurons.py",
        "-k",
        "(native-fused or native-loop) and not compile",
        "--benchmark-disable",
        timeout=600,
    )
    row = next(
        r for r in report["ratios"] if r["label"] == "fused LIF / reference loop, time (T=8)"
    )
    assert row["value"] is None and row["why"].startswith("not timed")
    assert "n/a (not timed" in out


@pytest.mark.slow
def test_the_whole_suite_in_quick_mode(tmp_path):
    out, report, saved = run_suite(tmp_path, "benchmarks", timeout=3600)
    print(out[out.find("TSSD benchmark: ratios") - 40 :])  # the report, for -s / -rA
    assert report["complete"]
    sections = {r["section"] for r in report["ratios"] + report["values"]}
    assert {"neurons", "steps", "data", "gpu"} <= sections
    for r in report["ratios"] + report["values"]:
        if r["section"] == "gpu" and not report["gpu"]:
            assert r["value"] is None  # skipped without CUDA
            continue
        if "spikingjelly" in json.dumps(r) and not report["spikingjelly"]:
            continue
        if "snntorch" in json.dumps(r) and not report["snntorch"]:
            continue
        assert r["value"] is not None and r["value"] > 0, r
        assert r["verdict"] in (("MET", "NOT MET") if r["target"] else ("no target",)), r
    cold = {r["label"] for r in report["values"] if r["unit"] == "s"}
    assert {"native-compiled layer T=8", "micro baseline step"} <= cold
    assert "MET" in out and "peak memory of one layer's forward+backward" in out
    groups = {b["group"] for b in saved["benchmarks"]}
    assert {"layer T=8", "micro baseline", "small-static tssd", "data", "cold compile"} <= groups


def test_peak_memory_counts_the_blocks_the_call_holds_at_once():
    # The peak is the most the call holds at one moment, of the blocks it allocated. A block made
    # before the call and freed inside it (an old .grad, a tensor of an earlier test collected
    # late) neither counts nor lowers the level, whether it was made outside any profiling window
    # or inside an earlier one (the profiler's running total subtracted the latter: the loop's
    # 248 MiB at T = 8 came out as 184 after an earlier test's 64 MiB gradient was collected).
    from benchmarks.conftest import peak_bytes

    cpu, mib = torch.device("cpu"), 2**18  # float32 elements in 1 MiB
    old = [torch.ones(4 * mib)]  # allocated outside any window
    assert peak_bytes(lambda: old.append(torch.ones(4 * mib)), cpu) == 4 * 2**20  # kept

    def call() -> None:
        old.clear()  # both old blocks freed inside this window
        a = torch.ones(2 * mib)
        b = torch.ones(mib)
        del a
        c = torch.ones(mib)
        del b, c

    assert peak_bytes(call, cpu) == 3 * 2**20  # a and b together; c takes a's place
    assert peak_bytes(lambda: None, cpu) == 0
