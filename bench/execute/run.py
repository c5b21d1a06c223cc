"""The runner: plan -> runs through a launcher, cached, resumed, with progress (bench/README.md,
"Runs")."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bench.execute.launch import Launcher
from bench.execute.worker import JobResult, RunJob, lock_path
from bench.plan.expand import PlannedRun
from tssd.api import TERMINAL, RunDir, RunState

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID


@dataclass
class Outcome:
    """How a run ended in this invocation (``cached`` when it was already done)."""

    run_id: str
    status: str  # finished | failed | unavailable | error | not-run | interrupted
    error: str = ""
    wall_s: float = 0.0
    cached: bool = False


def run_state(run: PlannedRun, runs_dir: Path) -> RunState:
    """A run's state (:meth:`tssd.rundir.RunDir.state`; ``unavailable`` when not runnable here)."""
    if run.unavailable:
        return RunState("unavailable", error=run.unavailable)
    # deep: a finished run's config.yaml and checkpoint must be of this run id, or it is an error
    return RunDir(runs_dir / run.run_id).state(run.run_id, deep=True)


def calibrated_seconds(
    run: PlannedRun,
    runs: dict[str, PlannedRun],
    startup_s: float,
    parallel_runs: int = 1,
    measure: bool = True,
) -> float:
    """A run's time from training steps measured on this machine (:mod:`tssd.calibrate`) as the
    harness trains it, ``parallel_runs`` at once, plus a KD run's teacher forward passes
    (KeyError: unknown dataset; CalibrationFailed: a step could not be timed that way, or is not
    cached and ``measure`` is False)."""
    from tssd.api import calibrate, estimate, shape_of

    cfg = run.cfg
    cal = calibrate(cfg, cfg.runtime.device, parallel_runs=parallel_runs, measure=measure)
    seconds = estimate(cfg, cal, startup_s).total_s
    for dep in run.deps:
        tcfg = runs[dep].cfg
        cal = calibrate(tcfg, tcfg.runtime.device, parallel_runs=parallel_runs, measure=measure)
        images = shape_of(cfg.data).n_train * cfg.optim.epochs
        seconds += images * cal["sec_per_forward_batch"] / tcfg.data.batch_size
    return seconds


def short(message: str, limit: int = 160) -> str:
    """The first line of an error message, cut to ``limit`` characters."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


PAUSED_EPOCH = 2.0
"""An epoch over this times the run's median epoch held a pause (SIGSTOP, a suspended machine)."""


def paused_seconds(times: list[float]) -> float:
    """Seconds of pause in a run's epoch ``times``: what each epoch over :data:`PAUSED_EPOCH` x
    the median took beyond the median. The first epoch (warm-up, a cold compile) and the last
    (it also tests) are long by design and never counted; 0 with fewer than 3 epochs between."""
    inner = times[1:-1]
    if len(inner) < 3:
        return 0.0
    med = statistics.median(inner)
    return sum(t - med for t in inner if t > PAUSED_EPOCH * med)


