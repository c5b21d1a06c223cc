"""What the emulated event datasets (``digits_dvs``, ``fashion_dvs``) share: their in-memory
splits, the emulator's part of ``data.options`` and the bundle built from their frame caches
(their registration and option checks are declared in :mod:`tssd.data.catalog`).

Each dataset keeps its own source images, cache layout and reader; both cache frames per T under
``frames_number_<T>_split_by_<mode>/`` and hold the frames of every T in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from tssd.data import events as ev_io
from tssd.data.base import DataBundle, TensorSplit, dataset_spec
from tssd.data.catalog import checked_params
from tssd.data.emulator import EMULATOR_VERSION, EmulatorParams
from tssd.data.transforms import draw_shifts, shift


class EventTensorSplit(TensorSplit):
    """In-memory event split; with ``max_shift > 0`` each batch is randomly translated (one draw
    per sample, shared by all its framings)."""

    def __init__(self, inputs: dict[int, torch.Tensor], labels: torch.Tensor, max_shift: int = 0):
        super().__init__(inputs, labels)
        self.max_shift = max_shift

    def take(self, idx: torch.Tensor):  # noqa: D102
        x, y = super().take(idx)
        if self.max_shift:
            dy, dx = draw_shifts(len(y), self.max_shift)
            x = {t: shift(v, dy, dx, self.max_shift) for t, v in x.items()}
        return x, y

    def __getitem__(self, i: int):  # noqa: D105
        x, y = self.take(torch.as_tensor([i]))
        return {t: v[0] for t, v in x.items()}, y[0]


@dataclass(frozen=True)
class EmulatedOptions:
    """The ``data.options`` of one build of an emulated dataset, resolved and checked."""

    name: str
    params: EmulatorParams
    """The emulator's parameters."""
    loader: dict
    """The loader's options (``split_by``, ``resize``, ``max_shift``, and the dataset's own)."""

    def bundle(
        self,
        cfg,
        timesteps: tuple[int, ...],
        base: Path,
        read_split: Callable[[Path, str], torch.Tensor],
        labels: dict[str, torch.Tensor],
        split: str,
        split_hash: str,
    ) -> DataBundle:
        """Every split of every T (``val`` too when ``labels`` has one), read from the frame
        caches under ``base`` (``read_split(frames_dir, "train" | "test" | "val")``: frames
        ``[N, T, 2, sensor, sensor]``),
        resized to ``data.size`` (default the sensor size), and their metadata; with
        ``data.augment`` the training batches are shifted by up to ``max_shift`` pixels."""
        params, opts = self.params, self.loader
        size = cfg.size or params.sensor
        inputs: dict[str, dict[int, torch.Tensor]] = {part: {} for part in labels}
        for t in timesteps:
            fdir = base / ev_io.frames_dir_name(t, opts["split_by"])
            for part in labels:
                inputs[part][t] = ev_io.resize_frames(read_split(fdir, part), size, opts["resize"])
        shift_px = opts["max_shift"] if cfg.augment else 0
        extra = {
            "emulator": params.as_dict(),
            "emulator_version": EMULATOR_VERSION,
            "cache": str(base),
            "split_by": opts["split_by"],
            "sensor": params.sensor,
            "augment": f"random shift +-{shift_px}px" if shift_px else "none",
        }
        return DataBundle(
            dataset_spec(self.name).info(size, split, split_hash, extra),
            EventTensorSplit(inputs["train"], labels["train"], shift_px),
            EventTensorSplit(inputs["test"], labels["test"]),
            EventTensorSplit(inputs["val"], labels["val"]) if "val" in labels else None,
        )


def split_options(name: str, cfg, loader_keys) -> EmulatedOptions:
    """The emulator parameters and the loader's options (``loader_keys``) of a run's ``data``
    config, resolved and checked by dataset ``name``'s spec (which has one split: ``data.split``
    must be ``default``)."""
    opts = dataset_spec(name).options_of(cfg)
    return EmulatedOptions(name, checked_params(name, opts), {k: opts[k] for k in loader_keys})
