"""CIFAR10-DVS: 10,000 DVS128 recordings (1,000 per class) of CIFAR10 images, AEDAT 2.0 files.

Read from spikingjelly's layout under ``<data.root>/cifar10_dvs`` (or ``CIFAR10DVS``, or
``data.options.path``): the zips, the extracted ``.aedat`` files or a ``events_np`` cache, any
stage being enough. There is no official split: ``data.split`` chooses one (``random:<s>:<r>``,
default ``random:0:0.9``, or ``per_class:<N>``) and every result records it with its hash.
Class folders found one level off are reported with the move that fixes them, never read in
place.

The layout, the split rules and the options: docs/datasets.md, section
``tssd/data/cifar10_dvs.py``.
"""

from __future__ import annotations

import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tssd.data import events as ev_io
from tssd.data.aedat import read_cifar10_dvs, scan_aedat2
from tssd.data.base import DataBundle, DatasetUnavailable, dataset_spec
from tssd.data.cache import building, count_files
from tssd.data.catalog import parse_cifar10_dvs_split as parse_split
from tssd.data.event_folder import (
    SUBSET_HINT,
    EventLayout,
    class_npz,
    ensure_events_np,
    finish_status,
    natural_key,
    note_events_np,
    other_layout,
)
from tssd.data.events import DatasetCorrupt
from tssd.data.status import DatasetStatus
from tssd.errors import ConfigError

NAME = "cifar10_dvs"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
PER_CLASS = 1000
FOLDERS = ("cifar10_dvs", "CIFAR10DVS", "cifar10-dvs")
URL = (
    "figshare (airplane.zip is https://ndownloader.figshare.com/files/7712788; spikingjelly's "
    "CIFAR10DVS.resource_url_md5 lists all ten with their md5)"
)


def layout(root: str) -> str:
    """The expected layout and where to get it."""
    base = Path(root or "<data.root>") / FOLDERS[0]
    return (
        f"expected {base}/extract/<class>/*.aedat (10 class folders: {', '.join(CLASSES)}; "
        f"the AEDAT 2.0 recordings), or {base}/download/<class>.zip, or a spikingjelly cache "
        f"{base}/events_np/<class>/*.npz; get the 10 class zips from {URL}"
    )


def locate(root: str, path: str = "") -> tuple[Path | None, list[Path]]:
    """The dataset folder (or None) and the places searched."""
    return ON_DISK.locate(root, path)


def _class_dirs(d: Path, suffix: str) -> list[str]:
    """The CIFAR10 class names that are folders of ``d`` holding ``suffix`` files."""
    found = []
    for cls in CLASSES:
        c = d / cls
        if c.is_dir() and any(e.name.endswith(suffix) for e in c.iterdir()):
            found.append(cls)
    return found


def find_other_layout(root: str, path: str = "") -> str:
    """A message saying where the recordings were found in another layout and where to move
    them, or '' (the common mistakes: class folders without ``extract/``, ``.npz`` class folders
    without ``events_np/``, class zips without ``download/``, class folders right under the data
    root)."""
    for base in ON_DISK.candidates(root, path):
        if not base.is_dir():
            continue
        for sub, suffix, what in (
            ("extract", ".aedat", ".aedat class folders"),
            ("events_np", ".npz", ".npz class folders"),
        ):
            found = _class_dirs(base, suffix)
            if found:
                moves = [(base / c, base / sub / c) for c in found]
                return other_layout(base, moves, f"{len(found)} of 10 {what} without {sub}/")
        zips = [base / f"{c}.zip" for c in CLASSES if (base / f"{c}.zip").is_file()]
        if zips:
            moves = [(z, base / "download" / z.name) for z in zips]
            return other_layout(base, moves, f"{len(zips)} class zips without download/")
    if root and not path:
        r = Path(root).expanduser()
        found = _class_dirs(r, ".aedat") if r.is_dir() else []
        if found:
            moves = [(r / c, r / FOLDERS[0] / "extract" / c) for c in found]
            return other_layout(r, moves, f"{len(found)} of 10 .aedat class folders in data.root")
    return ""


ON_DISK = EventLayout(NAME, FOLDERS, layout, find_other_layout)
"""Where the dataset is looked for and what is said when it is not there."""


