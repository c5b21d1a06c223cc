"""The machine and checkout a run executes on: its cores, its CPU's name, the git commit.

Torch-free, so that the harness can plan, record and report provenance without loading torch;
:func:`tssd.runtime.environment` adds torch's facts to these.
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

PARALLEL_RUNS_ENV = "TSSD_PARALLEL_RUNS"
"""Set by the harness's workers: how many runs share this machine's cores."""


def available_cpus() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_threads() -> int:
    """What ``runtime.threads: 0`` means: the cores this process may use, divided among the runs
    the harness executes at once (``$TSSD_PARALLEL_RUNS``); a run on its own also leaves out the
    cores other processes kept busy over the last minute (the load average).

    torch's threads wait for each other at every parallel operation: two threads on two cores
    beside one busy process train 2.5x slower than one thread (measured on the quick run: 40 s
    against 17 s, 15 s alone), so a thread is only worth starting on a core nobody else uses.
    """
    cpus = available_cpus()
    runs = max(1, int(os.environ.get(PARALLEL_RUNS_ENV, "1") or 1))
    share = max(1, cpus // runs)
    if runs > 1 or not hasattr(os, "getloadavg"):
        return share
    busy = int(os.getloadavg()[0] + 0.5)
    return max(1, min(share, cpus - busy))


@functools.cache
def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the checkout this package runs from (None outside git)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": dirty}


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, the platform's processor elsewhere):
    another CPU trains like another seed, so results record which one they ran on."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"
