"""The IDX file format of MNIST and Fashion-MNIST, read with numpy (plain or gzip-compressed).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then the data in C order. MNIST and Fashion-MNIST use unsigned
bytes (type 0x08): images ``[N, 28, 28]`` (magic 0x00000803) and labels ``[N]`` (0x00000801).
A file whose header does not match, or whose length differs from what its header declares, is a
:class:`~tssd.data.errors.DatasetCorrupt` naming the file.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from tssd.data import provenance
from tssd.data.errors import DatasetCorrupt

UBYTE = 0x08
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_header(path: str | Path) -> tuple[int, tuple[int, ...]]:
    """``(magic, dims)`` of an IDX file, reading only its first bytes.

    Raises:
        DatasetCorrupt: not an unsigned-byte IDX file, or a header cut short.
    """
    path = Path(path)
    try:
        with _open(path) as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != UBYTE:
                raise DatasetCorrupt(
                    f"{path}: bad magic number {head.hex() or '(empty file)'}; expected an "
                    "unsigned-byte IDX file (0x00000801 labels or 0x00000803 images)"
                )
            ndim = head[3]
            raw = f.read(4 * ndim)
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise DatasetCorrupt(f"{path}: unreadable ({exc})") from exc
    if len(raw) < 4 * ndim:
        raise DatasetCorrupt(f"{path}: truncated header ({len(raw)} of {4 * ndim} bytes)")
    return int.from_bytes(head, "big"), struct.unpack(f">{ndim}I", raw)


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """The array of an IDX file, checked against ``magic`` and its declared size.

    Raises:
        DatasetCorrupt: wrong magic, truncated or over-long data, or an unreadable gzip stream.
    """
    path = Path(path)
    got, dims = read_header(path)
    if got != magic:
        raise DatasetCorrupt(
            f"{path}: magic number {got:#010x}, expected {magic:#010x} "
            f"({'images' if magic == IMAGES_MAGIC else 'labels'})"
        )
    offset = 4 + 4 * len(dims)
    want = int(np.prod(dims, dtype=np.int64))
    try:
        with _open(path) as f:
            f.seek(offset)
            data = f.read()
        provenance.note(path)
    except (OSError, EOFError) as exc:
        raise DatasetCorrupt(f"{path}: truncated or corrupt gzip stream ({exc})") from exc
    if len(data) != want:
        shape = "x".join(map(str, dims))
        raise DatasetCorrupt(
            f"{path}: {'truncated' if len(data) < want else 'too long'}: the header declares "
            f"{shape} = {want} bytes of data, the file holds {len(data)}"
        )
    return np.frombuffer(data, np.uint8).reshape(dims)


def count_of(path: str | Path, magic: int) -> int:
    """The sample count an IDX file's header declares (cheap: the header only)."""
    got, dims = read_header(path)
    if got != magic:
        raise DatasetCorrupt(f"{path}: magic number {got:#010x}, expected {magic:#010x}")
    return dims[0]


def data_length(path: str | Path) -> int:
    """Bytes of data after the header (uncompressed; a gzip file is streamed, not held)."""
    path = Path(path)
    _, dims = read_header(path)
    if path.suffix != ".gz":
        return path.stat().st_size - 4 - 4 * len(dims)
    n = 0
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                n += len(chunk)
    except (OSError, EOFError) as exc:
        raise DatasetCorrupt(f"{path}: truncated or corrupt gzip stream ({exc})") from exc
    return n - 4 - 4 * len(dims)