def split_samples(per_class: dict[int, list[str]], split: str):
    """Train and test ``(relative path, label)`` lists and the resolved rule's description."""
    kind, a, b = parse_split(split)
    train, test = [], []
    rng = np.random.default_rng(a) if kind == "random" else None
    for label in sorted(per_class):
        files = per_class[label]
        if kind == "random":
            order = rng.permutation(len(files))
            n_train = round(b * len(files))
            tr, te = order[:n_train], order[n_train:]
        else:
            if a >= len(files):
                raise ConfigError(
                    f"dataset {NAME!r}: key 'data.split': per_class:{a} leaves no "
                    f"training recordings in class {CLASSES[label]} "
                    f"({len(files)} files)"
                )
            te, tr = np.arange(a), np.arange(a, len(files))
        train += [(files[i], label) for i in sorted(tr)]
        test += [(files[i], label) for i in sorted(te)]
    if kind == "random":
        desc = (
            f"random:{a}:{b} (per class: numpy default_rng({a}) permutation of the files in "
            f"natural order, first round({b}*n) train)"
        )
    else:
        desc = f"per_class:{a} (files 0..{a - 1} of each class by index are test)"
    return train, test, desc


# ---- raw -> events_np ------------------------------------------------------------------------


def _extract_zips(base: Path) -> None:
    zips = sorted((base / "download").glob("*.zip"))
    if not zips:
        raise DatasetUnavailable(
            f"{base / 'download'}: no .zip archives; {layout(str(base.parent))}"
        )
    with building(base / "extract", {"dataset": NAME, "from": [z.name for z in zips]}) as tmp:
        for z in zips:
            try:
                with zipfile.ZipFile(z) as zf:
                    zf.extractall(tmp)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise DatasetCorrupt(f"{z}: corrupt or truncated zip archive ({exc})") from exc


def raw_files(extract: Path) -> dict[str, list[Path]]:
    """The AEDAT files of every class folder under ``extract``.

    Raises:
        DatasetCorrupt: a class folder missing or without .aedat files.
    """
    out = {}
    for cls in CLASSES:
        d = extract / cls
        if not d.is_dir():
            nested = [
                sub
                for sub in sorted(extract.iterdir())
                if sub.is_dir() and sub.name not in CLASSES and _class_dirs(sub, ".aedat")
            ]
            if nested:  # unzipped with one folder level too many
                moves = [(nested[0] / c, extract / c) for c in _class_dirs(nested[0], ".aedat")]
                raise DatasetCorrupt(other_layout(extract, moves, f"class folders in {nested[0]}"))
            raise DatasetCorrupt(
                f"{d}: class folder missing (expected one per class: {', '.join(CLASSES)})"
            )
        files = sorted(
            (p for p in d.iterdir() if p.suffix == ".aedat"), key=lambda p: natural_key(p.name)
        )
        if not files:
            raise DatasetCorrupt(f"{d}: empty class folder (no .aedat files)")
        out[cls] = files
    return out


def count_problem(counts: dict[str, int], where: Path) -> str:
    """'' when every class under ``where`` holds the declared 1,000 recordings, else a message
    naming the first class folder that does not."""
    bad = [c for c in CLASSES if counts.get(c, 0) != PER_CLASS]
    if not bad:
        return ""
    others = f"; {len(bad) - 1} other classes differ too" if len(bad) > 1 else ""
    return (
        f"{where / bad[0]}: {counts.get(bad[0], 0)} recordings, expected {PER_CLASS} "
        f"(CIFAR10-DVS declares {PER_CLASS} per class{others})"
    )


def convert_raw(base: Path, workers: int = 0, expect: str = "full") -> None:
    """Decode ``extract/`` (extracted from ``download/`` first when missing) into ``events_np/``
    (atomically), after checking the per-class counts against the declared 1,000 unless
    ``expect == 'subset'``."""
    if not (base / "extract").is_dir():
        _extract_zips(base)
    files = raw_files(base / "extract")
    problem = count_problem({c: len(fs) for c, fs in files.items()}, base / "extract")
    if problem and expect == "full":
        raise DatasetCorrupt(f"{problem}; add the missing files, {SUBSET_HINT}")

    def one(src: Path, dst: Path) -> None:
        e = read_cifar10_dvs(src)
        ev_io.save_events(dst, e["t"], e["x"], e["y"], e["p"])

    with building(base / "events_np", {"dataset": NAME, "source": "extract"}) as tmp:
        for cls in CLASSES:
            (tmp / cls).mkdir()
        with ThreadPoolExecutor(max_workers=workers or 8) as pool:
            futs = [
                pool.submit(one, f, tmp / cls / (f.stem + ".npz"))
                for cls, fs in files.items()
                for f in fs
            ]
            for fut in futs:
                fut.result()


