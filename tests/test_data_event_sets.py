"""CIFAR10-DVS and DVS128 Gesture on tiny trees in the exact on-disk formats: decoding, caches,
splits, spikingjelly cache reuse, interrupted conversions and the errors that name the file."""

from __future__ import annotations

import socket
import zipfile

import numpy as np
import pytest
import torch

from tssd.config import ConfigError, DataConfig
from tssd.data import (
    DatasetCorrupt,
    DatasetUnavailable,
    aedat,
    build_dataset,
    cache,
    cifar10_dvs,
    dvs_gesture,
    event_folder,
    iterate_batches,
)
from tssd.data import events as E

pytestmark = pytest.mark.unit

INDICES = (0, 1, 2, 10)  # natural order 0, 1, 2, 10 (a plain string sort would put 10 before 2)


def _raw_stream(seed: int, n: int):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 1_000_000, n))
    return t, rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)


def write_cifar10_dvs(root, n_events: int = 400):
    """extract/<class>/cifar10_<class>_<i>.aedat for every class; returns {rel npz: raw stream}."""
    base = root / "cifar10_dvs" / "extract"
    streams = {}
    for c, cls in enumerate(cifar10_dvs.CLASSES):
        (base / cls).mkdir(parents=True)
        for i in INDICES:
            t, x, y, p = _raw_stream(100 * c + i, n_events + c + i)
            aedat.write_aedat2_dvs128(base / cls / f"cifar10_{cls}_{i}.aedat", t, x, y, p)
            streams[f"{cls}/cifar10_{cls}_{i}.npz"] = (t, x, y, p)
    return streams


def cfg(root, **kw) -> DataConfig:
    """The trees here are subsets (4 recordings a class, 3 trials): ``expect: subset`` unless a
    test asks for the declared counts with ``options={"expect": "full"}``."""
    options = {"expect": "subset", **kw.pop("options", {})}
    return DataConfig(name=kw.pop("name", "cifar10_dvs"), root=str(root), options=options, **kw)


