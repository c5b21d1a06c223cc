"""The file-backed event pipeline shared by CIFAR10-DVS and DVS128 Gesture.

A dataset directory follows spikingjelly's layout::

    <dir>/events_np/<...>/<sample>.npz                               t, x, y, p per sample
    <dir>/frames_number_<T>_split_by_<mode>/<...>/<sample>.npz       frames [T, 2, 128, 128]

Frame caches are made from ``events_np`` on first use, one per requested T, atomically (see
:mod:`tssd.data.cache`). A cache written by spikingjelly (no marker of ours) is reused when its
``.building`` marker is absent and it holds every sample. Samples are loaded per item (a torch
Dataset batched by the trainer's DataLoader), resized to ``data.size`` and, for training with
``data.augment``, flipped and translated with one draw shared by every framing.

Both datasets' modules keep what is their own (file formats, class folders, split rule, counts)
and share the rest from here: finding the dataset folder (:class:`EventLayout`), checking an
existing ``events_np`` against the declared counts (:func:`ensure_events_np`), and the common
parts of their ``data check`` reports. Their registration and the facts they share (frame size,
string options) are declared in :mod:`tssd.data.catalog`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from tssd.data import events as ev_io
from tssd.data.base import DataBundle, DatasetUnavailable, dataset_spec
from tssd.data.cache import (
    building,
    count_files,
    is_complete,
    list_hash,
    read_marker,
    spikingjelly_building_marker,
)
from tssd.data.catalog import EVENT_INPUT_SIZE as INPUT_SIZE
from tssd.data.events import DatasetCorrupt
from tssd.data.status import DatasetStatus
from tssd.data.transforms import draw_flips, draw_shifts, flip, shift

SENSOR = 128
"""Both DVS datasets were recorded with a 128x128 DVS128."""


def natural_key(name: str) -> list:
    """Sort key comparing digit runs as numbers: ``x_2`` before ``x_10``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def list_npz(directory: Path) -> list[str]:
    """Names of the ``.npz`` files of one folder, in natural order (hidden files excluded)."""
    return sorted(
        (
            e.name
            for e in os.scandir(directory)
            if e.is_file() and e.name.endswith(".npz") and not e.name.startswith(".")
        ),
        key=natural_key,
    )


def class_npz(directory: Path, missing: str) -> list[str]:
    """The ``.npz`` names of one class folder of ``events_np`` (:func:`list_npz`).

    Raises:
        DatasetCorrupt: the folder is missing (``missing`` says what was expected) or empty.
    """
    if not directory.is_dir():
        raise DatasetCorrupt(f"{directory}: {missing}")
    files = list_npz(directory)
    if not files:
        raise DatasetCorrupt(f"{directory}: empty class folder (no .npz files)")
    return files


def usable_foreign_dir(directory: Path, rel_paths: list[str]) -> bool:
    """A directory without our marker is usable when spikingjelly's ``.building`` marker is absent
    and every needed file exists."""
    if spikingjelly_building_marker(directory).exists():
        return False
    return all((directory / r).is_file() for r in rel_paths)


def refuse_unfinished_conversion(events_dir: Path) -> None:
    """Raise :class:`DatasetCorrupt` when spikingjelly's ``.building`` marker says its conversion
    of ``events_dir`` never finished (such a directory must not be read as a cache)."""
    marker = spikingjelly_building_marker(events_dir)
    if marker.exists():
        raise DatasetCorrupt(
            f"{events_dir}: spikingjelly's marker {marker} says this conversion never "
            f"finished: remove {events_dir} and {marker} to rebuild it"
        )


def ensure_events_np(
    base: Path,
    expect: str,
    *,
    declared: int,
    count: Callable[[Path], object],
    counted: object,
    unit: str,
    subset: str,
    build: Callable[[], None],
) -> Path:
    """``base/events_np`` ready to read: ours (its marker's file count must be ``declared`` when
    ``expect == 'full'``), a foreign one (``count(dir)`` must then be ``counted``), or made by
    ``build()`` from the raw files. ``unit`` names what a file holds (recordings, samples) and
    ``subset`` what a smaller conversion was made from, in the messages.

    Raises:
        DatasetCorrupt: an unfinished spikingjelly conversion, or (full) other counts.
    """
    ev = base / "events_np"
    if is_complete(ev):
        n = (read_marker(ev) or {}).get("files")
        if expect == "full" and n != declared:
            raise DatasetCorrupt(
                f"{ev}: holds {n} {unit} (converted from {subset}), expected {declared}; "
                f"remove it to rebuild from extract/, {SUBSET_HINT}"
            )
        return ev
    if ev.exists():
        refuse_unfinished_conversion(ev)
        n = count(ev)
        if n != counted and expect == "full":
            raise DatasetCorrupt(
                f"{ev}: holds {n} {unit}, expected {counted} (a partial cache?); remove it "
                f"to rebuild from extract/, {SUBSET_HINT}"
            )
        return ev
    build()
    return ev


