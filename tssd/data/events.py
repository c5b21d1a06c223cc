"""Event streams ``(t, x, y, p)``: spikingjelly-compatible ``.npz`` files, frames, resizing.

Conventions (those of spikingjelly 2.0, so its caches and ours are interchangeable):

* an event file is an ``.npz`` holding the equal-length arrays ``t`` (microseconds), ``x``
  (column), ``y`` (row) and ``p`` (polarity; 0 and 1);
* a frame file is an ``.npz`` holding ``frames`` ``[T, 2, H, W]``: event counts, channel 0 for
  ``p == 0`` and channel 1 for ``p != 0``;
* "split by number" cuts the stream into ``T`` runs of ``N // T`` events, the last run taking the
  remainder (all events fall in the last frame when ``N < T``); "split by time" cuts
  ``[t_0, t_{N-1}]`` into ``T`` spans of ``(t_{N-1} - t_0) // T`` microseconds, the last span open
  to the end. Both follow ``spikingjelly.datasets.utils.cal_fixed_frames_number_segment_index``;
  integration here is one vectorised ``bincount`` instead of a loop over frames.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tssd.data.errors import DatasetCorrupt
from tssd.data.options import RESIZE_MODES, SPLIT_MODES

EVENT_KEYS = ("t", "x", "y", "p")


def frames_dir_name(frames: int, split_by: str) -> str:
    """Name of a frame cache folder (spikingjelly), e.g. ``frames_number_10_split_by_number``."""
    return f"frames_number_{frames}_split_by_{split_by}"


def save_events(
    path: Path, t: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray, compress: bool = True
) -> None:
    """Write one event stream as ``.npz`` (t int64 microseconds, x/y uint16, p uint8)."""
    save = np.savez_compressed if compress else np.savez
    save(
        path,
        t=np.asarray(t, np.int64),
        x=np.asarray(x, np.uint16),
        y=np.asarray(y, np.uint16),
        p=np.asarray(p, np.uint8),
    )


def _open_npz(path: Path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetCorrupt(f"{path}: not a readable .npz file ({exc})") from exc


def load_events(path: Path) -> dict[str, np.ndarray]:
    """Read an event ``.npz``; checks the four keys and their lengths.

    Raises:
        DatasetCorrupt: unreadable file, a missing key or arrays of different lengths.
    """
    with _open_npz(path) as f:
        missing = [k for k in EVENT_KEYS if k not in f.files]
        if missing:
            raise DatasetCorrupt(
                f"{path}: event file lacks key(s) {missing}; expected arrays "
                f"{list(EVENT_KEYS)} (found {f.files})"
            )
        try:
            ev = {k: f[k] for k in EVENT_KEYS}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise DatasetCorrupt(f"{path}: truncated or corrupt array ({exc})") from exc
    lengths = {k: v.shape for k, v in ev.items()}
    if any(v.ndim != 1 for v in ev.values()) or len({v.shape[0] for v in ev.values()}) != 1:
        raise DatasetCorrupt(f"{path}: t, x, y, p must be 1-D arrays of one length, got {lengths}")
    return ev


def scan_events(path: Path) -> int:
    """Check an event ``.npz`` without decompressing its arrays: the zip directory (at the end of
    the file, so a truncated file fails here), the four keys, and each array's header (1-D, one
    length). Returns the number of events.

    Raises:
        DatasetCorrupt: what :func:`load_events` would raise that needs no decoding.
    """
    shapes = {}
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            missing = [k for k in EVENT_KEYS if f"{k}.npy" not in names]
            if missing:
                found = sorted(n.removesuffix(".npy") for n in names)
                raise DatasetCorrupt(
                    f"{path}: event file lacks key(s) {missing}; expected arrays "
                    f"{list(EVENT_KEYS)} (found {found})"
                )
            for k in EVENT_KEYS:
                with zf.open(f"{k}.npy") as f:
                    major, _ = np.lib.format.read_magic(f)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if major == 1
                        else np.lib.format.read_array_header_2_0
                    )
                    shapes[k] = read(f)[0]
    except DatasetCorrupt:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise DatasetCorrupt(f"{path}: not a readable .npz file ({exc})") from exc
    if any(len(v) != 1 for v in shapes.values()) or len({v[0] for v in shapes.values()}) != 1:
        raise DatasetCorrupt(f"{path}: t, x, y, p must be 1-D arrays of one length, got {shapes}")
    return shapes["t"][0]


def save_frames(path: Path, frames: np.ndarray, compress: bool = True) -> None:
    """Write frames ``[T, 2, H, W]`` as ``.npz`` key ``frames``.

    Counts are stored in the smallest unsigned integer type that holds them (spikingjelly's reader
    casts to float32, so the files stay interchangeable); this keeps a cached sample small and
    fast to load.
    """
    frames = np.asarray(frames)
    peak = float(frames.max()) if frames.size else 0.0
    exact = bool(np.all(frames == np.round(frames))) and float(frames.min(initial=0)) >= 0
    if exact and peak < 2**8:
        frames = frames.astype(np.uint8)
    elif exact and peak < 2**16:
        frames = frames.astype(np.uint16)
    else:
        frames = frames.astype(np.float32)
    save = np.savez_compressed if compress else np.savez
    save(path, frames=frames)


def load_frames(path: Path) -> np.ndarray:
    """Read a frame ``.npz`` as float32 ``[T, 2, H, W]``.

    Raises:
        DatasetCorrupt: unreadable file, no ``frames`` key, or not a 4-D array with 2 channels.
    """
    with _open_npz(path) as f:
        if "frames" not in f.files:
            raise DatasetCorrupt(f"{path}: frame file lacks key 'frames' (found {f.files})")
        try:
            frames = f["frames"]
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise DatasetCorrupt(f"{path}: truncated or corrupt array ({exc})") from exc
    if frames.ndim != 4 or frames.shape[1] != 2:
        raise DatasetCorrupt(f"{path}: frames must be [T, 2, H, W], got shape {frames.shape}")
    return frames.astype(np.float32, copy=False)


def frame_index(t: np.ndarray, frames: int, split_by: str) -> np.ndarray:
    """The frame each event falls in (see the module docstring for the two rules).

    Raises:
        ValueError: unknown ``split_by``, ``frames < 1``, or unsorted timestamps with ``time``.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    n = len(t)
    if split_by == "number":
        per = n // frames
        if per == 0:
            return np.full(n, frames - 1, np.int64)
        return np.minimum(np.arange(n, dtype=np.int64) // per, frames - 1)
    if split_by == "time":
        if n == 0:
            return np.zeros(0, np.int64)
        t = np.asarray(t, np.int64)
        if np.any(t[1:] < t[:-1]):
            raise ValueError("split_by='time' needs timestamps in non-decreasing order")
        span = (int(t[-1]) - int(t[0])) // frames
        if span == 0:  # a stream shorter than `frames` microseconds: like number mode with N < T
            return np.full(n, frames - 1, np.int64)
        return np.minimum((t - t[0]) // span, frames - 1)
    raise ValueError(f"split_by must be one of {SPLIT_MODES}, got {split_by!r}")


def integrate(
    events: dict[str, np.ndarray], frames: int, height: int, width: int, split_by: str = "number"
) -> np.ndarray:
    """Integrate an event stream into ``frames`` two-channel count frames ``[T, 2, H, W]``.

    Raises:
        ValueError: coordinates outside ``height`` x ``width`` (the message gives the offending
            range), or the errors of :func:`frame_index`.
    """
    x = np.asarray(events["x"], np.int64)
    y = np.asarray(events["y"], np.int64)
    p = np.asarray(events["p"]) != 0
    if len(x) and (x.min() < 0 or x.max() >= width or y.min() < 0 or y.max() >= height):
        raise ValueError(
            f"event coordinates x in [{x.min()}, {x.max()}], y in [{y.min()}, "
            f"{y.max()}] do not fit a {height}x{width} sensor"
        )
    k = frame_index(events["t"], frames, split_by)
    plane = height * width
    flat = k * (2 * plane) + p * plane + y * width + x
    counts = np.bincount(flat, minlength=frames * 2 * plane)
    return counts.astype(np.float32).reshape(frames, 2, height, width)


def resize_frames(frames: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """Resize ``[..., H, W]`` frames to ``size`` x ``size``.

    ``bilinear`` is antialiased (what torchvision's ``Resize`` does on tensors, the usual
    128 -> 48 step of the CIFAR10-DVS recipes); ``area`` averages pixel blocks; ``nearest`` picks
    pixels. A frame already at ``size`` is returned as is.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")
    h, w = frames.shape[-2:]
    if (h, w) == (size, size):
        return frames
    lead = frames.shape[:-2]
    x = frames.reshape(-1, 1, h, w)
    if mode == "bilinear":
        x = F.interpolate(
            x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )
    elif mode == "area":
        x = F.interpolate(x, size=(size, size), mode="area")
    else:
        x = F.interpolate(x, size=(size, size), mode="nearest")
    return x.reshape(*lead, size, size)
