"""CIFAR10/100 from python-pickle batches (folder and tar.gz) and ImageNet from class folders,
on tiny files written in the exact on-disk formats."""

from __future__ import annotations

import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from tssd.config import ConfigError, DataConfig
from tssd.data import DatasetCorrupt, DatasetUnavailable, build_dataset, cifar, iterate_batches
from tssd.data.transforms import draw_shifts, shift

pytestmark = pytest.mark.unit


# ---- CIFAR pickles ----------------------------------------------------------------------------


def _batch_bytes(data: np.ndarray, labels: list[int], names: list[str], label_key: str) -> bytes:
    """A batch as the official archive stores it: a protocol-2 pickle with bytes keys whose
    arrays reference ``numpy.core.multiarray`` (written by Python 2 era numpy)."""
    d = {
        b"batch_label": b"training batch",
        b"data": data,
        label_key.encode(): labels,
        b"filenames": [n.encode() for n in names],
    }
    blob = pickle.dumps(d, protocol=2)
    return blob.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3072), dtype=np.uint8)


def write_cifar10(root, per_batch: int = 4, as_tar: bool = False):
    files = {}
    all_x, all_y = [], []
    for i in range(1, 6):
        x = _images(per_batch, i)
        y = [(i + k) % 10 for k in range(per_batch)]
        files[f"data_batch_{i}"] = _batch_bytes(
            x, y, [f"tr{i}_{k}.png" for k in range(per_batch)], "labels"
        )
        all_x.append(x)
        all_y += y
    xt = _images(3, 99)
    files["test_batch"] = _batch_bytes(xt, [9, 0, 5], ["te0.png", "te1.png", "te2.png"], "labels")
    files["batches.meta"] = pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2)
    if as_tar:
        path = root / "cifar-10-python.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for name, blob in files.items():
                info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
                info.size = len(blob)
                tar.addfile(info, io.BytesIO(blob))
    else:
        d = root / "cifar-10-batches-py"
        d.mkdir(parents=True)
        for name, blob in files.items():
            (d / name).write_bytes(blob)
    return np.concatenate(all_x), np.array(all_y), xt, np.array([9, 0, 5])


@pytest.mark.parametrize("as_tar", [False, True])
def test_cifar10_decodes_images_labels_and_normalises(tmp_path, as_tar):
    xtr, ytr, xte, yte = write_cifar10(tmp_path, as_tar=as_tar)
    b = build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), (2,))
    assert (b.info.kind, b.info.num_classes, b.info.in_channels, b.info.input_size) == (
        "static",
        10,
        3,
        32,
    )
    assert len(b.train) == 20 and len(b.test) == 3
    img = torch.from_numpy(xtr.reshape(-1, 3, 32, 32)).float() / 255
    mean = img.transpose(0, 1).reshape(3, -1).mean(1)
    std = img.transpose(0, 1).reshape(3, -1).std(1)
    x, y = b.train.take(torch.arange(20))
    torch.testing.assert_close(x, (img - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1))
    assert y.tolist() == ytr.tolist()
    xt, yt = b.test.take(torch.arange(3))
    assert yt.tolist() == yte.tolist()
    # Image layout: the first 1024 bytes of a row are the red plane, row-major.
    raw = xte[1]
    # Default float32 tolerances of assert_close: the normalise/un-normalise round trip.
    torch.testing.assert_close(
        xt[1, 0, 0, 5] * std[0] + mean[0], torch.tensor(raw[5] / 255.0, dtype=torch.float32)
    )
    torch.testing.assert_close(
        xt[1, 2, 31, 31] * std[2] + mean[2], torch.tensor(raw[3071] / 255.0, dtype=torch.float32)
    )
    # The split hash is a function of the stored file names: same files, same hash.
    assert (
        b.info.split_hash
        == build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), (2,)).info.split_hash
    )


def test_cifar100_fine_labels_from_archive(tmp_path):
    files = {
        "train": _batch_bytes(_images(5, 1), [0, 99, 50, 7, 3], list("abcde"), "fine_labels"),
        "test": _batch_bytes(_images(2, 2), [42, 1], ["f", "g"], "fine_labels"),
    }
    with tarfile.open(tmp_path / "cifar-100-python.tar.gz", "w:gz") as tar:
        for name, blob in files.items():
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    b = build_dataset(DataConfig(name="cifar100", root=str(tmp_path)), (1,))
    assert b.info.num_classes == 100
    assert b.train.take(torch.arange(5))[1].tolist() == [0, 99, 50, 7, 3]
    assert b.test.take(torch.arange(2))[1].tolist() == [42, 1]


