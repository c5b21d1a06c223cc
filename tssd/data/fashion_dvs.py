"""``fashion_dvs``: Fashion-MNIST turned into event streams by the DVS emulator.

The ``small`` profile's event stand-in for CIFAR10-DVS and DVS-Gesture: real images (the
official Fashion-MNIST files, see :mod:`tssd.data.mnist`) seen by an emulated event camera during
saccades (:mod:`tssd.data.emulator`), integrated into frames ``{T: [T, 2, S, S]}`` like every
event dataset of the suite. Same split as ``fashion_mnist``. Frames are cached one file per split
(streams are not kept: the emulator is deterministic and re-emulates them).

Options with their defaults, and the cache's layout and costs: docs/datasets.md, section
``tssd/data/fashion_dvs.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tssd.data import events as ev_io
from tssd.data.base import DataBundle
from tssd.data.cache import building, cache_root, is_complete, param_key
from tssd.data.catalog import FASHION_DVS_LOADER_DEFAULTS as LOADER_DEFAULTS
from tssd.data.emulated import split_options
from tssd.data.emulator import EMULATOR_VERSION, EmulatorParams, emulate
from tssd.data.errors import DatasetCorrupt
from tssd.data.mnist import (
    load_arrays,
    locate,
    split_description,
    split_indices,
    val_split_hash,
)
from tssd.data.status import DatasetStatus

NAME = "fashion_dvs"
SOURCE = "fashion_mnist"
CHUNK = 2_000
"""Images emulated at once (bounds the emulator's memory to a few hundred MB)."""


def cache_dir(root: str, params: EmulatorParams, per_class: int, val_per_class: int = 0) -> Path:
    """The cache directory of one parameter set, training subset and validation split (a cache
    without validation keeps the key it had before validation splits existed)."""
    files = locate(SOURCE, root)
    sizes = {s: [p.stat().st_size for p in pair] for s, pair in files.items()}
    what = {
        "emulator": params.as_dict(),
        "version": EMULATOR_VERSION,
        "source": SOURCE,
        "source_sizes": sizes,
        "train_per_class": per_class,
    }
    if val_per_class:
        what["val_per_class"] = val_per_class
    return cache_root(root) / NAME / param_key(what)


def _emulate_split(images: np.ndarray, params: EmulatorParams, first_index: int) -> dict:
    """Every stream of one split, concatenated: ``t, x, y, p`` and ``offsets`` ``[N + 1]``."""
    parts: dict[str, list[np.ndarray]] = {"t": [], "x": [], "y": [], "p": []}
    lengths = []
    for a in range(0, len(images), CHUNK):
        chunk = images[a : a + CHUNK].astype(np.float64) / 255.0
        streams = emulate(chunk, params, indices=np.arange(a, a + len(chunk)) + first_index)
        for s in streams:
            for k in parts:
                parts[k].append(s[k])
            lengths.append(len(s["t"]))
    out = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    out["offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return out


def _stream(split: dict, i: int) -> dict[str, np.ndarray]:
    a, b = split["offsets"][i], split["offsets"][i + 1]
    return {k: split[k][a:b] for k in ("t", "x", "y", "p")}


# Each split's streams get their own range of indices (the emulator's noise draws are seeded
# by index): train from 0, test after the 60,000 training images, validation after both.
FIRST_INDEX = {"train": 0, "test": 60_000, "val": 70_000}


def ensure_cache(
    root: str,
    params: EmulatorParams,
    per_class: int,
    timesteps: tuple[int, ...],
    split_by: str,
    val_per_class: int = 0,
    expect: str = "full",
) -> tuple[Path, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Generate (if needed) the streams and the frames for every T.

    Returns:
        The cache directory, the training subset's and the validation split's indices, and the
        labels per split (``val`` only with a validation split).

    Raises:
        DatasetCorrupt: with ``expect="full"``, source files holding fewer images than the
            official split (naming the file and ``data.options.expect: subset``).
    """
    arrays = load_arrays(SOURCE, root, expect)
    idx, vidx = split_indices(arrays["train"][1], per_class, val_per_class)
    images = {"train": arrays["train"][0][idx], "test": arrays["test"][0]}
    labels = {"train": arrays["train"][1][idx], "test": arrays["test"][1]}
    if len(vidx):
        images["val"], labels["val"] = arrays["train"][0][vidx], arrays["train"][1][vidx]
    base = cache_dir(root, params, per_class, val_per_class)
    streams: dict[str, dict] = {}
    for t in timesteps:
        fdir = base / ev_io.frames_dir_name(t, split_by)
        if is_complete(fdir):
            continue
        meta = {"dataset": NAME, "frames": t, "split_by": split_by, "emulator": params.as_dict()}
        with building(fdir, {**meta, "version": EMULATOR_VERSION}) as tmp:
            for split in images:
                if split not in streams:
                    streams[split] = _emulate_split(images[split], params, FIRST_INDEX[split])
                s = streams[split]
                n = len(s["offsets"]) - 1
                frames = np.zeros((n, t, 2, params.sensor, params.sensor), np.uint16)
                for i in range(n):
                    frames[i] = ev_io.integrate(
                        _stream(s, i), t, params.sensor, params.sensor, split_by
                    )
                np.save(tmp / f"{split}.npy", frames)
    return base, idx, vidx, labels


def _load_frames(path: Path, n: int) -> torch.Tensor:
    try:
        frames = np.load(path)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetCorrupt(f"{path}: truncated or corrupt frames ({exc}); delete it") from exc
    if len(frames) != n:
        raise DatasetCorrupt(f"{path}: {len(frames)} samples, expected {n}; delete it")
    return torch.from_numpy(frames.astype(np.float32))


def fashion_dvs(cfg, timesteps: tuple[int, ...]) -> DataBundle:
    """Emulated event streams of Fashion-MNIST, frames ``{T: [T, 2, S, S]}`` (S = ``data.size``,
    default the sensor size)."""
    options = split_options(NAME, cfg, LOADER_DEFAULTS)
    per_class, split_by = options.loader["train_per_class"], options.loader["split_by"]
    val = options.loader["val_per_class"]
    base, idx, vidx, labels = ensure_cache(
        cfg.root, options.params, per_class, timesteps, split_by, val, options.loader["expect"]
    )
    n = {split: len(y) for split, y in labels.items()}
    return options.bundle(
        cfg,
        timesteps,
        base,
        lambda fdir, split: _load_frames(fdir / f"{split}.npy", n[split]),
        {split: torch.from_numpy(y) for split, y in labels.items()},
        split_description(SOURCE, per_class, n["train"], n["test"], n.get("val", 0)),
        val_split_hash(idx, vidx, np.arange(n["test"])),
    )


def check(root: str, deep: bool = False) -> DatasetStatus:
    """Generated from Fashion-MNIST on first use: present when its source files are."""
    from tssd.data.mnist import check as check_source

    src = check_source(SOURCE, root, deep=False)
    st = DatasetStatus(
        NAME,
        present=src.present,
        complete=src.complete,
        valid=src.valid,
        where=f"generated from {SOURCE} ({src.where}); cache {cache_root(root) / NAME}",
        layout=src.layout,
        counts=src.counts,
        problems=list(src.problems),
    )
    base = cache_root(root) / NAME
    for d in sorted(base.glob("*")) if base.is_dir() else []:
        if d.is_dir() and not d.name.startswith("."):
            frames = sorted(p.name for p in d.glob("frames_number_*") if is_complete(p))
            st.notes.append(f"{d.name}: frames {', '.join(frames) or 'none (made on next use)'}")
    if src.present and not st.notes:
        st.notes.append("no cache yet: made on first use (about a minute per 10,000 images)")
    return st
