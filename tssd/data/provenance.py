"""Which dataset files a run read: path, size and content hash of each, in its summary.

Readers call :func:`note` with every file they read (an IDX file, a CIFAR batch or archive,
the embedded digits' CSV) or, for a cache built from them, its completion marker (which names
the parameters it was built with). While :func:`collecting` is active (around a dataset's
factory, :func:`tssd.data.build_dataset`) the notes are gathered into the bundle's
``info.files``, which :mod:`tssd.train` writes into ``summary.json`` as ``data_files``; outside
it a note costs nothing.

Hashing is paid once per process and file: fingerprints are cached by (path, size, mtime), so a
harness worker that trains many runs on the same data hashes the 47 MB of Fashion-MNIST's
training images once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_FINGERPRINTS: dict[tuple[str, int, int], str] = {}
_ACTIVE: list[dict[str, dict[str, Any]]] = []
CHUNK = 1 << 20


def fingerprint(path: str | Path) -> dict[str, Any]:
    """``{"path", "size", "sha256"}`` of one file (the hash cached by path, size and mtime)."""
    p = Path(path).resolve()
    st = os.stat(p)
    key = (str(p), st.st_size, st.st_mtime_ns)
    digest = _FINGERPRINTS.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        digest = _FINGERPRINTS[key] = h.hexdigest()
    return {"path": str(p), "size": st.st_size, "sha256": digest}


def note(path: str | Path) -> None:
    """Record that the dataset being built read ``path`` (a no-op outside :func:`collecting`)."""
    if not _ACTIVE:
        return
    record = fingerprint(path)
    _ACTIVE[-1][record["path"]] = record


@contextlib.contextmanager
def collecting() -> Iterator[list[dict[str, Any]]]:
    """Gather the files noted inside; the yielded list is filled, sorted by path, on exit."""
    files: list[dict[str, Any]] = []
    _ACTIVE.append({})
    try:
        yield files
    finally:
        files.extend(sorted(_ACTIVE.pop().values(), key=lambda r: r["path"]))