def note_events_np(st: DatasetStatus, ev: Path) -> None:
    """``data check`` on an ``events_np`` folder's markers: ours or not (a note), spikingjelly's
    unfinished conversion (a problem)."""
    st.notes.append(f"events_np: {'tssd marker' if read_marker(ev) else 'no tssd marker'}")
    if spikingjelly_building_marker(ev).exists():
        st.problems.append(f"{ev}: unfinished spikingjelly conversion (.building marker)")


def finish_status(st: DatasetStatus, base: Path, undecodable: list[str]) -> DatasetStatus:
    """The end of a ``data check`` report: the frame caches under ``base`` as notes, the files
    that did not decode as problems (and the verdict ``valid``)."""
    st.notes += frames_cache_notes(base)
    st.problems += undecodable
    st.valid = not undecodable
    return st


def frames_cache_notes(base: Path) -> list[str]:
    """One line per frames cache under ``base`` (``data check``): file count and state."""
    notes = []
    for fdir in sorted(base.glob("frames_number_*_split_by_*")):
        mark = (
            "complete"
            if is_complete(fdir)
            else ("unfinished" if spikingjelly_building_marker(fdir).exists() else "no marker")
        )
        notes.append(f"{fdir.name}: {count_files(fdir)} files, {mark}")
    return notes


def ensure_frames(
    dataset_dir: Path, rel_paths: list[str], frames: int, split_by: str, workers: int = 0
) -> Path:
    """The frame cache for ``frames`` frames, made from ``events_np`` if needed.

    Raises:
        DatasetCorrupt: an event file cannot be decoded or does not fit the sensor, or a foreign
            frame directory is incomplete (it names the directory to remove).
    """
    fdir = dataset_dir / ev_io.frames_dir_name(frames, split_by)
    if is_complete(fdir):
        held = (read_marker(fdir) or {}).get("files")
        if held == len(rel_paths) or all((fdir / r).is_file() for r in rel_paths):
            return fdir
        raise DatasetCorrupt(
            f"{fdir}: frame cache of {held} samples lacks some of the {len(rel_paths)} this run "
            "needs (made from another set of recordings): remove it to rebuild"
        )
    if fdir.exists():
        if usable_foreign_dir(fdir, rel_paths):
            return fdir
        raise DatasetCorrupt(
            f"{fdir}: incomplete frame cache (interrupted conversion or missing "
            "samples, and no completion marker): remove it to rebuild"
        )
    src = dataset_dir / "events_np"

    def convert(rel: str, tmp: Path) -> None:
        e = ev_io.load_events(src / rel)
        try:
            f = ev_io.integrate(e, frames, SENSOR, SENSOR, split_by)
        except ValueError as exc:
            raise DatasetCorrupt(f"{src / rel}: {exc}") from exc
        out = tmp / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        ev_io.save_frames(out, f)

    with building(fdir, {"frames": frames, "split_by": split_by, "sensor": SENSOR}) as tmp:
        n = workers or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=n) as pool:
            for fut in [pool.submit(convert, r, tmp) for r in rel_paths]:
                fut.result()
    return fdir


class EventFramesDataset(Dataset):
    """Samples ``({T: frames [T, 2, size, size]}, label)`` read from frame caches.

    Args:
        frame_dirs: the frame cache directory of each T.
        samples: ``(relative path, label)`` of each sample.
        size: output size (frames are resized from 128x128).
        resize: resize mode (see :func:`tssd.data.events.resize_frames`).
        flip_p: mirror horizontally (probability 1/2) when augmenting.
        max_shift: random translation range in pixels when augmenting (0 = none).
        augment: apply flip/translation (training split only).
    """

    def __init__(
        self,
        frame_dirs: dict[int, Path],
        samples: list[tuple[str, int]],
        size: int,
        resize: str,
        *,
        augment: bool = False,
        flip_p: bool = False,
        max_shift: int = 0,
    ):
        self.frame_dirs, self.samples, self.size, self.resize = frame_dirs, samples, size, resize
        self.augment, self.flip_p, self.max_shift = augment, flip_p, max_shift

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        rel, label = self.samples[i]
        out = {}
        for t, d in self.frame_dirs.items():
            arr = ev_io.load_frames(d / rel)
            if arr.shape[0] != t:
                raise DatasetCorrupt(f"{d / rel}: holds {arr.shape[0]} frames, expected {t}")
            out[t] = ev_io.resize_frames(torch.from_numpy(arr), self.size, self.resize)
        if self.augment:
            flips = draw_flips(1) if self.flip_p else torch.zeros(1, dtype=torch.bool)
            dy, dx = draw_shifts(1, self.max_shift)
            out = {
                t: flip(shift(v[None], dy, dx, self.max_shift), flips)[0] for t, v in out.items()
            }
        return out, label

    def describe_augment(self) -> str:
        """A one-line description for the result metadata."""
        if not self.augment:
            return "none"
        parts = (["hflip"] if self.flip_p else []) + (
            [f"shift+-{self.max_shift}px"] if self.max_shift else []
        )
        return "+".join(parts) or "none"