def test_cifar10_dvs_decodes_caches_and_integrates_exactly(tmp_path):
    streams = write_cifar10_dvs(tmp_path)
    b = build_dataset(cfg(tmp_path, split="per_class:1", size=128), (2, 4))
    base = tmp_path / "cifar10_dvs"
    assert cache.is_complete(base / "events_np")
    for t in (2, 4):
        assert cache.is_complete(base / f"frames_number_{t}_split_by_number")
    info = b.info
    assert (info.kind, info.num_classes, info.in_channels, info.input_size) == ("event", 10, 2, 128)
    assert len(b.train) == 30 and len(b.test) == 10
    assert [r for r, _ in b.test.samples][:2] == [
        "airplane/cifar10_airplane_0.npz",
        "automobile/cifar10_automobile_0.npz",
    ]
    # events_np holds the decoded recording in spikingjelly's orientation.
    rel = "cat/cifar10_cat_10.npz"
    t, x, y, p = streams[rel]
    e = E.load_events(base / "events_np" / rel)
    np.testing.assert_array_equal(e["t"], t)
    np.testing.assert_array_equal(e["x"], 127 - y)
    np.testing.assert_array_equal(e["y"], 127 - x)
    np.testing.assert_array_equal(e["p"], 1 - p)
    # A sample: every framing integrates every event; "number" frames hold N // T events each
    # except the last, which takes the remainder.
    i = [r for r, _ in b.train.samples].index(rel)
    frames, label = b.train[i]
    assert label == cifar10_dvs.CLASSES.index("cat")
    n = len(t)
    for T in (2, 4):
        f = frames[T]
        assert f.shape == (T, 2, 128, 128)
        per = [float(f[k].sum()) for k in range(T)]
        assert per == [n // T] * (T - 1) + [n - (T - 1) * (n // T)]
        assert float(f[:, 1].sum()) == float((1 - p).sum())  # channel 1 = p != 0
    # A pixel count checked against the raw fields: first frame, ON channel.
    first = slice(0, n // 2)
    xs, ys, ps = 127 - y[first], 127 - x[first], 1 - p[first]
    k = int(np.argmax(ps))
    expect = np.sum((xs == xs[k]) & (ys == ys[k]) & (ps == 1))
    assert float(frames[2][0, 1, ys[k], xs[k]]) == expect


def test_cifar10_dvs_default_size_batches_and_splits(tmp_path):
    write_cifar10_dvs(tmp_path)
    # The default random:0:0.9 keeps round(0.9 * 4) = 4 of 4 recordings a class for training.
    with pytest.raises(DatasetCorrupt, match=r"'default' \(random:0:0\.9\) leaves the test"):
        build_dataset(cfg(tmp_path), (3,))
    b = build_dataset(cfg(tmp_path, split="random:0:0.75"), (3,))
    assert b.info.input_size == 48 and b.info.split.startswith("random:0:0.75")
    x, y = next(iter(iterate_batches(b.train, 5)))
    assert x[3].shape == (5, 3, 2, 48, 48) and y.shape == (5,)
    # random:<seed>:<ratio> is per class: round(0.5 * 4) = 2 train recordings per class.
    r1 = build_dataset(cfg(tmp_path, split="random:1:0.5"), (3,))
    r1b = build_dataset(cfg(tmp_path, split="random:1:0.5"), (3,))
    r2 = build_dataset(cfg(tmp_path, split="random:2:0.5"), (3,))
    assert len(r1.train) == 20 and len(r1.test) == 20
    assert r1.train.samples == r1b.train.samples and r1.info.split_hash == r1b.info.split_hash
    assert r1.info.split_hash != r2.info.split_hash
    labels = [lab for _, lab in r1.train.samples]
    assert all(labels.count(c) == 2 for c in range(10))
    # per_class:N takes the first N recordings by file index (natural order).
    pc = build_dataset(cfg(tmp_path, split="per_class:3"), (3,))
    assert {r.rsplit("_", 1)[1] for r, _ in pc.train.samples} == {"10.npz"}
    for bad in ("random:0:1.5", "random:x:0.9", "per_class:0", "tebn", "per_class:4"):
        with pytest.raises(ConfigError, match="data.split"):
            build_dataset(cfg(tmp_path, split=bad), (3,))


def test_cifar10_dvs_augment_shares_one_draw_across_framings(tmp_path):
    write_cifar10_dvs(tmp_path)
    b = build_dataset(cfg(tmp_path, size=128, augment=True, split="per_class:1"), (2, 4))
    plain = build_dataset(cfg(tmp_path, size=128, split="per_class:1"), (2, 4))
    torch.manual_seed(0)
    changed = 0
    for i in range(6):
        x, _ = b.train[i]
        # Both framings integrate the same events, so after the same flip/shift their sums over
        # time are the same image (exact: integer counts).
        assert torch.equal(x[2].sum(0), x[4].sum(0))
        changed += not torch.equal(x[2], plain.train[i][0][2])
    assert changed > 0
    assert b.info.extra["augment"] == "hflip+shift+-4px"


def test_cifar10_dvs_from_zip_archives(tmp_path):
    write_cifar10_dvs(tmp_path)
    base = tmp_path / "cifar10_dvs"
    (base / "download").mkdir()
    for cls in cifar10_dvs.CLASSES:
        with zipfile.ZipFile(base / "download" / f"{cls}.zip", "w") as zf:
            for f in sorted((base / "extract" / cls).iterdir()):
                zf.write(f, f"{cls}/{f.name}")
    import shutil

    shutil.rmtree(base / "extract")
    b = build_dataset(cfg(tmp_path, split="per_class:1"), (2,))
    assert len(b.train) + len(b.test) == 40 and cache.is_complete(base / "extract")


def test_cifar10_dvs_errors_name_file_or_folder(tmp_path):
    with pytest.raises(DatasetUnavailable, match=r"cifar10_dvs.*extract/<class>/\*\.aedat"):
        build_dataset(cfg(tmp_path), (2,))
    write_cifar10_dvs(tmp_path)
    extract = tmp_path / "cifar10_dvs" / "extract"
    for f in (extract / "dog").iterdir():
        f.unlink()
    with pytest.raises(DatasetCorrupt, match=r"extract/dog: empty class folder"):
        build_dataset(cfg(tmp_path), (2,))
    aedat.write_aedat2_dvs128(extract / "dog" / "cifar10_dog_0.aedat", [1], [1], [1], [1])
    bad = extract / "frog" / "cifar10_frog_1.aedat"
    bad.write_bytes(bad.read_bytes()[:-5])
    with pytest.raises(DatasetCorrupt, match=r"cifar10_frog_1\.aedat.*not a multiple of 8"):
        build_dataset(cfg(tmp_path), (2,))
    assert not (tmp_path / "cifar10_dvs" / "events_np").exists()  # nothing half-written remains
    with pytest.raises(ConfigError, match=r"data\.options\.split_by.*number, time"):
        build_dataset(cfg(tmp_path, options={"split_by": "count"}), (2,))


def test_interrupted_frame_conversion_is_never_taken_for_a_cache(tmp_path, monkeypatch):
    write_cifar10_dvs(tmp_path)
    base = tmp_path / "cifar10_dvs"
    real_save = E.save_frames
    calls = {"n": 0}

    def dying_save(path, frames, compress=True):
        calls["n"] += 1
        if calls["n"] > 7:
            raise KeyboardInterrupt("killed during the conversion")
        real_save(path, frames, compress)

    monkeypatch.setattr(E, "save_frames", dying_save)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(cfg(tmp_path, split="per_class:1"), (4,))
    fdir = base / "frames_number_4_split_by_number"
    assert not fdir.exists()
    assert not list(base.glob(".frames_number_4*"))  # the temporary directory was removed
    # A hard kill cannot clean up: its temporary directory stays, and is never used.
    ghost = base / f".{fdir.name}.building-{socket.gethostname()}-999999999-xyz"
    (ghost / "airplane").mkdir(parents=True)
    (ghost / "airplane" / "cifar10_airplane_0.npz").write_bytes(b"half")
    monkeypatch.setattr(E, "save_frames", real_save)
    b = build_dataset(cfg(tmp_path, split="per_class:1"), (4,))
    assert cache.is_complete(fdir) and not ghost.exists()
    assert cache.read_marker(fdir)["files"] == 40
    assert b.train[0][0][4].shape == (4, 2, 48, 48)


def test_spikingjelly_caches_are_reused_and_partial_ones_refused(tmp_path):
    write_cifar10_dvs(tmp_path)
    build_dataset(cfg(tmp_path, split="per_class:1"), (2,))
    base = tmp_path / "cifar10_dvs"
    # Make it look like spikingjelly's: no raw files, no markers of ours.
    import shutil

    shutil.rmtree(base / "extract")
    for d in (base / "events_np", base / "frames_number_2_split_by_number"):
        (d / cache.MARKER).unlink()
    # A distinctive frame file proves the foreign frame cache is read, not rebuilt.
    rel = "ship/cifar10_ship_2.npz"
    E.save_frames(base / "frames_number_2_split_by_number" / rel, np.full((2, 2, 128, 128), 7.0))
    with pytest.raises(DatasetCorrupt, match=r"events_np: holds 40 recordings, expected 10000"):
        build_dataset(cfg(tmp_path, options={"expect": "full"}), (2,))
    b = build_dataset(cfg(tmp_path, size=128, split="per_class:1"), (2,))
    i = [r for r, _ in b.train.samples].index(rel)
    assert float(b.train[i][0][2].mean()) == 7.0
    marker = base / "frames_number_2_split_by_number.building"
    marker.touch()
    with pytest.raises(DatasetCorrupt, match=r"frames_number_2_split_by_number: incomplete"):
        build_dataset(cfg(tmp_path), (2,))
    marker.unlink()
    (base / "events_np.building").touch()
    with pytest.raises(DatasetCorrupt, match=r"events_np\.building says this conversion never"):
        build_dataset(cfg(tmp_path), (2,))


# ---- DVS128 Gesture ---------------------------------------------------------------------------

TRIALS = {"train": ["user01_fluorescent", "user01_lab"], "test": ["user24_led"]}


def write_gesture(root, csv_header: str = "class,startTime_usec,endTime_usec"):
    """Three trials; each CSV labels 11 (or 12) windows of 1 ms; events also fall between them."""
    raw = root / "dvs_gesture" / "extract" / "DvsGesture"
    raw.mkdir(parents=True)
    windows = {}
    for split, trials in TRIALS.items():
        (raw / dvs_gesture.LISTS[split]).write_text("".join(f"{t}.aedat\n" for t in trials) + "\n")
        for j, trial in enumerate(trials):
            rows = [(c + 1, 10_000 * c + 2_000, 10_000 * c + 3_000) for c in range(11)]
            if trial == "user01_lab":
                rows.append((8, 200_000, 201_000))  # a second window of class 8
            t = np.arange(0, 210_000, 7) + j  # 30,000 events across windows and gaps
            rng = np.random.default_rng(j)
            n = len(t)
            x, y, p = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
            aedat.write_aedat31(raw / f"{trial}.aedat", t, x, y, p, packet_events=5000)
            lines = [csv_header] + [f"{c},{a},{b}" for c, a, b in rows]
            (raw / f"{trial}_labels.csv").write_text("\n".join(lines) + "\n")
            windows[trial] = (rows, (t, x, y, p))
    return raw, windows


def test_dvs_gesture_samples_labels_and_frames(tmp_path):
    _, windows = write_gesture(tmp_path)
    b = build_dataset(cfg(tmp_path, name="dvs_gesture", size=128), (5,))
    assert (b.info.num_classes, len(b.train), len(b.test)) == (11, 23, 11)
    assert b.info.split == "official trials_to_train.txt / trials_to_test.txt"
    rels = [r for r, _ in b.train.samples]
    assert "train/7/user01_lab_0.npz" in rels and "train/7/user01_lab_1.npz" in rels
    ev = tmp_path / "dvs_gesture" / "events_np"
    rows, (t, x, y, p) = windows["user01_lab"]
    for k, (_, start, end) in enumerate(r for r in rows if r[0] == 8):
        e = E.load_events(ev / "train" / "7" / f"user01_lab_{k}.npz")
        m = (t >= start) & (t < end)
        np.testing.assert_array_equal(e["t"], t[m])
        np.testing.assert_array_equal(e["x"], x[m])
        np.testing.assert_array_equal(e["y"], y[m])
        np.testing.assert_array_equal(e["p"], p[m])
    i = rels.index("train/2/user01_fluorescent_0.npz")
    frames, label = b.train[i]
    t0, _, _, p0 = windows["user01_fluorescent"][1]
    m = (t0 >= 22_000) & (t0 < 23_000)
    assert label == 2 and frames[5].shape == (5, 2, 128, 128)
    assert float(frames[5].sum()) == m.sum() and float(frames[5][:, 1].sum()) == p0[m].sum()
    assert [lab for r, lab in b.test.samples] == list(range(11))


def test_dvs_gesture_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetUnavailable, match=r"dvs_gesture.*trials_to_train\.txt"):
        build_dataset(cfg(tmp_path, name="dvs_gesture"), (2,))
    raw, _ = write_gesture(tmp_path)
    csv = raw / "user01_lab_labels.csv"
    text = csv.read_text()
    csv.unlink()
    with pytest.raises(DatasetCorrupt, match=r"user01_lab_labels\.csv: missing label CSV"):
        build_dataset(cfg(tmp_path, name="dvs_gesture"), (2,))
    csv.write_text(text.replace("3,22000,23000", "3,22000"))
    with pytest.raises(DatasetCorrupt, match=r"user01_lab_labels\.csv:4: expected"):
        build_dataset(cfg(tmp_path, name="dvs_gesture"), (2,))
    csv.write_text(text.replace("3,22000,23000", "12,22000,23000"))
    with pytest.raises(DatasetCorrupt, match=r"user01_lab_labels\.csv:4: class must be in 1\.\.11"):
        build_dataset(cfg(tmp_path, name="dvs_gesture"), (2,))
    csv.write_text(text)
    trial = raw / "user24_led.aedat"
    trial.write_bytes(trial.read_bytes()[:-100])
    with pytest.raises(DatasetCorrupt, match=r"user24_led\.aedat: packet at byte"):
        build_dataset(cfg(tmp_path, name="dvs_gesture"), (2,))
    trial.unlink()
    with pytest.raises(DatasetCorrupt, match=r"user24_led\.aedat: listed in .*trials_to_test"):
        build_dataset(cfg(tmp_path, name="dvs_gesture"), (2,))
    (raw / "trials_to_test.txt").unlink()
    with pytest.raises(DatasetCorrupt, match=r"trials_to_test\.txt: missing trial list"):
        build_dataset(cfg(tmp_path, name="dvs_gesture"), (2,))
    assert not (tmp_path / "dvs_gesture" / "events_np").exists()
    with pytest.raises(ConfigError, match="data.split"):
        build_dataset(cfg(tmp_path, name="dvs_gesture", split="random:0:0.9"), (2,))


def test_dvs_gesture_empty_label_folder_in_foreign_cache(tmp_path):
    write_gesture(tmp_path)
    build_dataset(cfg(tmp_path, name="dvs_gesture"), (2,))
    ev = tmp_path / "dvs_gesture" / "events_np"
    for f in (ev / "test" / "4").iterdir():
        f.unlink()
    (ev / cache.MARKER).unlink()
    with pytest.raises(DatasetCorrupt, match=r"test/4: empty class folder"):
        build_dataset(cfg(tmp_path, name="dvs_gesture"), (2,))


def test_natural_key_orders_numbers_numerically():
    names = ["a_10.npz", "a_2.npz", "a_1.npz", "b_0.npz"]
    assert sorted(names, key=event_folder.natural_key) == [
        "a_1.npz",
        "a_2.npz",
        "a_10.npz",
        "b_0.npz",
    ]


@pytest.mark.smoke
@pytest.mark.parametrize("workers", [0, 2])
def test_trainer_runs_tssd_on_a_file_backed_event_set(tmp_path, workers):
    from tssd.config import from_dict
    from tssd.train import train

    write_cifar10_dvs(tmp_path, n_events=200)
    run_cfg = from_dict(
        {
            "method": {"name": "tssd", "t_s": 2, "t_t": 4},
            "model": {"name": "micro_cnn", "width": 4},
            "data": {
                "name": "cifar10_dvs",
                "root": str(tmp_path),
                "size": 16,
                "augment": True,
                "batch_size": 8,
                "split": "per_class:1",
                "options": {"expect": "subset"},  # 4 recordings a class
            },
            "optim": {"epochs": 1, "lr": 0.05},
            "runtime": {"progress": False, "threads": 1, "num_workers": workers},
        },
        "<test>",
    )
    s = train(run_cfg, tmp_path / "run")
    assert s["status"] == "finished" and s["dataset"] == "cifar10_dvs"
    assert s["split"].startswith("per_class:1") and len(s["split_hash"]) == 12
    assert 0.0 <= s["test_acc"] <= 1.0
