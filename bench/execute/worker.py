"""One run job inside any launcher (so it imports only the core), through ``tssd.train``, under a
per-run file lock: a second harness process on the same results directory gets ``busy``."""

from __future__ import annotations

import dataclasses
import json
import os
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tssd.api import RunDir


@dataclass(frozen=True)
class RunJob:
    """A run to execute: its validated config (a plain dict) and where it lives."""

    run_id: str
    config: dict[str, Any]
    run_dir: str
    lock_path: str
    force: bool = False
    plugins: tuple[str, ...] = ()  # the planner's, loaded again (TSSD_PLUGINS may not reach here)
    parallel_runs: int = 1  # runs at once on this machine (runtime.threads 0 shares the cores)

    def to_json(self) -> str:
        """The job as JSON (a torchrun job file)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RunJob:
        """The job :meth:`to_json` wrote."""
        data = json.loads(text)
        return cls(**{**data, "plugins": tuple(data["plugins"])})


@dataclass(frozen=True)
class JobResult:
    """How a job ended: ``finished | failed | unavailable | error | busy | interrupted``."""

    run_id: str
    status: str
    error: str = ""
    wall_s: float = 0.0
    trained_epochs: int = 0  # 0 also for a run that failed in its first epoch
    already_done: bool = False  # finished or failed before this job started (another harness)

    @classmethod
    def of(cls, run_id: str, summary: dict[str, Any], **more: Any) -> JobResult:
        """The result of a job whose training returned ``summary`` (:func:`train_job`)."""
        error, wall_s = summary.get("error", ""), float(summary.get("wall_s", 0.0))
        return cls(run_id, summary["status"], error, wall_s, **more)


def lock_path(runs_dir: str | Path, run_id: str) -> Path:
    """The lock file of run ``run_id`` (outside its directory, which ``--force`` empties)."""
    return Path(runs_dir) / ".locks" / f"{run_id}.lock"


def try_lock(job: RunJob) -> Any:
    """The job's run lock, acquired without waiting; None when another process holds it."""
    from filelock import FileLock, Timeout

    Path(job.lock_path).parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(job.lock_path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    return lock


def train_job(job: RunJob) -> dict[str, Any]:
    """Train (or resume, or return) the job's run: the one way every launcher trains a run."""
    from tssd.api import from_dict, load_plugins, train

    load_plugins(job.plugins)
    cfg = from_dict(job.config, f"run {job.run_id}")
    return train(cfg, job.run_dir, force=job.force, progress=False)


def execute(job: RunJob) -> JobResult:
    """Run (or resume, or return) one job; never raises for a failing run."""
    from tssd.api import PARALLEL_RUNS_ENV, DataError, DatasetUnavailable, RunFailed

    lock = try_lock(job)
    if lock is None:
        return JobResult(job.run_id, "busy", "another harness process is running it")
    run_dir = RunDir(job.run_dir)
    try:
        run_dir.clear_error()
        os.environ[PARALLEL_RUNS_ENV] = str(job.parallel_runs)
        before = 0 if job.force else run_dir.epochs_done()
        prior = None if job.force else run_dir.read_summary()
        done = prior is not None and prior.status in ("finished", "failed")
        summary = train_job(job)
        trained = max(0, run_dir.epochs_done() - before)
        return JobResult.of(job.run_id, summary, trained_epochs=trained, already_done=done)
    except RunFailed as exc:
        return JobResult(job.run_id, "failed", str(exc))
    except DataError as exc:  # bad data, not a bug: the message names the file, no traceback
        status = "unavailable" if isinstance(exc, DatasetUnavailable) else "error"
        run_dir.record_error(status, str(exc))  # the run shows as not-run or failed
        return JobResult(job.run_id, status, str(exc))
    except KeyboardInterrupt:
        return JobResult(job.run_id, "interrupted", "interrupted; re-run to resume")
    except Exception as exc:  # noqa: BLE001  (any bug must end as a failed run, not a crash)
        msg = f"{type(exc).__name__}: {exc}"
        run_dir.record_error("error", msg + "\n" + traceback.format_exc(limit=8))
        return JobResult(job.run_id, "error", msg)
    finally:
        lock.release()