SUBSET_HINT = "or set data.options.expect: subset to use the files present"


def other_layout(base: Path, moves: list[tuple[Path, Path]], what: str) -> str:
    """The message for a dataset found in another layout: ``what`` was found, and each
    ``(found, target)`` move that puts it where the loader looks."""
    todo = "; ".join(f"move {a} to {b}" for a, b in moves[:3])
    more = f" (and {len(moves) - 3} more like it)" if len(moves) > 3 else ""
    return f"{base}: found in another layout ({what}): {todo}{more}"


def candidate_dirs(root: str, path: str, folders: tuple[str, ...] | list[str]) -> list[Path]:
    """Where a dataset may be: ``path`` if given, else each of ``root/<folder>`` (none when
    both are empty)."""
    if path:
        return [Path(path).expanduser()]
    return [Path(root).expanduser() / f for f in folders] if root else []


def locate_event_dataset(
    root: str, path: str, folders: tuple[str, ...] | list[str]
) -> tuple[Path | None, list[Path]]:
    """The dataset folder (or None) and the places searched (:func:`candidate_dirs`); a folder
    counts when it holds ``events_np``, ``extract`` or ``download``."""
    cands = candidate_dirs(root, path, folders)
    for c in cands:
        if any((c / sub).is_dir() for sub in ("events_np", "extract", "download")):
            return c, cands
    return None, cands


@dataclass(frozen=True)
class EventLayout:
    """How one real event dataset is found on disk: its name, the folder names it may have
    under ``data.root``, the message describing the expected layout (``layout(root)``) and the
    finder of the common misplacements (``find_other(root, path)``: a message naming the moves
    that fix them, or '')."""

    name: str
    folders: tuple[str, ...]
    layout: Callable[[str], str]
    find_other: Callable[[str, str], str]

    def locate(self, root: str, path: str = "") -> tuple[Path | None, list[Path]]:
        """The dataset folder (or None) and the places searched."""
        return locate_event_dataset(root, path, self.folders)

    def candidates(self, root: str, path: str = "") -> list[Path]:
        """Where the dataset may be (:func:`candidate_dirs`)."""
        return candidate_dirs(root, path, self.folders)

    def require(self, root: str, path: str = "") -> Path:
        """The dataset folder.

        Raises:
            DatasetUnavailable: not found; the message names the moves that fix a misplaced tree,
                else the places searched and the expected layout.
        """
        base, searched = self.locate(root, path)
        if base is None:
            moved = self.find_other(root, path)
            if moved:
                raise DatasetUnavailable(moved)
            where = ", ".join(map(str, searched)) or "(data.root is empty)"
            raise DatasetUnavailable(
                f"{self.name}: not found (searched {where}); {self.layout(root)}"
            )
        return base

    def status(self, root: str) -> tuple[DatasetStatus, Path | None]:
        """The start of a ``data check`` report and the dataset folder; without a folder the
        report is final (where it was searched, a misplaced tree as its problem)."""
        base, searched = self.locate(root)
        st = DatasetStatus(self.name, present=base is not None, layout=self.layout(root))
        if base is None:
            st.where = "searched " + ", ".join(map(str, searched))
            st.misplaced = self.find_other(root, "")
            if st.misplaced:
                st.present, st.problems = True, [st.misplaced]
        else:
            st.where = str(base)
        return st, base

    def bundle(
        self,
        cfg,
        opts: dict,
        base: Path,
        train: list,
        test: list,
        timesteps: tuple[int, ...],
        split: str,
    ) -> DataBundle:
        """Frames for every requested T (converted once, cached), the two splits and their
        metadata: the common tail of the real event datasets' factories."""
        rels = [r for r, _ in train + test]
        dirs = {
            t: ensure_frames(base, rels, t, opts["split_by"], opts["workers"]) for t in timesteps
        }
        size = cfg.size or INPUT_SIZE
        tr = EventFramesDataset(
            dirs,
            train,
            size,
            opts["resize"],
            augment=cfg.augment,
            flip_p=opts["flip"],
            max_shift=opts["max_shift"],
        )
        te = EventFramesDataset(dirs, test, size, opts["resize"])
        info = dataset_spec(self.name).info(
            size,
            split,
            list_hash((r for r, _ in train), (r for r, _ in test)),
            {
                "source": str(base),
                "split_by": opts["split_by"],
                "resize": opts["resize"],
                "sensor": SENSOR,
                "train": len(train),
                "test": len(test),
                "augment": tr.describe_augment(),
            },
        )
        return DataBundle(info, tr, te)
