"""The runner's progress display: a log (file, CI, nohup) gets the same lines as always, line for
line; a terminal gets a live rich bar with each running run's epoch and the harness's own ETA.

Driven by hand with fake runs and a fake clock, so every line is exact.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.execute import run as runner
from bench.execute.run import Outcome, Progress
from bench.plan.expand import PlannedRun
from tssd.rundir import RunState

pytestmark = pytest.mark.unit


class Clock:
    """``time.time`` for the runner: set by the test."""

    def __init__(self):
        self.now = 1000.0

    def time(self) -> float:
        return self.now


def fake_run(rid: str, est_s: float | None = 100.0) -> PlannedRun:
    cfg = SimpleNamespace(optim=SimpleNamespace(epochs=4))
    return PlannedRun(rid, cfg, f"tiny/{rid}", 0, "cell", est_s=est_s)


def epochs(runs_dir: Path, rid: str, n: int) -> None:
    d = runs_dir / rid
    d.mkdir(parents=True, exist_ok=True)
    (d / "epochs.csv").write_text("epoch\n" + "".join(f"{i}\n" for i in range(1, n + 1)))


def drive(stream, runs_dir: Path, clock: Clock) -> Progress:
    """Six runs through every path of the display: recorded, cached, failed earlier, not
    runnable, one that finishes and one that errors, with two status ticks in between."""
    runs = [fake_run(r) for r in "abcdf"] + [fake_run("e", est_s=300.0)]
    states = {
        "a": RunState("finished"),
        "b": RunState("finished"),
        "c": RunState("failed", error="non-finite loss"),
        "d": RunState("new"),
        "e": RunState("partial", epochs_done=1),
        "f": RunState("unavailable", error="dataset foo is not registered"),
    }
    by = {r.run_id: r for r in runs}
    p = Progress("tiny quick", runs, states, 2, runs_dir, stream=stream, recorded={"a"})
    p.begin()
    p.finished(by["a"], Outcome("a", "finished", cached=True))
    p.finished(by["b"], Outcome("b", "finished", cached=True))
    p.finished(by["c"], Outcome("c", "failed", "non-finite loss", cached=True))
    p.finished(by["f"], Outcome("f", "unavailable", "dataset foo is not registered", cached=True))
    p.started(by["d"])
    clock.now += 1
    p.started(by["e"])
    epochs(runs_dir, "d", 2)
    epochs(runs_dir, "e", 1)
    clock.now += 5
    p.tick()  # within the interval: nothing in a log
    clock.now += 20
    p.tick()
    clock.now += 14
    epochs(runs_dir, "d", 4)
    p.finished(by["d"], Outcome("d", "finished", wall_s=40.0))
    clock.now += 10
    p.finished(by["e"], Outcome("e", "error", "boom: no data\ntraceback"))
    p.end()
    return p


LOG = """\
[tiny quick] 6 runs: 1 recorded, 1 cached, 2 to run, 1 failed earlier (--force retries them), \
1 not runnable here, 2 worker(s); estimated 2m42s
[tiny quick] 3/6 runs (1 recorded, 1 cached, 1 failed) | tiny/c failed earlier: non-finite loss \
(run dir {d}/c) | ETA 2m42s
[tiny quick] 4/6 runs (1 recorded, 1 cached, 1 failed, 1 not runnable) | tiny/f unavailable \
earlier: dataset foo is not registered | ETA 2m42s
[tiny quick] 4/6 runs (1 recorded, 1 cached, 1 failed, 1 not runnable) | running: tiny/d epoch \
2/4, tiny/e epoch 1/4 | ETA 2m18s
[tiny quick] 5/6 runs (1 recorded, 1 cached, 1 failed, 1 not runnable) | tiny/d finished | ETA \
45s
[tiny quick] 6/6 runs (1 recorded, 1 cached, 2 failed, 1 not runnable) | tiny/e error: boom: no \
data (run dir {d}/e) | ETA 0s
[tiny quick] 6/6 runs (1 recorded, 1 cached, 2 failed, 1 not runnable) | done
"""


def test_a_log_gets_the_same_lines_as_always(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(runner, "time", clock)
    out = io.StringIO()
    drive(out, tmp_path, clock)
    assert out.getvalue() == LOG.format(d=tmp_path)


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def frames(raw: str) -> list[list[str]]:
    """The screen (its lines) after each redraw of a terminal stream: a redraw starts with a
    carriage return; a line erase (ESC[2K) and cursor up (ESC[nA) are followed, colours and the
    cursor's visibility dropped."""
    lines, row, col, shots = [""], 0, 0, []
    for tok in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\n|[^\x1b\r\n]+", raw):
        if tok == "\r":
            shots.append(list(lines))
            col = 0
        elif tok == "\n":
            row, col = row + 1, 0
            lines += [""] * (row + 1 - len(lines))
        elif tok.endswith("K"):
            lines[row] = ""
        elif tok.endswith("A"):
            row -= int(tok[2:-1] or 1)
        elif not tok.startswith("\x1b"):
            lines[row] = lines[row][:col].ljust(col) + tok + lines[row][col + len(tok) :]
            col += len(tok)
    return [*shots, lines]


def test_a_terminal_gets_a_live_bar_with_the_running_epochs_and_our_eta(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "xterm")  # not "dumb": rich draws no live display there
    clock = Clock()
    monkeypatch.setattr(runner, "time", clock)
    out = Terminal()
    drive(out, tmp_path, clock)
    shots = frames(out.getvalue())
    # while d and e train: the whole invocation's row with our ETA, then a row per running run
    bar = next(s for s in shots if any("tiny/e epoch 1/4" in line for line in s))
    assert bar[-3].startswith("[tiny quick] 4/6 runs (1 recorded, 1 cached, 1 failed, 1 not")
    assert bar[-3].endswith(" ETA 2m18s")
    assert bar[-2].split()[:3] == ["tiny/d", "epoch", "2/4"] and "━" in bar[-2]
    assert bar[-1].split()[:3] == ["tiny/e", "epoch", "1/4"] and "━" in bar[-1]
    # at the end the bar is gone: the lines that stay are the log's, less its status lines
    log = [line for line in LOG.format(d=tmp_path).splitlines() if "running:" not in line]
    assert [line for line in shots[-1] if line] == log
    assert "running:" not in out.getvalue()


def test_an_interrupted_bar_stays_and_gives_the_terminal_its_cursor_back(tmp_path, monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    runs = [fake_run("a")]
    out = Terminal()
    p = Progress("t", runs, {"a": RunState("new")}, 1, tmp_path, stream=out)
    p.begin()
    p.started(runs[0])
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "epochs.csv").write_text("epoch\n1\n")
    p.stop(keep=True)  # what the runner does on Ctrl-C
    raw = out.getvalue()
    assert raw.rindex("\x1b[?25h") > raw.rindex("\x1b[?25l")
    last = [line for line in frames(raw)[-1] if line.strip()][-1]
    assert last.split()[:3] == ["tiny/a", "epoch", "1/4"]  # where it stopped


def test_a_terminal_without_rich_gets_the_log_lines(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rich.console", None)  # import rich.console fails
    clock = Clock()
    monkeypatch.setattr(runner, "time", clock)
    out = Terminal()
    drive(out, tmp_path, clock)
    assert out.getvalue() == LOG.format(d=tmp_path)


def test_a_paused_run_does_not_stretch_the_eta(tmp_path, monkeypatch):
    """A run held by SIGSTOP for an hour inside one epoch: the ETA's actual/estimated ratio
    counts its epochs as they ran, not the hour (the same 2x-median rule as records --timing)."""
    clock = Clock()
    monkeypatch.setattr(runner, "time", clock)

    def finish(times: list[float]) -> float:
        runs = [fake_run("p"), fake_run("q")]
        states = {"p": RunState("new"), "q": RunState("new")}
        prog = Progress("t", runs, states, 1, tmp_path, stream=io.StringIO())
        prog.started(runs[0])
        d = tmp_path / "p"
        d.mkdir(exist_ok=True)
        rows = "".join(f"{i},{t}\n" for i, t in enumerate(times, 1))
        (d / "epochs.csv").write_text("epoch,epoch_time_s\n" + rows)
        clock.now += sum(times)
        prog.finished(runs[0], Outcome("p", "finished"))
        return prog.eta()

    steady = finish([40.0, 40.0, 40.0, 40.0, 40.0])  # 200 s against an estimate of 100 s
    paused = finish([40.0, 3640.0, 40.0, 40.0, 40.0])  # the same run, stopped an hour in epoch 2
    assert steady == pytest.approx(200.0)  # q: its 100 s estimate x the measured 2.0
    assert paused == pytest.approx(steady)
    tested = finish([40.0, 40.0, 40.0, 40.0, 140.0])  # the last epoch also tests: not a pause
    assert tested == pytest.approx(300.0)
    unreadable = finish([50.0, 3650.0])  # too few epochs to trust a median: wall time as it is
    assert unreadable == pytest.approx(3700.0)


def test_paused_seconds_counts_only_what_a_paused_epoch_took_beyond_the_median():
    assert runner.paused_seconds([10.0, 11.0, 9.0, 10.0, 10.0]) == 0.0
    assert runner.paused_seconds([10.0, 10.0, 18.0, 10.0, 10.0]) == 0.0  # one that validates
    assert runner.paused_seconds([10.0, 70.0, 10.0, 10.0, 10.0]) == pytest.approx(60.0)
    # a cold compile in the first epoch and the final test in the last are not pauses
    assert runner.paused_seconds([200.0, 10.0, 10.0, 10.0, 60.0]) == 0.0
    assert runner.paused_seconds([10.0, 500.0, 10.0]) == 0.0  # too few epochs in between
