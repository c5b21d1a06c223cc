"""``digits_dvs``: the bundled digits turned into event streams by the DVS emulator.

The quick profile's stand-in for CIFAR10-DVS and DVS-Gesture: the same event pipeline (event files,
frames by a fixed number of frames, ``{T: [T, 2, H, W]}`` samples) on data every machine has.
Same stratified train/test split as ``digits`` (1,437 / 360 images). Options: the emulator's
parameters (:class:`~tssd.data.emulator.EmulatorParams`), ``split_by``, ``resize`` and
``max_shift``; streams and frames are cached in spikingjelly's layout.

Option defaults and the cache: docs/datasets.md, section ``tssd/data/digits_dvs.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tssd.data import events as ev_io
from tssd.data.base import DataBundle, dataset_spec
from tssd.data.cache import building, cache_root, is_complete, param_key
from tssd.data.catalog import DIGITS_DVS_LOADER_DEFAULTS as LOADER_DEFAULTS
from tssd.data.digits import digits_arrays, split_hash
from tssd.data.emulated import split_options
from tssd.data.emulator import EMULATOR_VERSION, EmulatorParams, emulate
from tssd.data.status import DatasetStatus

NAME = "digits_dvs"


def cache_dir(root: str, params: EmulatorParams) -> Path:
    """The cache directory of one emulator parameter set."""
    key = param_key(
        {
            "emulator": params.as_dict(),
            "version": EMULATOR_VERSION,
            "source": "sklearn.datasets.load_digits",
        }
    )
    return cache_root(root) / NAME / key


def _relpaths(labels: np.ndarray, tr: np.ndarray, te: np.ndarray) -> dict[int, str]:
    paths = {}
    for split, idx in (("train", tr), ("test", te)):
        for i in idx:
            paths[int(i)] = f"{split}/{labels[i]}/digit_{i:04d}.npz"
    return paths


def ensure_cache(
    root: str, params: EmulatorParams, timesteps: tuple[int, ...], split_by: str
) -> Path:
    """Generate (if needed) the event files and the frames for every T; return the cache dir."""
    images, labels, tr, te = digits_arrays()
    base = cache_dir(root, params)
    rel = _relpaths(labels, tr, te)
    events_dir = base / "events_np"
    streams = None
    if not is_complete(events_dir):
        streams = emulate(images, params)
        with building(
            events_dir, {"dataset": NAME, "emulator": params.as_dict(), "version": EMULATOR_VERSION}
        ) as tmp:
            for i, path in rel.items():
                out = tmp / path
                out.parent.mkdir(parents=True, exist_ok=True)
                e = streams[i]
                ev_io.save_events(out, e["t"], e["x"], e["y"], e["p"], compress=False)
    for t in timesteps:
        fdir = base / ev_io.frames_dir_name(t, split_by)
        if is_complete(fdir):
            continue
        with building(fdir, {"dataset": NAME, "frames": t, "split_by": split_by}) as tmp:
            for i, path in rel.items():
                e = streams[i] if streams is not None else ev_io.load_events(events_dir / path)
                out = tmp / path
                out.parent.mkdir(parents=True, exist_ok=True)
                frames = ev_io.integrate(e, t, params.sensor, params.sensor, split_by)
                ev_io.save_frames(out, frames, compress=False)
    return base


def digits_dvs(cfg, timesteps: tuple[int, ...]) -> DataBundle:
    """Emulated event streams of the digits, as frames ``{T: [T, 2, S, S]}`` (S = ``data.size``,
    default the sensor size)."""
    options = split_options(NAME, cfg, LOADER_DEFAULTS)
    base = ensure_cache(cfg.root, options.params, timesteps, options.loader["split_by"])
    _, labels, tr, te = digits_arrays()
    rel = _relpaths(labels, tr, te)
    idx = {"train": tr, "test": te}

    def read_split(fdir: Path, split: str) -> torch.Tensor:
        frames = [ev_io.load_frames(fdir / rel[int(i)]) for i in idx[split]]
        return torch.from_numpy(np.stack(frames))

    y = torch.from_numpy(labels)
    return options.bundle(
        cfg,
        timesteps,
        base,
        read_split,
        {"train": y[tr], "test": y[te]},
        dataset_spec(NAME).default_split,
        split_hash(tr, te),
    )


def check(root: str, deep: bool = False) -> DatasetStatus:
    """Generated on demand: lists the cached parameter sets under the cache root and their state."""
    from tssd.data.cache import read_marker

    base = cache_root(root) / NAME
    st = DatasetStatus(
        NAME,
        present=True,
        complete=True,
        valid=True,
        where=f"generated from the bundled digits; cache {base}",
    )
    default = cache_dir(root, EmulatorParams())
    for d in sorted(base.glob("*")) if base.is_dir() else []:
        if not d.is_dir() or d.name.startswith("."):
            continue
        ev = d / "events_np"
        marker = read_marker(ev)
        tag = " (default parameters)" if d == default else ""
        if marker is None:
            st.notes.append(f"{d.name}{tag}: events_np not complete (rebuilt on next use)")
            continue
        frames = sorted(p.name for p in d.glob("frames_number_*") if is_complete(p))
        st.notes.append(
            f"{d.name}{tag}: {marker.get('files')} streams; frames: {', '.join(frames) or 'none'}"
        )
        if deep:
            for p in ev.rglob("*.npz"):
                try:
                    ev_io.load_events(p)
                except ev_io.DatasetCorrupt as exc:
                    st.problems.append(str(exc))
                    st.valid = False
    if not st.notes:
        st.notes.append("no cache yet: made on first use (a few seconds)")
    return st
