"""The ``torchrun`` (a DDP job per run) and ``slurm`` (submitit arrays, requeued runs resume
from their checkpoint) launchers."""

from __future__ import annotations

import dataclasses
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.execute.launch import Launcher, drain
from bench.execute.worker import JobResult, RunJob, execute, train_job, try_lock
from tssd.api import TERMINAL, RunDir


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _result_from_summary(job: RunJob, returncode: int, log: Path) -> JobResult:
    st = RunDir(job.run_dir).state()
    if st.status in TERMINAL and st.summary is not None:
        m = st.summary.metrics
        return JobResult(job.run_id, st.status, st.error, float(m.wall_s) if m else 0.0)
    why = f"; {st.error}" if st.status == "error" else ""
    msg = f"torchrun exited with code {returncode}{why}; log: {log}\n{_tail(log)}"
    return JobResult(job.run_id, "error", msg)


class TorchrunLauncher(Launcher):
    """``workers`` concurrent runs, each a ``torchrun --nproc_per_node nproc`` job."""

    def __init__(self, workers: int = 1, nproc: int = 2, **_: Any):
        if workers < 1 or nproc < 1:
            raise ValueError(
                f"torchrun launcher: workers and nproc must be >= 1, got {workers} and {nproc}"
            )
        self._workers, self.nproc = workers, nproc
        self._results: queue.Queue[JobResult] = queue.Queue()
        self._procs: dict[str, subprocess.Popen] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def submit(self, job: RunJob) -> None:  # noqa: D102
        t = threading.Thread(
            target=self._run, args=(job,), name=f"torchrun-{job.run_id}", daemon=True
        )
        self._threads[job.run_id] = t
        t.start()

    def _run(self, job: RunJob) -> None:
        lock = try_lock(job)
        if lock is None:
            self._results.put(JobResult(job.run_id, "busy", "another harness process runs it"))
            return
        try:
            run_dir = Path(job.run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            job_file, log = run_dir / "torchrun_job.json", run_dir / "torchrun.log"
            job_file.write_text(job.to_json())
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
            cmd += ["--nproc_per_node", str(self.nproc)]
            cmd += ["-m", "bench.execute.torchrun_entry", str(job_file)]
            t0 = time.time()
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            with open(log, "w") as f:
                p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
                with self._lock:
                    self._procs[job.run_id] = p
                rc = p.wait()
            res = _result_from_summary(job, rc, log)
            if res.wall_s == 0.0:
                res = JobResult(res.run_id, res.status, res.error, time.time() - t0)
            self._results.put(res)
        except Exception as exc:  # noqa: BLE001  (a launcher bug must not hang the runner)
            self._results.put(JobResult(job.run_id, "error", f"{type(exc).__name__}: {exc}"))
        finally:
            with self._lock:
                self._procs.pop(job.run_id, None)
            lock.release()

    def wait(self, timeout: float) -> list[JobResult]:  # noqa: D102
        return drain(self._results, max(0.0, timeout), self._threads)

    def shutdown(self, cancel: bool = False) -> None:  # noqa: D102
        if cancel:
            with self._lock:
                for p in self._procs.values():
                    p.terminate()
        for t in list(self._threads.values()):
            t.join(timeout=60)
        self._threads.clear()


class RunTask:
    """One SLURM array task: one run job (``Checkpointable`` by :func:`_task_class`)."""

    def __call__(self, job: RunJob) -> JobResult:  # noqa: D102
        world = int(os.environ.get("SLURM_NTASKS", "1"))
        if world > 1:
            # Several tasks per array element: one DDP run across them. submitit exports the
            # RANK / WORLD_SIZE / MASTER_ADDR variables torch.distributed reads.
            import submitit

            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
            return JobResult.of(job.run_id, train_job(job))
        return execute(job)


def _task_class() -> type:
    import submitit

    class CheckpointableRunTask(RunTask, submitit.helpers.Checkpointable):
        """RunTask that submitit requeues with the same job (the run resumes from checkpoint)."""

    return CheckpointableRunTask


SLURM_DEFAULTS = {"timeout_min": 24 * 60, "gpus_per_node": 1, "cpus_per_task": 8, "mem_gb": 64}
SLURM_DEFAULTS |= {"tasks_per_node": 1, "nodes": 1}


class SlurmLauncher(Launcher):
    """One SLURM job array per batch of submissions, ``resources`` over :data:`SLURM_DEFAULTS`
    (``cluster`` None: SLURM; ``local`` or ``debug``: submitit's executors for tests)."""

    def __init__(
        self,
        workers: int = 64,
        folder: str | Path = "results/slurm",
        resources: dict[str, Any] | None = None,
        cluster: str | None = None,
        **_: Any,
    ):
        import submitit

        params = {**SLURM_DEFAULTS, **(resources or {})}
        if "partition" in params:
            params["slurm_partition"] = params.pop("partition")
        self.folder = Path(folder)
        self.executor = submitit.AutoExecutor(folder=str(self.folder / "%j"), cluster=cluster)
        if cluster in ("local", "debug"):  # only what submitit's local executor takes
            drop = ("gpus_per_node", "mem_gb", "cpus_per_task", "nodes")
            params = {
                k: v for k, v in params.items() if not k.startswith("slurm_") and k not in drop
            }
        else:
            params["slurm_array_parallelism"] = workers
        self.executor.update_parameters(name="tssd", **params)
        self._pending: list[RunJob] = []
        self._jobs: dict[str, Any] = {}
        self._task = _task_class()
        # the runner may hand over every ready run: the array parallelism bounds what executes
        self._workers = 100_000

    def submit(self, job: RunJob) -> None:  # noqa: D102
        self._pending.append(job)

    def _flush(self) -> None:
        if not self._pending:
            return
        jobs, self._pending = self._pending, []
        with self.executor.batch():
            submitted = [self.executor.submit(self._task(), j) for j in jobs]
        self._jobs.update((j.run_id, sj) for j, sj in zip(jobs, submitted, strict=True))

    def wait(self, timeout: float) -> list[JobResult]:  # noqa: D102
        self._flush()
        deadline = time.time() + timeout
        while True:
            out = []
            for rid, sj in list(self._jobs.items()):
                if not sj.done():
                    continue
                self._jobs.pop(rid)
                try:
                    res = sj.result()
                    if res.status != "finished":  # say where the task's log is
                        res = dataclasses.replace(res, error=f"{res.error}; log: {sj.paths.stderr}")
                    out.append(res)
                except Exception as exc:  # noqa: BLE001  (submitit re-raises the task's error)
                    first = (str(exc).strip().splitlines()[-1:] or [type(exc).__name__])[0]
                    why = f"SLURM job {sj.job_id} failed: {first}; log: {sj.paths.stderr}"
                    out.append(JobResult(rid, "error", why))
            if out or time.time() >= deadline or not self._jobs:
                return out
            time.sleep(min(1.0, max(0.0, deadline - time.time())))

    def shutdown(self, cancel: bool = False) -> None:  # noqa: D102
        if cancel:
            for sj in self._jobs.values():
                sj.cancel(check=False)
        self._jobs.clear()
