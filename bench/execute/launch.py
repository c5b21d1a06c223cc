"""Launchers: where run jobs execute (the runner sees only :class:`Launcher`); the local one."""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing as mp
import os
import queue
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from bench.execute.worker import JobResult, RunJob, execute
from tssd.api import TRAIN_MODULES

PRELOAD = ["bench.execute.worker", *TRAIN_MODULES, "sklearn.datasets", "sklearn.model_selection"]
"""Modules the local fork server imports once (torch, the core, scikit-learn's digits loader)."""


class Launcher(ABC):
    """Executes run jobs. Subclasses implement the abstract methods (and set ``_workers`` or
    override :attr:`capacity`) and are registered in :data:`LAUNCHERS`."""

    _workers: int

    @property
    def capacity(self) -> int:
        """How many jobs may run at once."""
        return self._workers

    @abstractmethod
    def submit(self, job: RunJob) -> None:
        """Start ``job`` (the runner never submits more than :attr:`capacity` at once)."""

    @abstractmethod
    def wait(self, timeout: float) -> list[JobResult]:
        """Results of the jobs that ended since the last call, waiting up to ``timeout`` s."""

    @abstractmethod
    def shutdown(self, cancel: bool = False) -> None:
        """Release resources; with ``cancel``, stop running jobs (they resume on the next run)."""


def drain(results, block_s: float, workers: dict[str, Any]) -> list[JobResult]:
    """Every result waiting in the queue ``results``, the first waited for up to ``block_s``;
    the worker (process or thread) of each leaves ``workers`` and is joined."""
    got: list[JobResult] = []
    with contextlib.suppress(queue.Empty):
        got.append(results.get(timeout=block_s) if block_s > 0 else results.get_nowait())
        while True:
            got.append(results.get_nowait())
    for r in got:
        worker = workers.pop(r.run_id, None)
        if worker is not None:
            worker.join(timeout=30)
    return got


def _child(job: RunJob, results) -> None:
    results.put(execute(job))


class LocalLauncher(Launcher):
    """A fresh process per run, forked from a server that preloaded torch: a run starts fast and
    its ``peak_mem_mb`` is its own, not that of every earlier run of a long-lived worker."""

    def __init__(self, workers: int, **_: Any):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._workers = workers
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._results = self._ctx.Queue()
        self._procs: dict[str, mp.process.BaseProcess] = {}

    def submit(self, job: RunJob) -> None:  # noqa: D102
        if len(self._procs) >= self._workers:
            raise RuntimeError("LocalLauncher: submit beyond capacity")
        p = self._ctx.Process(
            target=_child, args=(job, self._results), name=f"run-{job.run_id}", daemon=False
        )
        p.start()
        self._procs[job.run_id] = p

    def wait(self, timeout: float) -> list[JobResult]:  # noqa: D102
        out: list[JobResult] = []
        deadline = time.time() + timeout
        while True:
            out += drain(self._results, max(0.0, min(0.2, deadline - time.time())), self._procs)
            # A worker that died without reporting (killed, out of memory, segfault). A child
            # flushes its queue before exiting, so a result it sent is drained first.
            for rid, p in list(self._procs.items()):
                if not p.is_alive() and p.exitcode is not None:
                    out += drain(self._results, 0.0, self._procs)
                    if rid in self._procs:
                        self._procs.pop(rid)
                        why = f"worker process exited with code {p.exitcode} without a result"
                        out.append(JobResult(rid, "error", why))
            if out or time.time() >= deadline or not self._procs:
                return out

    def shutdown(self, cancel: bool = False) -> None:  # noqa: D102
        for p in self._procs.values():
            if cancel and p.is_alive():
                p.terminate()
        for p in self._procs.values():
            p.join(timeout=10)
        self._procs.clear()


@dataclass(frozen=True)
class LauncherEntry:
    """A registered launcher: its ``module:Class`` and the optional modules it needs."""

    target: str
    needs: tuple[str, ...] = ()


LAUNCHERS: dict[str, LauncherEntry] = {
    "local": LauncherEntry("bench.execute.launch:LocalLauncher"),
    "torchrun": LauncherEntry("bench.execute.scaleout:TorchrunLauncher"),
    "slurm": LauncherEntry("bench.execute.scaleout:SlurmLauncher", needs=("submitit",)),
}
DEFAULT_LAUNCHER = next(iter(LAUNCHERS))  # ``--launcher``'s default: the first


def make_launcher(name: str, workers: int, **options: Any) -> Launcher:
    """Build the launcher ``name`` with ``workers`` parallel jobs and the ``options`` it takes."""
    if name not in LAUNCHERS:
        raise ValueError(f"unknown launcher {name!r}; available: {', '.join(LAUNCHERS)}")
    module, cls = LAUNCHERS[name].target.split(":")
    return getattr(importlib.import_module(module), cls)(workers, **options)


def default_workers(profile_workers: int) -> int:
    """The profile's worker count, or the CPU count when the profile says 0."""
    return profile_workers or max(1, os.cpu_count() or 1)
