"""MNIST / Fashion-MNIST from IDX files, and ``fashion_dvs``, on tiny files the tests write."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from tssd.config import ConfigError, DataConfig, from_dict
from tssd.data import DatasetCorrupt, DatasetUnavailable, build_dataset, validate_data_config
from tssd.data import mnist as mn
from tssd.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

pytestmark = pytest.mark.unit


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    head = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return head + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, magic: int, gz: bool) -> Path:
    data = idx_bytes(array, magic)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def make_set(folder: Path, n_train=40, n_test=20, gz=True, seed=0) -> dict[str, np.ndarray]:
    """Four IDX files of random 28x28 images, labels cycling through the 10 classes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        img_name, lab_name = mn.FILES[split]
        write_idx(folder / img_name, images, IMAGES_MAGIC, gz)
        write_idx(folder / lab_name, labels, LABELS_MAGIC, gz)
        out[split] = images
    return out


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
@pytest.mark.parametrize("folder", ["fashion_mnist", "FashionMNIST/raw"])
def test_reads_the_official_files_in_either_layout(tmp_path, gz, folder):
    images = make_set(tmp_path / folder, gz=gz)
    arrays = mn.load_arrays("fashion_mnist", str(tmp_path))
    assert np.array_equal(arrays["train"][0], images["train"])
    assert arrays["test"][1].tolist() == [i % 10 for i in range(20)]


def test_dataset_subset_resize_and_standardisation(tmp_path):
    make_set(tmp_path / "mnist", n_train=60)
    cfg = DataConfig(
        name="mnist",
        root=str(tmp_path),
        size=16,
        options={"train_per_class": 3, "expect": "subset"},
    )
    b = build_dataset(cfg, (2,))
    assert b.info.kind == "static" and b.info.input_size == 16 and b.info.in_channels == 1
    assert b.train.inputs.shape == (30, 1, 16, 16) and b.test.inputs.shape == (20, 1, 16, 16)
    assert torch.bincount(b.train.labels).tolist() == [3] * 10
    assert abs(float(b.train.inputs.mean())) < 1e-5
    assert "3/class subset" in b.info.split and b.info.split_hash
    again = build_dataset(cfg, (2,))  # the subset is part of the dataset: the same every time
    assert (
        torch.equal(b.train.inputs, again.train.inputs)
        and b.info.split_hash == again.info.split_hash
    )


def _truncate(path: Path, keep: int) -> None:
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:keep]))


@pytest.mark.parametrize(
    "breakage, message",
    [
        ("bad-magic", "bad magic number"),
        ("labels-as-images", "magic number 0x00000801, expected 0x00000803"),
        ("truncated-data", "truncated: the header declares"),
        ("truncated-header", "truncated header"),
        ("not-gzip", "unreadable"),
        ("count-mismatch", "images but"),
        ("label-out-of-range", "expected classes 0-9"),
    ],
)
def test_a_broken_file_is_named(tmp_path, breakage, message):
    make_set(tmp_path / "mnist")
    folder = tmp_path / "mnist"
    images, labels = folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    target = images
    if breakage == "bad-magic":
        images.write_bytes(gzip.compress(b"\x12\x34\x08\x03" + b"\x00" * 20))
    elif breakage == "labels-as-images":
        images.write_bytes(labels.read_bytes())
    elif breakage == "truncated-data":
        _truncate(images, 16 + 28 * 28 * 3)
    elif breakage == "truncated-header":
        _truncate(images, 8)
    elif breakage == "not-gzip":
        images.write_bytes(b"this is not gzip")
    elif breakage == "count-mismatch":
        write_idx(folder / "train-labels-idx1-ubyte", np.zeros(39, np.uint8), LABELS_MAGIC, True)
    else:
        write_idx(folder / "train-labels-idx1-ubyte", np.full(40, 12, np.uint8), LABELS_MAGIC, True)
        target = labels
    with pytest.raises(DatasetCorrupt, match=message) as info:
        mn.load_arrays("mnist", str(tmp_path))
    assert str(target) in str(info.value)
    st = mn.check("mnist", str(tmp_path), deep=breakage == "label-out-of-range")
    assert st.present and not st.ok and any(str(target) in p for p in st.problems)