def test_random_crop_with_padding_is_a_zero_filled_shift():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6)
    dy, dx = torch.tensor([2, -1]), torch.tensor([-3, 0])
    out = shift(x, dy, dx, 4)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for b in range(2):
        r, c = 4 - int(dy[b]), 4 - int(dx[b])  # crop origin inside the padded image
        torch.testing.assert_close(out[b], padded[b, :, r : r + 6, c : c + 6])
    lo, hi = draw_shifts(1000, 4)
    assert lo.min() == -4 and lo.max() == 4 and hi.min() == -4 and hi.max() == 4


def test_cifar_augment_is_seeded_and_changes_the_batch(tmp_path):
    write_cifar10(tmp_path)
    b = build_dataset(DataConfig(name="cifar10", root=str(tmp_path), augment=True), (1,))
    plain = build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), (1,))
    idx = torch.arange(20)
    torch.manual_seed(3)
    a1, _ = b.train.take(idx)
    torch.manual_seed(3)
    a2, _ = b.train.take(idx)
    torch.testing.assert_close(a1, a2)
    assert not torch.equal(a1, plain.train.take(idx)[0])
    assert b.info.extra["augment"] == "crop32-pad4+flip"
    x, _ = next(iter(iterate_batches(b.train, 8, shuffle=True)))
    assert x.shape == (8, 3, 32, 32)


def test_cifar_errors_name_the_file(tmp_path):
    with pytest.raises(DatasetUnavailable, match=r"cifar-10-batches-py.*cifar-10-python\.tar\.gz"):
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), (1,))
    write_cifar10(tmp_path)
    d = tmp_path / "cifar-10-batches-py"
    blob = (d / "data_batch_3").read_bytes()
    (d / "data_batch_3").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetCorrupt, match=r"data_batch_3: not a readable CIFAR python batch"):
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), (1,))
    (d / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, 2))
    with pytest.raises(DatasetCorrupt, match=r"data_batch_3: missing key.*'labels'"):
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), (1,))
    (d / "data_batch_3").write_bytes(
        pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, 2)
    )
    with pytest.raises(DatasetCorrupt, match=r"data_batch_3: labels must lie in \[0, 9\]"):
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), (1,))
    # A pickle that would run code is refused, not executed.
    witness = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {witness}",))

    (d / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil()}, 2))
    with pytest.raises(DatasetCorrupt, match=r"data_batch_3.*forbidden global (posix|os)\.system"):
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), (1,))
    assert not witness.exists()
    (d / "data_batch_3").unlink()
    with pytest.raises(DatasetUnavailable, match=r"data_batch_3: missing batch file"):
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), (1,))


def test_cifar_truncated_archive_and_bad_options(tmp_path):
    write_cifar10(tmp_path, as_tar=True)
    arc = tmp_path / "cifar-10-python.tar.gz"
    arc.write_bytes(arc.read_bytes()[:300])
    with pytest.raises(DatasetCorrupt, match=r"cifar-10-python\.tar\.gz: truncated or corrupt"):
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path)), (1,))
    with pytest.raises(ConfigError, match=r"data\.options\.autoaugmnet.*allowed: autoaugment"):
        build_dataset(
            DataConfig(name="cifar10", root=str(tmp_path), options={"autoaugmnet": True}), (1,)
        )
    with pytest.raises(ConfigError, match=r"data\.split.*'default'"):
        build_dataset(DataConfig(name="cifar10", root=str(tmp_path), split="random:0:0.9"), (1,))


def test_cifar_check_reports_incomplete_counts(tmp_path):
    write_cifar10(tmp_path)
    st = cifar.check(cifar.CIFAR10, str(tmp_path))
    assert st.present and st.valid and not st.complete and not st.ok
    assert st.counts == {"train": 20, "test": 3}
    assert "expected {'train': 50000, 'test': 10000}" in st.problems[0]


# ---- ImageNet class folders -------------------------------------------------------------------


