"""Run-time plumbing: atomic file writes, seeding, the determinism switch, provenance, memory."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import random
import re
import resource
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tssd.errors import ConfigError


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def create_temp_file(path: Path) -> tuple[int, Path]:
    """Open a new temporary file beside ``path`` for writing: ``(fd, name)``.

    Unlike ``tempfile.mkstemp`` (always mode 0600) the file is created with mode 0666 less the
    process's umask, like any file ``open`` creates, so run directories, aggregates and caches
    shared through a group-readable directory stay readable by the group after the rename.
    """
    for _ in range(100):
        tmp = _temp_name(path)
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: no free temporary name for {path.name}")


def create_temp_dir(path: Path, prefix: str) -> Path:
    """A new directory ``<prefix><random>`` beside ``path``, created with mode 0777 less the
    umask (``tempfile.mkdtemp`` always uses 0700)."""
    for _ in range(100):
        tmp = path.with_name(f"{prefix}{secrets.token_hex(4)}")
        try:
            os.mkdir(tmp, 0o777)
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: no free temporary name for {path.name}")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers never see a
    partial file, and an interrupted write leaves the previous version intact. The file gets the
    mode any new file gets (0666 less the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temp_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Text variant of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode())


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through a temporary file and a rename (mode: 0666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temp_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_error(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in one line: a refused global (a file that
    would import something no file of this suite holds: foreign or planted) or a corrupt file."""
    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return (
            f"refused: it asks to load {found.group(1)}, which no file of this suite holds "
            "(a foreign or planted file); nothing in it was run"
        )
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return f"corrupt file ({first.split('. ')[0]})"  # torch appends paragraphs of advice


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG state a resumed run must restore, as tensors and plain values only (so that a
    checkpoint loads with ``torch.load(weights_only=True)``): NumPy's MT19937 key is a list."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]  # a list, or a tuple holding an array
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Turn on torch's deterministic algorithms (and cuDNN's) for the block, then restore the
    previous flags exactly, so a deterministic run leaves the process as it found it.
    """
    if not enabled:
        yield
        return
    prev = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[2], prev[3]
        if prev[4] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = prev[4]


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


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use ``n`` intra-op threads for the block (0 = :func:`auto_threads`)."""
    prev = torch.get_num_threads()
    torch.set_num_threads(n or auto_threads())
    try:
        yield
    finally:
        torch.set_num_threads(prev)


COMPILE_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"
"""Where inductor keeps its on-disk caches (read by torch at each compile)."""


def use_compile_cache(path: str | Path) -> None:
    """Point inductor's on-disk caches (FX graphs, AOTAutograd, generated C++/Triton) at
    ``path`` for this process's later compiles; empty leaves torch's default. The caches are
    keyed by graph, torch version and device, and written atomically, so runs and processes share
    one folder safely."""
    if str(path):
        Path(path).mkdir(parents=True, exist_ok=True)
        os.environ[COMPILE_CACHE_ENV] = str(Path(path).resolve())


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"key 'runtime.device': got {name!r}, but no CUDA device is available here; "
            "expected cpu or auto"
        )
    return torch.device(name)


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak-memory window (CUDA only; CPU reports the process's peak RSS)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory in MiB: CUDA allocator peak since the last reset, or the process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


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


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and machine facts recorded with every result."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return {
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "device": str(device),
        "device_name": name,
        "hostname": platform.node(),
        **git_state(),
    }