def test_missing_files_say_where_and_how(tmp_path):
    make_set(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetUnavailable, match="lacks t10k-labels-idx1-ubyte"):
        mn.load_arrays("mnist", str(tmp_path))
    with pytest.raises(DatasetUnavailable, match="not a directory"):
        mn.load_arrays("mnist", str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz"))
    st = mn.check("mnist", str(tmp_path / "nothing-here"))
    assert not st.present and "yann.lecun.com" in st.layout


def test_check_reports_counts_against_the_official_ones(tmp_path):
    make_set(tmp_path / "fashion_mnist")
    st = mn.check("fashion_mnist", str(tmp_path))
    assert st.present and st.valid and not st.complete
    assert st.counts == {"train": 40, "test": 20}
    assert any("expected 60000" in p for p in st.problems)


def test_options_are_checked_without_touching_the_disk():
    base = {"data": {"name": "fashion_mnist", "root": "/nonexistent"}}
    with pytest.raises(ConfigError, match="data.options.train_per_clas'"):
        from_dict({**base, "data": {**base["data"], "options": {"train_per_clas": 3}}})
    with pytest.raises(ConfigError, match="expected an integer >= 0"):
        from_dict({**base, "data": {**base["data"], "options": {"train_per_class": -1}}})
    from_dict({**base, "data": {**base["data"], "options": {"train_per_class": 3}}})


def test_fashion_dvs_frames_from_the_idx_files(tmp_path):
    make_set(tmp_path / "fashion_mnist", n_train=30, n_test=10)
    cfg = DataConfig(
        name="fashion_dvs",
        root=str(tmp_path),
        options={"train_per_class": 2, "sensor": 12, "digit_px": 10, "expect": "subset"},
    )
    b = build_dataset(cfg, (2, 4))
    assert b.info.kind == "event" and b.info.in_channels == 2 and b.info.input_size == 12
    assert b.train.inputs[4].shape == (20, 4, 2, 12, 12) and b.test.inputs[2].shape[0] == 10
    assert float(b.train.inputs[4].sum()) > 0
    # the framings integrate the same streams: T=2 frames are sums of pairs of T=4 frames when
    # the stream splits evenly; at least their totals agree
    assert torch.equal(b.train.inputs[2].sum((1, 2, 3, 4)), b.train.inputs[4].sum((1, 2, 3, 4)))
    cached = sorted(p.name for p in (tmp_path / "fashion_dvs").glob("*/frames_number_*"))
    assert cached == ["frames_number_2_split_by_number", "frames_number_4_split_by_number"]
    again = build_dataset(cfg, (4,))  # from the cache, identical
    assert torch.equal(again.train.inputs[4], b.train.inputs[4])


def test_fashion_dvs_refuses_short_source_files_unless_told(tmp_path):
    """Source files far smaller than the official split are a partial copy, never silently
    emulated as the dataset: one line naming the file, the counts and the option."""
    make_set(tmp_path / "fashion_mnist", n_train=30, n_test=10)
    opts = {"train_per_class": 2, "sensor": 12, "digit_px": 10}
    cfg = DataConfig(name="fashion_dvs", root=str(tmp_path), options=opts)
    short = r"train-images.*holds 30 train images, expected 60000"
    with pytest.raises(DatasetCorrupt, match=short):
        build_dataset(cfg, (2,))
    assert not (tmp_path / "fashion_dvs").exists() or not any(
        (tmp_path / "fashion_dvs").glob("*/frames_number_*")
    ), "a refused build left frames behind"
    with pytest.raises(ConfigError, match="expect"):
        from_dict({"data": {"name": "fashion_dvs", "options": {**opts, "expect": "some"}}})


def test_read_idx_roundtrip(tmp_path):
    a = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    p = write_idx(tmp_path / "x-images-idx3-ubyte", a, IMAGES_MAGIC, gz=False)
    assert np.array_equal(read_idx(p, IMAGES_MAGIC), a)


def test_validation_split_is_held_out_of_the_unused_training_images(tmp_path):
    """val_per_class draws from the training images the run does not train on: disjoint from
    the training subset, which stays exactly what it is without validation."""
    make_set(tmp_path / "fashion_mnist", n_train=100)
    base = {"train_per_class": 3, "expect": "subset"}
    plain = build_dataset(DataConfig(name="fashion_mnist", root=str(tmp_path), options=base), (2,))
    cfg = DataConfig(name="fashion_mnist", root=str(tmp_path), options={**base, "val_per_class": 4})
    b = build_dataset(cfg, (2,))
    assert plain.val is None
    assert torch.equal(b.train.inputs, plain.train.inputs)
    assert torch.equal(b.train.labels, plain.train.labels)
    assert torch.bincount(b.val.labels).tolist() == [4] * 10
    tr, va = mn.split_indices(mn.load_arrays("fashion_mnist", str(tmp_path))["train"][1], 3, 4)
    assert not set(tr.tolist()) & set(va.tolist())
    assert "validation 40" in b.info.split and b.info.split_hash != plain.info.split_hash


@pytest.mark.parametrize(
    "options, message",
    [
        ({"val_per_class": 5}, "expected train_per_class > 0"),
        ({"train_per_class": 3, "val_per_class": -1}, "expected an integer >= 0"),
        ({"train_per_class": 4000, "val_per_class": 2000}, "expected at most 5000"),
    ],
)
def test_a_validation_split_with_nothing_to_come_from_is_refused(options, message):
    cfg = DataConfig(name="fashion_mnist", options=options)
    with pytest.raises(ConfigError, match=f"data.options.*{message}"):
        validate_data_config(cfg)


def test_a_run_with_validation_measures_it_when_due_and_test_once(tmp_path):
    """With a validation split the curve is validation accuracy (every eval.every epochs) and
    test accuracy is measured once, after the last epoch; the summary holds both."""
    from tssd.rundir import RunDir
    from tssd.train import train

    make_set(tmp_path / "fashion_mnist", n_train=100)
    cfg = from_dict(
        {
            "seed": 0,
            "method": {"name": "ce_tt", "t_s": 1, "t_t": 2},
            "model": {"name": "micro_cnn", "width": 4},
            "data": {
                "name": "fashion_mnist",
                "root": str(tmp_path),
                "size": 8,
                "batch_size": 10,
                "options": {"train_per_class": 3, "val_per_class": 2, "expect": "subset"},
            },
            "optim": {"epochs": 3},
            "eval": {"every": 2},
            "runtime": {"progress": False, "threads": 1},
        }
    )
    summary = train(cfg, tmp_path / "run")
    rows = RunDir(tmp_path / "run").read_epochs()
    measured = [[not np.isnan(r[k]) for r in rows] for k in ("val_acc", "test_acc")]
    assert measured == [[False, True, True], [False, False, True]]
    assert summary["val_acc"] == rows[-1]["val_acc"] and summary["test_acc"] == rows[-1]["test_acc"]
