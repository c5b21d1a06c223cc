"""DVS128 Gesture: 11 gestures recorded by a DVS128 as AEDAT 3.1 files, one file per trial.

Read from spikingjelly's layout under ``<data.root>/dvs_gesture`` (or ``DVS128Gesture``, or
``data.options.path``): the IBM archive, the extracted trials with their label CSVs and the
official trial lists, or a ``events_np`` cache, any stage being enough. Each labelled segment of
a trial is one sample (spikingjelly's naming: 1,176 train / 288 test samples); the split is the
official trial lists. Trials found one level off are reported with the move that fixes them.

The layout, how samples are cut and the options: docs/datasets.md, section
``tssd/data/dvs_gesture.py``.
"""

from __future__ import annotations

import tarfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tssd.data import events as ev_io
from tssd.data.aedat import read_aedat31_polarity, scan_aedat31
from tssd.data.base import DataBundle, DatasetUnavailable, dataset_spec
from tssd.data.cache import building, count_files
from tssd.data.catalog import DVS_GESTURE_EXPECTED as EXPECTED
from tssd.data.event_folder import (
    SUBSET_HINT,
    EventLayout,
    class_npz,
    ensure_events_np,
    finish_status,
    note_events_np,
    other_layout,
)
from tssd.data.events import DatasetCorrupt
from tssd.data.status import DatasetStatus

NAME = "dvs_gesture"
CLASSES = (
    "hand_clapping",
    "right_hand_wave",
    "left_hand_wave",
    "right_arm_clockwise",
    "right_arm_counter_clockwise",
    "left_arm_clockwise",
    "left_arm_counter_clockwise",
    "arm_roll",
    "air_drums",
    "air_guitar",
    "other_gestures",
)
TRIALS = {"train": 98, "test": 24}
"""Trials named by the official trials_to_train.txt / trials_to_test.txt."""
FOLDERS = ("dvs_gesture", "DVS128Gesture", "dvs128_gesture")
LISTS = {"train": "trials_to_train.txt", "test": "trials_to_test.txt"}
URL = "https://research.ibm.com/interactive/dvsgesture/"


def layout(root: str) -> str:
    """The expected layout and where to get it."""
    base = Path(root or "<data.root>") / FOLDERS[0]
    return (
        f"expected {base}/extract/DvsGesture/ holding the user*.aedat trials, their "
        "*_labels.csv files, trials_to_train.txt and trials_to_test.txt, or "
        f"{base}/download/DvsGesture.tar.gz, or a spikingjelly cache "
        f"{base}/events_np/{{train,test}}/<label>/*.npz; the archive is at {URL}"
    )


def locate(root: str, path: str = "") -> tuple[Path | None, list[Path]]:
    """The dataset folder (or None) and the places searched."""
    return ON_DISK.locate(root, path)


def _holds_trials(d: Path) -> bool:
    return (d / LISTS["train"]).is_file()


def find_other_layout(root: str, path: str = "") -> str:
    """A message saying where the trials were found in another layout and where to move them, or
    '' (the common mistakes: ``DvsGesture/`` without ``extract/``, the trial files in the dataset
    folder itself, the archive without ``download/``, ``DvsGesture/`` right under the data root).
    """
    for base in ON_DISK.candidates(root, path):
        target = base / "extract" / "DvsGesture"
        if _holds_trials(base / "DvsGesture"):
            moves = [(base / "DvsGesture", target)]
            return other_layout(base, moves, "DvsGesture/ without extract/")
        if _holds_trials(base):
            return other_layout(base, [(base / "*", target)], "the trial files without extract/")
        if (base / "DvsGesture.tar.gz").is_file():
            return other_layout(
                base,
                [(base / "DvsGesture.tar.gz", base / "download" / "DvsGesture.tar.gz")],
                "the archive without download/",
            )
    if root and not path:
        r = Path(root).expanduser()
        if _holds_trials(r / "DvsGesture"):
            target = r / FOLDERS[0] / "extract" / "DvsGesture"
            return other_layout(r, [(r / "DvsGesture", target)], "DvsGesture/ in data.root")
    return ""


ON_DISK = EventLayout(NAME, FOLDERS, layout, find_other_layout)
"""Where the dataset is looked for and what is said when it is not there."""


def raw_dir(base: Path) -> Path:
    """``extract/DvsGesture``, or a :class:`DatasetCorrupt` saying what to move there when the
    trials sit one folder level off inside ``extract/``."""
    raw = base / "extract" / "DvsGesture"
    if raw.is_dir():
        return raw
    extract = base / "extract"
    nested = [d for d in sorted(extract.iterdir()) if d.is_dir() and _holds_trials(d)]
    if _holds_trials(extract):
        raise DatasetCorrupt(other_layout(extract, [(extract / "*", raw)], "trial files directly"))
    if nested:
        raise DatasetCorrupt(other_layout(extract, [(nested[0], raw)], f"trials in {nested[0]}"))
    raise DatasetCorrupt(f"{raw}: missing folder; {layout(str(base.parent))}")


