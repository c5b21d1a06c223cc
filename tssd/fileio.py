"""Files written whole or not at all: atomic writes through a temporary file and a rename.

Torch-free (it imports nothing of the suite), so that writing text (a table, a record, a report)
never loads torch; :func:`tssd.runtime.atomic_torch_save` uses the same temporary files.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


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