def write_imagenet(root):
    """Two classes; JPEG, PNG, a grayscale JPEG, a palette PNG and an RGBA PNG."""
    rng = np.random.default_rng(0)

    def rgb(w, h):
        return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))

    layout = {
        "train/n01/a.JPEG": rgb(40, 30),
        "train/n01/b.png": rgb(20, 50),
        "train/n02/c.jpg": rgb(64, 64).convert("L"),
        "train/n02/d.png": rgb(33, 17).convert("P"),
        "val/n01/e.JPEG": rgb(50, 40),
        "val/n02/f.png": rgb(30, 30).convert("RGBA"),
    }
    for rel, img in layout.items():
        p = root / "imagenet" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        img.save(p, format="JPEG" if p.suffix.lower() in (".jpeg", ".jpg") else "PNG")
    (root / "imagenet" / "train" / "n01" / "notes.txt").write_text("not an image")


def test_imagenet_folder_labels_shapes_and_modes(tmp_path):
    write_imagenet(tmp_path)
    b = build_dataset(DataConfig(name="imagenet", root=str(tmp_path), size=24), (1,))
    assert (b.info.num_classes, b.info.input_size, len(b.train), len(b.test)) == (2, 24, 4, 2)
    assert [s for s in b.train.samples] == [
        ("n01/a.JPEG", 0),
        ("n01/b.png", 0),
        ("n02/c.jpg", 1),
        ("n02/d.png", 1),
    ]
    for i in range(4):
        x, y = b.train[i]
        assert x.shape == (3, 24, 24) and x.dtype == torch.float32
    x_gray, _ = b.train[2]  # grayscale -> RGB: three equal channels before normalisation
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    raw = x_gray * std + mean
    torch.testing.assert_close(raw[0], raw[1], atol=1e-5, rtol=0)  # float32 round trip
    xv, yv = next(iter(iterate_batches(b.test, 2)))
    assert xv.shape == (2, 3, 24, 24) and yv.tolist() == [0, 1]
    aug = build_dataset(
        DataConfig(name="imagenet", root=str(tmp_path), size=24, augment=True), (1,)
    )
    torch.manual_seed(0)
    assert aug.train[0][0].shape == (3, 24, 24)


def test_imagenet_errors_name_the_folder_or_file(tmp_path):
    with pytest.raises(DatasetUnavailable, match=r"imagenet.*train/<class>"):
        build_dataset(DataConfig(name="imagenet", root=str(tmp_path)), (1,))
    write_imagenet(tmp_path)
    (tmp_path / "imagenet" / "val" / "n03").mkdir()
    (tmp_path / "imagenet" / "train" / "n03").mkdir()
    with pytest.raises(DatasetCorrupt, match=r"train/n03: empty class folder"):
        build_dataset(DataConfig(name="imagenet", root=str(tmp_path)), (1,))
    (tmp_path / "imagenet" / "train" / "n03" / "z.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (tmp_path / "imagenet" / "val" / "n03" / "y.png").write_bytes(b"")
    b = build_dataset(DataConfig(name="imagenet", root=str(tmp_path), size=16), (1,))
    with pytest.raises(DatasetCorrupt, match=r"n03/z\.png: unreadable image"):
        b.train[4]
    (tmp_path / "imagenet" / "val" / "n03" / "y.png").unlink()
    (tmp_path / "imagenet" / "val" / "n03").rmdir()
    with pytest.raises(DatasetCorrupt, match=r"different classes.*only in train: \['n03'\]"):
        build_dataset(DataConfig(name="imagenet", root=str(tmp_path)), (1,))


def test_autoaugment_missing_kornia_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    write_cifar10(tmp_path)
    monkeypatch.setitem(sys.modules, "kornia.augmentation.auto", None)  # import fails
    with pytest.raises(ImportError, match=r"autoaugment=true needs kornia.*pip install"):
        build_dataset(
            DataConfig(
                name="cifar10", root=str(tmp_path), augment=True, options={"autoaugment": True}
            ),
            (1,),
        )


def test_autoaugment_cifar10_policy_with_kornia(tmp_path):
    pytest.importorskip("kornia.augmentation.auto")
    write_cifar10(tmp_path)
    b = build_dataset(
        DataConfig(name="cifar10", root=str(tmp_path), augment=True, options={"autoaugment": True}),
        (1,),
    )
    assert b.info.extra["augment"] == "crop32-pad4+flip+autoaugment"
    torch.manual_seed(0)
    x, _ = b.train.take(torch.arange(20))
    assert x.shape == (20, 3, 32, 32) and torch.isfinite(x).all()