def read_trials(raw: Path, split: str, expect: str = "subset") -> list[str]:
    """The AEDAT file names of one split's trial list; with ``expect == 'full'`` the list must
    name the official number of trials (:data:`TRIALS`).

    Raises:
        DatasetCorrupt: the list file is missing, empty, or (full) not the official length.
    """
    p = raw / LISTS[split]
    if not p.is_file():
        raise DatasetCorrupt(f"{p}: missing trial list (the official {split} split)")
    names = [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
    if not names:
        raise DatasetCorrupt(f"{p}: empty trial list")
    if expect == "full" and len(names) != TRIALS[split]:
        raise DatasetCorrupt(
            f"{p}: lists {len(names)} trials, expected {TRIALS[split]} (the official {split} "
            f"list); restore the official list, {SUBSET_HINT}"
        )
    return names


def read_labels_csv(path: Path, trial: Path) -> list[tuple[int, int, int]]:
    """``(label, start_us, end_us)`` rows of a trial's label CSV (labels 0-based).

    Raises:
        DatasetCorrupt: the CSV is missing, or a row is not ``class,start,end`` with
            1 <= class <= 11 and start < end (the message names file and line).
    """
    if not path.is_file():
        raise DatasetCorrupt(
            f"{path}: missing label CSV for trial {trial.name} (expected "
            "'class,startTime_usec,endTime_usec' rows)"
        )
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        cells = [c.strip() for c in line.split(",")]
        if lineno == 1 and not cells[0].isdigit():
            continue  # header
        if len(cells) != 3 or not all(c.isdigit() for c in cells):
            raise DatasetCorrupt(
                f"{path}:{lineno}: expected 'class,startTime_usec,endTime_usec' "
                f"integers, got {line!r}"
            )
        cls, start, end = map(int, cells)
        if not 1 <= cls <= len(CLASSES) or end <= start:
            raise DatasetCorrupt(
                f"{path}:{lineno}: class must be in 1..{len(CLASSES)} and start < end, got {line!r}"
            )
        rows.append((cls - 1, start, end))
    if not rows:
        raise DatasetCorrupt(f"{path}: no label rows")
    return rows


def _extract_archive(base: Path) -> None:
    arc = base / "download" / "DvsGesture.tar.gz"
    if not arc.is_file():
        raise DatasetUnavailable(f"{arc}: not found; {layout(str(base.parent))}")
    with building(base / "extract", {"dataset": NAME, "from": arc.name}) as tmp:
        try:
            with tarfile.open(arc, "r:*") as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise DatasetCorrupt(f"{arc}: corrupt or truncated archive ({exc})") from exc


def convert_raw(base: Path, workers: int = 0, expect: str = "full") -> None:
    """Cut every listed trial into labelled samples under ``events_np/`` (atomically; the
    archive in ``download/`` is extracted first when ``extract/`` is missing); with
    ``expect == 'full'`` the lists and the sample counts must be the official ones before the
    result is marked complete."""
    if not (base / "extract").is_dir():
        _extract_archive(base)
    raw = raw_dir(base)
    jobs = []
    for split in ("train", "test"):
        for name in read_trials(raw, split, expect):
            aedat = raw / name
            if not aedat.is_file():
                raise DatasetCorrupt(f"{aedat}: listed in {raw / LISTS[split]} but missing")
            csv = raw / f"{Path(name).stem}_labels.csv"
            jobs.append((split, aedat, read_labels_csv(csv, aedat)))

    def one(split: str, aedat: Path, rows, tmp: Path) -> None:
        e = read_aedat31_polarity(aedat)
        k = [0] * len(CLASSES)
        for label, start, end in rows:
            m = (e["t"] >= start) & (e["t"] < end)
            out = tmp / split / str(label) / f"{aedat.stem}_{k[label]}.npz"
            ev_io.save_events(out, e["t"][m], e["x"][m], e["y"][m], e["p"][m])
            k[label] += 1

    with building(base / "events_np", {"dataset": NAME, "source": "extract"}) as tmp:
        for split in ("train", "test"):
            for label in range(len(CLASSES)):
                (tmp / split / str(label)).mkdir(parents=True)
        with ThreadPoolExecutor(max_workers=workers or 8) as pool:
            for fut in [pool.submit(one, *job, tmp) for job in jobs]:
                fut.result()
        counts = {s: count_files(tmp / s) for s in ("train", "test")}
        if expect == "full" and counts != EXPECTED:
            raise DatasetCorrupt(
                f"{raw}: the label CSVs cut the listed trials into {counts['train']} train / "
                f"{counts['test']} test samples, expected {EXPECTED['train']} / "
                f"{EXPECTED['test']}; restore the official CSVs, {SUBSET_HINT}"
            )


def ensure_events(base: Path, expect: str = "full", workers: int = 0) -> Path:
    """``events_np`` ready to read: ours, a foreign one, or converted from raw files; with
    ``expect == 'full'`` it must hold the official 1,176 / 288 samples."""
    return ensure_events_np(
        base,
        expect,
        declared=sum(EXPECTED.values()),
        count=lambda ev: {s: count_files(ev / s) if (ev / s).is_dir() else 0 for s in EXPECTED},
        counted=EXPECTED,
        unit="samples",
        subset="a subset of the trials",
        build=lambda: convert_raw(base, workers, expect),
    )


def list_samples(ev: Path, split: str) -> list[tuple[str, int]]:
    """``(relative path, label)`` of one split, labels in order, files in natural order."""
    out = []
    missing = f"label folder missing (expected 0..{len(CLASSES) - 1})"
    for label in range(len(CLASSES)):
        files = class_npz(ev / split / str(label), missing)
        out += [(f"{split}/{label}/{f}", label) for f in files]
    return out


def dvs_gesture(cfg, timesteps: tuple[int, ...]) -> DataBundle:
    """DVS128 Gesture frames ``{T: [T, 2, S, S]}`` (S = ``data.size``, default 48)."""
    opts = dataset_spec(NAME).options_of(cfg)
    base = ON_DISK.require(cfg.root, opts["path"])
    ev = ensure_events(base, opts["expect"], opts["workers"])
    train, test = list_samples(ev, "train"), list_samples(ev, "test")
    return ON_DISK.bundle(
        cfg,
        opts,
        base,
        train,
        test,
        timesteps,
        "official trials_to_train.txt / trials_to_test.txt",
    )


def check(root: str, deep: bool = False) -> DatasetStatus:
    """Trial lists (against the official 98 / 24 trials), recordings (every file's header and
    packet sizes; decoded with ``deep``), label CSVs, decoded events and frame caches."""
    st, base = ON_DISK.status(root)
    if base is None:
        return st
    undecodable: list[str] = []
    raw: Path | None = None
    if (base / "extract").is_dir():
        try:
            raw = raw_dir(base)
        except DatasetCorrupt as exc:
            st.problems.append(str(exc))
    if raw is not None:
        trials = 0
        for split in ("train", "test"):
            try:
                names = read_trials(raw, split)
            except DatasetCorrupt as exc:
                st.problems.append(str(exc))
                continue
            trials += len(names)
            if len(names) != TRIALS[split]:
                st.problems.append(
                    f"{raw / LISTS[split]}: lists {len(names)} trials, expected "
                    f"{TRIALS[split]} (the official {split} list)"
                )
            for name in names:
                aedat = raw / name
                if not aedat.is_file():
                    st.problems.append(f"{aedat}: listed in {LISTS[split]} but missing")
                    continue
                try:
                    read_labels_csv(raw / f"{Path(name).stem}_labels.csv", aedat)
                except DatasetCorrupt as exc:
                    undecodable.append(str(exc))
                try:
                    (read_aedat31_polarity if deep else scan_aedat31)(aedat)
                except DatasetCorrupt as exc:
                    undecodable.append(str(exc))
        st.counts["trials"] = trials
    ev = base / "events_np"
    if ev.is_dir():
        note_events_np(st, ev)
        for split in ("train", "test"):
            st.counts[split] = count_files(ev / split) if (ev / split).is_dir() else 0
            try:
                samples = list_samples(ev, split)
            except DatasetCorrupt as exc:
                st.problems.append(str(exc))
                continue
            for rel, _ in samples:
                try:
                    (ev_io.load_events if deep else ev_io.scan_events)(ev / rel)
                except DatasetCorrupt as exc:
                    undecodable.append(str(exc))
        if {s: st.counts[s] for s in ("train", "test")} != EXPECTED:
            st.problems.append(
                f"{ev}: {st.counts.get('train')} train / {st.counts.get('test')} "
                f"test samples, expected {EXPECTED['train']} / {EXPECTED['test']}"
            )
        st.complete = not st.problems
    elif raw is not None or (base / "extract").is_dir():
        st.complete = not st.problems
        st.notes.append("events_np not built yet: made from extract/ on first use")
    elif (base / "download" / "DvsGesture.tar.gz").is_file():
        arc = base / "download" / "DvsGesture.tar.gz"
        st.complete = True
        st.notes.append("only download/DvsGesture.tar.gz: extracted on first use")
        if deep:
            try:
                with tarfile.open(arc, "r:*") as tar:
                    tar.getmembers()  # reads (and decompresses) the whole archive
            except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
                undecodable.append(f"{arc}: corrupt or truncated archive ({exc})")
    return finish_status(st, base, undecodable)
