"""The CPU side of benchmarks/gpu_check.py: the one-line exit without CUDA, the step runner's time
limits and reports (with fake steps), the plan and the 1-epoch run's config."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gc():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclasses look their module up while it loads
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("gpu_check", None)


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def alive(pid: int) -> bool:
    """Running (a zombie, killed and waiting for its reaper, counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_without_cuda_it_says_so_in_one_line_and_exits_0(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and "no CUDA device" in lines[0], proc.stdout
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_hanging_step_gets_sigint_at_its_limit_then_sigkill_after_the_grace(gc, tmp_path):
    """Which signal ended a step shows in its exit status, never in its timing: a loaded
    machine (CI beside other jobs) stretches every step's seconds."""
    # (a child still starting when SIGINT comes dies of it too: the exit status says SIGINT)
    r = gc.run_step(gc.Step("hangs", py("import time; time.sleep(60)"), 2.0), tmp_path, 60, 20.0)
    assert r["status"] == "timeout" and "ran past its limit of 2 s" in r["why"]
    assert r["rc"] == -signal.SIGINT and r["seconds"] >= 2.0  # not the SIGKILL 20 s later

    grandchild = tmp_path / "grandchild.pid"
    stubborn = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(grandchild)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    # 5 s: time enough for the child to start and ignore SIGINT even on a loaded machine
    r = gc.run_step(gc.Step("stubborn", py(stubborn), 5.0), tmp_path, 60, grace_s=0.5)
    assert r["status"] == "timeout" and r["rc"] == -signal.SIGKILL  # ignored SIGINT
    assert r["seconds"] >= 5.5
    pid = int(grandchild.read_text())
    for _ in range(100):  # its whole process group was killed, the grandchild too
        if not alive(pid):
            break
        time.sleep(0.05)
    assert not alive(pid)


def test_steps_ok_failed_and_skipped_within_the_budget(gc, tmp_path):
    steps = [
        gc.Step("ok", py("print('hello from ok')"), 20, "ok.txt"),
        gc.Step("failed", py("raise SystemExit(3)"), 20),
        gc.Step("late", py("print('never')"), 20),
    ]
    ticks = iter([0.0, 0.0, 1.0, 1.0, 8.0, 8.0, 8.0, 8.0])  # the clock of the budget

    def clock():
        return next(ticks, 8.0)

    results = gc.run_steps(steps, tmp_path, budget_s=10.0, grace_s=0.5, min_step_s=3.0, clock=clock)
    status = {r["name"]: r["status"] for r in results}
    assert status == {"ok": "ok", "failed": "failed", "late": "skipped"}
    by = {r["name"]: r for r in results}
    assert by["failed"]["rc"] == 3 and "exit status 3" in by["failed"]["why"]
    assert by["late"]["why"] == "no time left in the budget"  # 2 s left, 3 s needed
    assert "hello from ok" in (tmp_path / "ok.log").read_text()
    assert not (tmp_path / "late.log").exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [s["status"] for s in summary["steps"]] == list(status.values())
    assert summary["all_ok"] is False and summary["budget_s"] == 10.0
    text = gc.table(results)
    assert text.splitlines()[0].split()[:4] == ["step", "status", "seconds", "limit"]
    assert all(name in text for name in status) and "ok.txt" in text


def test_a_step_that_cannot_start_is_failed(gc, tmp_path):
    r = gc.run_step(gc.Step("missing", [str(tmp_path / "no-such-program")], 5), tmp_path, 60)
    assert r["status"] == "failed" and r["why"]


def test_the_plan_fits_8_minutes(gc, tmp_path):
    steps = gc.plan(tmp_path, "python3", "/tmp/site", ["a.whl"], "torch2.11.0", quick=False)
    names = [s.name for s in steps]
    assert names == ["install-wheels", "gpu-tests", "compiled-lif", "gpu-bench", "small-1-epoch"]
    assert sum(s.limit_s for s in steps) + gc.GRACE_S <= gc.BUDGET_S <= 480 - 10
    for s in steps[1:]:
        assert s.env["PYTHONPATH"].split(":")[:2] == ["/tmp/site", str(ROOT)]
    gpu_tests = " ".join(steps[1].argv)
    assert "-m gpu tests/test_gpu.py" in gpu_tests and "--junitxml" in gpu_tests
    assert "-m gpu tests/test_compiled_lif.py" in " ".join(steps[2].argv)
    bench = steps[3].argv
    assert "benchmarks/test_gpu_bench.py" in bench and "--bench-ratios" in bench
    assert "--no-index" in steps[0].argv and "--target" in steps[0].argv
    no_wheels = gc.plan(tmp_path, "python3", "", [], "torch2.11.0", quick=True)
    assert [s.name for s in no_wheels][0] == "gpu-tests" and "--bench-quick" in no_wheels[2].argv


def test_the_one_epoch_run_is_the_small_profiles_fashion_mnist_column(gc):
    from tssd.config import load_config

    cfg = load_config(None, gc.small_run_settings("/usr/share/datasets"))
    assert (cfg.data.name, cfg.data.size, cfg.data.batch_size) == ("fashion_mnist", 16, 64)
    assert cfg.data.options["train_per_class"] == 200
    assert (cfg.model.name, cfg.model.width, cfg.optim.name, cfg.optim.epochs) == (
        "vgg9",
        16,
        "adamw",
        1,
    )
    assert (cfg.method.name, cfg.method.t_s, cfg.method.t_t) == ("tssd", 2, 4)
    assert cfg.runtime.device == "cuda"


def test_main_runs_the_plan_and_prints_the_table(gc, tmp_path, monkeypatch, capsys):
    facts = {"torch": "2.11.0+cu128", "cuda": "12.8", "gpu": "Fake GPU"}
    monkeypatch.setattr(gc, "cuda_probe", lambda: (True, "", facts))
    monkeypatch.setattr(
        gc, "plan", lambda *a: [gc.Step("one", py("print(1)"), 10), gc.Step("two", py("1/0"), 10)]
    )
    assert gc.main([str(tmp_path)]) == 1  # one step failed
    out = capsys.readouterr().out
    assert "Fake GPU" in out and out.rstrip().splitlines()[-1].startswith("summary:")
    summary = json.loads((tmp_path / "gpu-check" / "summary.json").read_text())
    assert summary["gpu"] == "Fake GPU" and [s["status"] for s in summary["steps"]] == [
        "ok",
        "failed",
    ]
    assert json.loads((tmp_path / "gpu-check" / "env.json").read_text())["torch"] == facts["torch"]


def test_steps_option_picks_and_orders_steps(gc, tmp_path):
    steps = gc.plan(tmp_path, sys.executable, "/site", ["x.whl"], "torch2", quick=True)
    picked = gc.select(steps, "gpu-bench, gpu-tests")
    assert [s.name for s in picked] == ["install-wheels", "gpu-bench", "gpu-tests"]
    assert gc.select(steps, "") == steps
    with pytest.raises(SystemExit, match="unknown step nope; expected some of install-wheels"):
        gc.select(steps, "gpu-bench,nope")
