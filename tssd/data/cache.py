"""On-disk caches of converted data: where they live, how they are written, when they are complete.

A cache directory is built under a temporary sibling name (``.<name>.building-<host>-<pid>-<rand>``)
and renamed into place only after every file and a completion marker (``.tssd-complete.json``, the
parameters and the file count) are written. A conversion interrupted half-way therefore leaves only
a temporary directory, which is never taken for a cache and is removed by a later build on the same
host once its process is gone. Two processes building the same cache at once both finish; the
first rename wins and the second discards its copy.

Caches that spikingjelly wrote (no marker of ours) are accepted when spikingjelly's own
``<name>.building`` marker is absent and the file count is the one expected.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from tssd.data import provenance
from tssd.fileio import create_temp_dir

MARKER = ".tssd-complete.json"
CACHE_ENV = "TSSD_CACHE"


def default_cache_dir() -> Path:
    """``$TSSD_CACHE`` if set, else ``~/.cache/tssd``."""
    env = os.environ.get(CACHE_ENV, "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tssd"


def cache_root(data_root: str) -> Path:
    """Where generated data lives: ``data.root`` when set, else :func:`default_cache_dir`."""
    return Path(data_root).expanduser() if data_root else default_cache_dir()


def param_key(params: dict[str, Any]) -> str:
    """Short stable hash of a parameter dict (the cache key of generated data)."""
    blob = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def list_hash(*lists: Iterable[str]) -> str:
    """Short hash of ordered name lists, e.g. the train and test file lists of a split."""
    h = hashlib.sha256()
    for i, names in enumerate(lists):
        if i:
            h.update(b"\x00|\x00")
        for n in names:
            h.update(n.encode())
            h.update(b"\n")
    return h.hexdigest()[:12]


def read_marker(directory: Path) -> dict[str, Any] | None:
    """The completion marker of a cache directory; None when absent or unreadable."""
    p = Path(directory) / MARKER
    try:
        marker = json.loads(p.read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    provenance.note(p)  # the cache a run reads, by the marker naming what it was built from
    return marker


def is_complete(directory: Path) -> bool:
    """True when ``directory`` was fully written by :func:`building`."""
    return read_marker(directory) is not None


def spikingjelly_building_marker(directory: Path) -> Path:
    """The marker spikingjelly leaves next to a directory while it is being written."""
    directory = Path(directory)
    return directory.with_name(f"{directory.name}.building")


def count_files(directory: Path, suffix: str = ".npz") -> int:
    """Number of files with ``suffix`` anywhere under ``directory`` (hidden files excluded)."""
    n = 0
    for _, _, files in os.walk(directory):
        n += sum(1 for f in files if f.endswith(suffix) and not f.startswith("."))
    return n


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(final: Path) -> list[Path]:
    """Remove temporary build directories of ``final`` left by dead processes of this host."""
    final = Path(final)
    host = socket.gethostname()
    removed = []
    if not final.parent.is_dir():
        return removed
    for p in final.parent.glob(f".{final.name}.building-*"):
        parts = p.name[len(f".{final.name}.building-") :].rsplit("-", 2)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        if not _alive(int(parts[1])):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


@contextlib.contextmanager
def building(final: Path, meta: dict[str, Any]) -> Iterator[Path]:
    """Build a cache directory atomically.

    Yields a fresh temporary directory (mode 0777 less the umask: caches are often shared by a
    group); when the ``with`` block finishes without an exception the completion marker (``meta``
    plus the file count) is written into it and it is renamed to ``final``. On an exception the
    temporary directory is removed and ``final`` is untouched.

    Raises:
        FileExistsError: ``final`` exists but is not a complete cache of ours (a partial directory
            from another tool); the message says to remove it.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(final)
    if final.exists() and not is_complete(final):
        raise FileExistsError(
            f"{final}: exists but has no completion marker ({MARKER}); it is a "
            "partial or foreign cache: remove it to let it be rebuilt"
        )
    prefix = f".{final.name}.building-{socket.gethostname()}-{os.getpid()}-"
    tmp = create_temp_dir(final, prefix)  # mode 0777 less the umask, as mkdir would give
    try:
        yield tmp
        body = json.dumps({**meta, "files": count_files(tmp)}, indent=1, sort_keys=True)
        (tmp / MARKER).write_text(body)
        try:
            os.rename(tmp, final)
        except OSError:
            if not is_complete(final):
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
