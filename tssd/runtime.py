"""Run-time plumbing that needs torch: saving tensors atomically, seeding, the determinism switch,
threads, the device, peak memory and the versions a result records.

The torch-free parts live apart: atomic text and byte writes in :mod:`tssd.fileio`, cores, CPU
name and git state in :mod:`tssd.host`, the ``runtime`` section of a run config
(:class:`~tssd.config.RuntimeConfig`) in :mod:`tssd.config`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import random
import re
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tssd.errors import ConfigError
from tssd.fileio import create_temp_file
from tssd.host import auto_threads, cpu_name, git_state


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


AUTOGRAD_FUNCTION_MODULES = ("tssd/neurons/compiled.py", "tssd/neurons/surrogate.py")
"""The modules of our ``torch.autograd.Function`` classes that a compiled step traces (the
compiled LIF, the surrogate spike); their source's digest names the compile cache's folder."""


def compile_cache_dir(path: str | Path) -> Path:
    """``path/tssd-<digest>``: the folder of :func:`use_compile_cache`, one per version of
    :data:`AUTOGRAD_FUNCTION_MODULES`, so an edited autograd.Function never meets a cached
    artifact of its old self."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for rel in AUTOGRAD_FUNCTION_MODULES:
        digest.update((root / rel).read_bytes())
    return Path(path) / f"tssd-{digest.hexdigest()[:12]}"


def use_compile_cache(path: str | Path) -> None:
    """Point inductor's on-disk caches (FX graphs, AOTAutograd, generated C++/Triton) at
    :func:`compile_cache_dir` of ``path`` for this process's later compiles; empty leaves torch's
    default. The caches are keyed by graph, torch version and device, and written atomically, so
    runs and processes share one folder safely.

    With a folder, AOTAutograd's cache also takes graphs that hold our autograd.Functions, which
    torch leaves out by default (it cannot tell their versions apart; the folder's name does).
    Without it a warm compile re-traces and re-partitions the joint graph: the small event TSSD
    step's warm compile took 17-19 s that way and 7.6 s with it (README, "Benchmarks")."""
    if str(path):
        folder = compile_cache_dir(path)
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[COMPILE_CACHE_ENV] = str(folder.resolve())
        from torch._functorch import config as functorch_config

        functorch_config.autograd_cache_allow_custom_autograd_functions = True


def forget_compiled() -> None:
    """Empty this process's in-memory compile state (dynamo's graphs, inductor's caches); the
    on-disk cache stays, so the next compile is a warm one, as in a new worker process."""
    torch.compiler.reset()
    from torch._inductor import utils as inductor_utils

    inductor_utils.clear_caches()


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