def fmt_seconds(s: float | None) -> str:
    """``75`` -> ``1m15s``; None -> ``?``."""
    if s is None:
        return "?"
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class Progress:
    """Runs done, running epochs and our ETA (rich's ignores cost estimates): a live rich bar on a
    terminal, else a line per finished run and a status line every ``interval_s`` s."""

    def __init__(
        self,
        label: str,
        runs: list[PlannedRun],
        states: dict[str, RunState],
        capacity: int,
        runs_dir: Path,
        stream: TextIO | None = None,
        interval_s: float = 20.0,
        recorded: set[str] | None = None,
    ):
        self.label, self.capacity, self.runs_dir, self.states = label, capacity, runs_dir, states
        self.recorded = recorded or set()  # done by their committed records: "recorded"
        self.runs = {r.run_id: r for r in runs}
        self.stream, self.interval = stream or sys.stdout, interval_s
        self.done: dict[str, Outcome] = {}
        self.running: dict[str, float] = {}  # run -> when it started
        self.est_done = self.actual_done = self.last_line = 0.0
        known = [r.est_s for r in runs if r.est_s is not None]
        self.default_est = sum(known) / len(known) if known else 60.0
        tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.bar = self._live_bar() if tty else None  # first task: the whole invocation
        self.rows: dict[str, TaskID] = {}  # running run -> its row of the bar

    def _live_bar(self) -> RichProgress | None:
        try:
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn
            from rich.progress import Progress as RichProgress
        except ImportError:  # a cosmetic extra: without it a terminal gets the log lines
            return None
        bar = RichProgress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.fields[eta]}", markup=False),
            console=Console(file=self.stream, force_terminal=True, highlight=False, emoji=False),
            auto_refresh=False,  # refreshed by tick(), which the runner calls every poll
        )
        bar.add_task("", total=len(self.runs), eta="")
        return bar

    def _left(self, rid: str, done: int | None = None) -> float:
        """Estimated seconds of run ``rid`` after ``done`` epochs (None: where it started)."""
        r, st = self.runs[rid], self.states.get(rid)
        if done is None:
            done = st.epochs_done if st and st.status == "partial" else 0
        est = self.default_est if r.est_s is None else r.est_s
        return est * (1.0 - min(1.0, done / max(1, r.cfg.optim.epochs))) if done else est

    def eta(self) -> float:
        """Seconds left: estimates of what remains, scaled by actual/estimated so far."""
        ratio = self.actual_done / self.est_done if self.est_done > 0 else 1.0
        left = 0.0
        for rid in self.runs:
            st = self.states.get(rid)
            if rid in self.done or (st is not None and st.status in (*TERMINAL, "unavailable")):
                continue
            running = rid in self.running
            left += self._left(rid, RunDir(self.runs_dir / rid).epochs_done() if running else None)
        return left * ratio / max(1, self.capacity)

    def _counts(self) -> str:
        # "recorded" = done by a committed record; "cached" = a finished run directory reused;
        # a failed run counts as failed, cached or not.
        reused = [r for r, o in self.done.items() if o.cached and o.status == "finished"]
        recorded = sum(r in self.recorded for r in reused)
        counts = {
            "recorded": recorded,
            "cached": len(reused) - recorded,
            "failed": sum(o.status in ("failed", "error") for o in self.done.values()),
            "not runnable": sum(o.status in ("unavailable", "not-run") for o in self.done.values()),
        }
        extra = [f"{k} {what}" for what, k in counts.items() if k]
        return f"{len(self.done)}/{len(self.runs)} runs" + (
            f" ({', '.join(extra)})" if extra else ""
        )

    def _epoch(self, rid: str) -> tuple[int, int, str]:
        """A running run's epochs done and in all, and ``name epoch k/N``."""
        r, done = self.runs[rid], RunDir(self.runs_dir / rid).epochs_done()
        return done, r.cfg.optim.epochs, f"{r.name} epoch {done}/{r.cfg.optim.epochs}"

    def _line(self, text: str) -> None:
        """A line that stays: above the live bar on a terminal."""
        if self.bar is not None:
            if self.bar.live.is_started:  # printing redraws the bar: bring it up to date
                self._refresh()
            self.bar.console.print(text, markup=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def begin(self) -> None:
        """Say what will happen."""
        status = [self.states[r].status for r in self.runs]
        todo = sum(s not in (*TERMINAL, "unavailable") for s in status)
        recorded = sum(
            r in self.recorded and self.states[r].status == "finished" for r in self.runs
        )
        cached = status.count("finished") - recorded
        failed, na = status.count("failed"), status.count("unavailable")
        self._line(
            f"[{self.label}] {len(self.runs)} runs: "
            + (f"{recorded} recorded, " if recorded else "")
            + f"{cached} cached, {todo} to run"
            + (f", {failed} failed earlier (--force retries them)" if failed else "")
            + (f", {na} not runnable here" if na else "")
            + f", {self.capacity} worker(s); estimated {fmt_seconds(self.eta())}"
        )
        if self.bar is not None:
            self.bar.start()
            self._refresh()

    def started(self, run: PlannedRun) -> None:  # noqa: D102
        self.running[run.run_id] = time.time()
        self.tick()

    def finished(self, run: PlannedRun, outcome: Outcome) -> None:
        """Record an outcome; one line per run that actually ran or failed."""
        t0 = self.running.pop(run.run_id, None)
        self.done[run.run_id] = outcome
        if t0 is not None and outcome.status == "finished":
            # the ETA's actual/estimated ratio, blind to pauses: a run stopped for an hour
            # (kill -STOP while benchmarking) must not make every run left look an hour longer
            st = self.states.get(run.run_id)
            start = st.epochs_done if st and st.status == "partial" else 0
            rows = RunDir(self.runs_dir / run.run_id).read_epochs()[start:]
            pause = paused_seconds([e["epoch_time_s"] for e in rows if "epoch_time_s" in e])
            self.est_done += self._left(run.run_id)
            self.actual_done += max(0.0, time.time() - t0 - pause)
        if outcome.cached and outcome.status == "finished":
            return
        what = outcome.status + (" earlier" if outcome.cached else "")
        what += f": {short(outcome.error)}" if outcome.error else ""
        if outcome.status in ("failed", "error"):  # where to look
            what += f" (run dir {self.runs_dir / run.run_id})"
        eta = fmt_seconds(self.eta())
        self._line(f"[{self.label}] {self._counts()} | {run.name} {what} | ETA {eta}")
        self.last_line = time.time()

    def tick(self, force: bool = False) -> None:
        """Refresh the status (a terminal: every call; a log: a line every ``interval`` s)."""
        if self.bar is not None:
            self._refresh()
            return
        now = time.time()
        if not force and now - self.last_line < self.interval:
            return
        self.last_line = now
        running = ", ".join(self._epoch(rid)[2] for rid in self.running)
        self._line(
            f"[{self.label}] {self._counts()}"
            + (f" | running: {running}" if running else "")
            + f" | ETA {fmt_seconds(self.eta())}"
        )

    def _refresh(self) -> None:
        for rid in self.rows.keys() - self.running.keys():  # finished, or back in the queue
            self.bar.remove_task(self.rows.pop(rid))
        for rid in self.running:
            done, total, text = self._epoch(rid)
            if rid not in self.rows:
                self.rows[rid] = self.bar.add_task("", eta="")
            self.bar.update(self.rows[rid], description=f"  {text}", completed=done, total=total)
        head, eta = f"[{self.label}] {self._counts()}", f"ETA {fmt_seconds(self.eta())}"
        self.bar.update(self.bar.task_ids[0], description=head, completed=len(self.done), eta=eta)
        self.bar.refresh()

    def stop(self, keep: bool = False) -> None:
        """End the live bar: erased, or (``keep``: interrupted) kept where each run stopped."""
        if self.bar is not None:
            self._refresh()
            self.bar.live.transient = not keep
            self.bar.stop()

    def end(self) -> None:  # noqa: D102
        self.stop()
        self._line(f"[{self.label}] {self._counts()} | done")


POLL_S, BUSY_RETRY_S = 1.0, 2.0  # how often the runner polls; when it retries a busy run


def execute_runs(
    runs: list[PlannedRun],
    runs_dir: Path,
    launcher: Launcher | None,
    *,
    progress: Progress,
    force: bool = False,
    recorded: set[str] | None = None,
    on_done: Callable[[PlannedRun], object] | None = None,
) -> dict[str, Outcome]:
    """Execute the ``runs`` not done yet, dependencies first; every run's outcome. ``recorded``
    runs train only with ``force``; ``on_done`` gets each run that finished or failed here (its
    record is written there). An interrupt cancels the running jobs (they resume next time)."""
    from tssd.api import load_plugins

    runs_dir.mkdir(parents=True, exist_ok=True)
    by_id, states = {r.run_id: r for r in runs}, progress.states
    outcomes: dict[str, Outcome] = {}
    pending: list[PlannedRun] = []
    for r in runs:
        st = states[r.run_id]
        if r.unavailable:
            outcomes[r.run_id] = Outcome(r.run_id, "unavailable", r.unavailable, cached=True)
        elif (r.run_id in (recorded or ()) or st.status in TERMINAL) and not force:
            # done: recorded (st is the record's state) or finished here
            outcomes[r.run_id] = Outcome(r.run_id, st.status, st.error, cached=True)
        else:
            pending.append(r)
            if st.status in TERMINAL:  # --force: redone from scratch
                states[r.run_id] = RunState("new")
    progress.begin()
    for rid, o in outcomes.items():
        progress.finished(by_id[rid], o)
    plugins = load_plugins()  # what this process planned with; every worker loads the same
    retry_at: dict[str, float] = {}
    forced: set[str] = set()
    in_flight: set[str] = set()
    try:
        while pending or in_flight:
            now = time.time()
            for r in list(pending):
                if launcher is None or len(in_flight) >= launcher.capacity:
                    break
                bad = [d for d in r.deps if d in outcomes and outcomes[d].status != "finished"]
                if bad:
                    pending.remove(r)
                    o = outcomes[bad[0]]
                    why = f"teacher {bad[0]} {o.status}: {o.error}"
                    outcomes[r.run_id] = Outcome(r.run_id, "not-run", why)
                    progress.finished(r, outcomes[r.run_id])
                    continue
                if any(d not in outcomes for d in r.deps) or retry_at.get(r.run_id, 0) > now:
                    continue
                pending.remove(r)
                job = RunJob(
                    r.run_id,
                    r.config,
                    str(runs_dir / r.run_id),
                    str(lock_path(runs_dir, r.run_id)),
                    force=force and r.run_id not in forced,
                    plugins=plugins,
                    parallel_runs=launcher.capacity,
                )
                forced.add(r.run_id)
                launcher.submit(job)
                in_flight.add(r.run_id)
                progress.started(r)
            if not in_flight:
                if pending:
                    time.sleep(POLL_S)
                    continue
                break
            for res in launcher.wait(POLL_S):
                in_flight.discard(res.run_id)
                r = by_id[res.run_id]
                if res.status == "busy":
                    retry_at[r.run_id] = time.time() + BUSY_RETRY_S
                    pending.insert(0, r)
                    progress.running.pop(r.run_id, None)
                    continue
                outcomes[r.run_id] = _outcome(res)
                if on_done is not None and outcomes[r.run_id].status in TERMINAL:
                    on_done(r)
                progress.finished(r, outcomes[r.run_id])
            progress.tick()
    except BaseException:
        progress.stop(keep=True)
        if launcher is not None:
            launcher.shutdown(cancel=True)
        raise
    progress.end()
    return outcomes


def _outcome(res: JobResult) -> Outcome:
    known = ("finished", "failed", "unavailable", "error", "interrupted")
    status = res.status if res.status in known else "error"
    # Cached only when the run was done before the job started (by another harness process);
    # a run that failed in its first epoch trained nothing, yet failed now.
    cached = status in TERMINAL and res.already_done
    return Outcome(res.run_id, status, res.error, res.wall_s, cached=cached)