def ensure_events(base: Path, expect: str = "full", workers: int = 0) -> Path:
    """``events_np`` ready to read: ours, a foreign one, or converted from raw files; with
    ``expect == 'full'`` it must hold the declared 10 x 1,000 recordings."""
    total = len(CLASSES) * PER_CLASS
    return ensure_events_np(
        base,
        expect,
        declared=total,
        count=count_files,
        counted=total,
        unit="recordings",
        subset="a subset",
        build=lambda: convert_raw(base, workers, expect),
    )


def list_samples(ev: Path) -> dict[int, list[str]]:
    """Relative paths of every recording per label, in natural file order."""
    out = {}
    for label, cls in enumerate(CLASSES):
        out[label] = [f"{cls}/{f}" for f in class_npz(ev / cls, "class folder missing")]
    return out


def cifar10_dvs(cfg, timesteps: tuple[int, ...]) -> DataBundle:
    """CIFAR10-DVS frames ``{T: [T, 2, S, S]}`` (S = ``data.size``, default 48)."""
    opts = dataset_spec(NAME).options_of(cfg)  # a bad split rule fails before any conversion
    base = ON_DISK.require(cfg.root, opts["path"])
    ev = ensure_events(base, opts["expect"], opts["workers"])
    per_class = list_samples(ev)
    train, test, desc = split_samples(per_class, cfg.split)
    return ON_DISK.bundle(cfg, opts, base, train, test, timesteps, desc)


def check(root: str, deep: bool = False) -> DatasetStatus:
    """Raw recordings, decoded events and frame caches: per-class counts against the declared
    1,000, markers, and every file's header and size (every file decoded with ``deep``)."""
    st, base = ON_DISK.status(root)
    if base is None:
        return st
    undecodable: list[str] = []

    def inspect(fn, path: Path) -> None:
        try:
            fn(path)
        except DatasetCorrupt as exc:
            undecodable.append(str(exc))

    def short_classes(counts: dict[str, int], where: Path) -> None:
        problem = count_problem(counts, where)
        if problem:
            st.problems.append(problem)

    if (base / "extract").is_dir():
        try:
            raw = raw_files(base / "extract")
            st.counts["raw"] = sum(len(v) for v in raw.values())
            short_classes({c: len(v) for c, v in raw.items()}, base / "extract")
            for fs in raw.values():
                for f in fs:
                    inspect(read_cifar10_dvs if deep else scan_aedat2, f)
        except DatasetCorrupt as exc:
            st.problems.append(str(exc))
    ev = base / "events_np"
    if ev.is_dir():
        st.counts["events_np"] = count_files(ev)
        note_events_np(st, ev)
        try:
            per_class = list_samples(ev)
            short_classes({CLASSES[k]: len(v) for k, v in per_class.items()}, ev)
            for rels in per_class.values():
                for r in rels:
                    inspect(ev_io.load_events if deep else ev_io.scan_events, ev / r)
        except DatasetCorrupt as exc:
            st.problems.append(str(exc))
    zips = sorted((base / "download").glob("*.zip")) if (base / "download").is_dir() else []
    if zips and not st.counts:
        st.counts["zips"] = len(zips)
        st.notes.append("only download/ present: the archives are extracted on first use")
        for z in zips:
            try:
                with zipfile.ZipFile(z) as zf:  # reads the directory at the end: truncation shows
                    bad = zf.testzip() if deep else None
                    if bad is not None:
                        undecodable.append(f"{z}: CRC error in {bad}")
            except (zipfile.BadZipFile, OSError) as exc:
                undecodable.append(f"{z}: corrupt zip ({exc})")
    if "zips" in st.counts:
        st.complete = {z.stem for z in zips} >= set(CLASSES)
    else:
        st.complete = not st.problems
    return finish_status(st, base, undecodable)
