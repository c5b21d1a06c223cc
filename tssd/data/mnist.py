"""MNIST and Fashion-MNIST from their official IDX files: ``mnist`` and ``fashion_mnist``.

Both are 28x28 grey images in 10 classes with the official split of 60,000 training and 10,000
test images, read from the four official files (optionally ``.gz``) under ``<data.root>/<name>/``,
torchvision's layout, or (Fashion-MNIST) Debian's ``dataset-fashion-mnist``. Options
(``data.options``): ``train_per_class``, ``val_per_class``, ``resize``, ``expect``; they and the
datasets' sizes are declared in :mod:`tssd.data.catalog`. Images are scaled to [0, 1] and
standardised with the training subset's mean and std.

Search order, what each option does, and normalisation: docs/datasets.md, section
``tssd/data/mnist.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tssd.data.base import DataBundle, TensorSplit, dataset_spec
from tssd.data.catalog import MNIST_CHOICES as CHOICES
from tssd.data.catalog import MNIST_DEFAULTS as DEFAULTS
from tssd.data.catalog import MNIST_OFFICIAL as OFFICIAL
from tssd.data.catalog import check_val_per_class
from tssd.data.digits import split_hash
from tssd.data.errors import DatasetCorrupt, DatasetUnavailable
from tssd.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from tssd.data.options import require_default_split, resolve_options
from tssd.data.status import DatasetStatus

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SUBSET_SEED = 0


@dataclass(frozen=True)
class Source:
    """Where one IDX dataset is looked for and how to get it."""

    name: str
    folders: tuple[str, ...]
    """Folders under ``data.root`` searched in order."""
    system: tuple[str, ...]
    """Absolute folders searched after ``data.root`` (a distribution's package)."""
    get: str

    def candidates(self, root: str) -> list[Path]:
        """Every folder searched, in order."""
        out = [Path(root).expanduser() / f for f in self.folders] if root else []
        return out + [Path(s) for s in self.system]

    def layout(self, root: str) -> str:
        """The expected layout and where to get the files (for error messages)."""
        where = f"{root or '<data.root>'}/{self.name}/"
        names = ", ".join(n for pair in FILES.values() for n in pair)
        return f"expected {names} (each optionally .gz) in {where}; {self.get}"


SOURCES = {
    "mnist": Source(
        "mnist",
        ("mnist", "mnist/raw", "MNIST/raw"),
        (),
        "download the four files of the official release (yann.lecun.com/exdb/mnist, mirrored "
        "at ossci-datasets.s3.amazonaws.com/mnist/)",
    ),
    "fashion_mnist": Source(
        "fashion_mnist",
        ("fashion_mnist", "fashion_mnist/raw", "fashion-mnist", "FashionMNIST/raw"),
        ("/usr/share/datasets/fashion-mnist",),
        "on Debian/Ubuntu `apt-get install dataset-fashion-mnist` installs them in "
        "/usr/share/datasets/fashion-mnist/; elsewhere download the four files of the official "
        "release (github.com/zalandoresearch/fashion-mnist, data/fashion)",
    ),
}


def _file(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def locate(name: str, root: str) -> dict[str, tuple[Path, Path]]:
    """``{split: (images file, labels file)}`` from the first folder holding all four files.

    Raises:
        DatasetUnavailable: no folder holds them all (the message lists the folders searched,
            which files each lacked, and how to get the data).
    """
    src = SOURCES[name]
    if root and not Path(root).expanduser().is_dir():
        raise DatasetUnavailable(f"data.root {root}: not a directory; {src.layout(root)}")
    tried = []
    own = set(src.candidates(root)) - {Path(s) for s in src.system}
    for folder in src.candidates(root):
        found = {name: _file(folder, name) for pair in FILES.values() for name in pair}
        missing = [name for name, path in found.items() if path is None]
        if not missing:
            return {s: (found[i], found[lab]) for s, (i, lab) in FILES.items()}  # type: ignore
        if folder in own and len(missing) < len(found):  # a partial copy: never skipped
            raise DatasetUnavailable(
                f"{folder}: holds {len(found) - len(missing)} of the 4 {name} files, lacks "
                f"{', '.join(missing)} (each optionally .gz); expected all four there (or none)"
            )
        if folder.is_dir():
            tried.append(f"{folder} (lacks {', '.join(missing)})")
        else:
            tried.append(str(folder))
    raise DatasetUnavailable(f"{name}: not found (searched {'; '.join(tried)}); {src.layout(root)}")


def read_split(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 28, 28]`` uint8 and labels ``[N]`` int64 of one split, checked.

    Raises:
        DatasetCorrupt: a bad file, counts that disagree, images not 28x28, labels outside 0-9.
    """
    x = read_idx(images, IMAGES_MAGIC)
    y = read_idx(labels, LABELS_MAGIC)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise DatasetCorrupt(f"{images}: images of shape {x.shape[1:]}, expected 28x28")
    if len(x) != len(y):
        raise DatasetCorrupt(
            f"{images}: {len(x)} images but {labels} holds {len(y)} labels; expected equal counts"
        )
    if len(y) and int(y.max()) > 9:
        raise DatasetCorrupt(f"{labels}: label {int(y.max())}, expected classes 0-9")
    return x, y.astype(np.int64)


def load_arrays(
    name: str, root: str, expect: str | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (images uint8 [N, 28, 28], labels)}`` of the official split.

    Raises:
        DatasetCorrupt: with ``expect="full"``, a split with fewer images than the official one
            (naming the file, the counts and ``data.options.expect: subset``).
    """
    out = {}
    for s, paths in locate(name, root).items():
        out[s] = read_split(*paths)
        if expect == "full" and len(out[s][1]) < OFFICIAL[s]:
            raise DatasetCorrupt(
                f"{paths[0]}: holds {len(out[s][1])} {s} images, expected {OFFICIAL[s]}; set "
                "data.options.expect: subset to train on fewer"
            )
    return out


def subset_indices(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Sorted indices of the first ``per_class`` images of each class in a fixed random order
    (all indices when ``per_class`` is 0).

    Raises:
        DatasetCorrupt: a class has fewer than ``per_class`` images.
    """
    return split_indices(labels, per_class, 0)[0]


def split_indices(labels: np.ndarray, per_class: int, val_per_class: int):
    """``(train, val)`` sorted indices: per class, the first ``per_class`` images in a fixed
    random order train and the next ``val_per_class`` validate, so the two never overlap and the
    training subset is the same whatever the validation size (all indices train and none
    validate when ``per_class`` is 0).

    Raises:
        DatasetCorrupt: a class has fewer than ``per_class + val_per_class`` images.
    """
    if per_class <= 0:
        return np.arange(len(labels)), np.zeros(0, np.int64)
    order = np.random.default_rng(SUBSET_SEED).permutation(len(labels))
    train, val = [], []
    for c in range(10):
        members = order[labels[order] == c][: per_class + val_per_class]
        if len(members) < per_class + val_per_class:
            raise DatasetCorrupt(
                f"data.options.train_per_class={per_class}, val_per_class={val_per_class}: "
                f"class {c} has only {len(members)} training images"
            )
        train.append(members[:per_class])
        val.append(members[per_class:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def resize(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """``[N, C, 28, 28]`` images to ``size`` x ``size`` (area averaging or antialiased bilinear)."""
    if size == x.shape[-1]:
        return x
    if mode == "area":
        return F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def split_description(name: str, per_class: int, n_train: int, n_test: int, n_val: int = 0) -> str:
    """The split recorded with every result."""
    train = f"train {n_train}" + (
        f" ({per_class}/class subset, seed {SUBSET_SEED})" if per_class else ""
    )
    val = f", validation {n_val} (the next {n_val // 10}/class, unused training images)"
    return f"official {name} split: {train}{val if n_val else ''}, test {n_test}"


def val_split_hash(train_idx: np.ndarray, val_idx: np.ndarray, test_idx: np.ndarray) -> str:
    """The split hash: train/test as before (so a run without validation keeps its hash), the
    validation indices folded in when there are any."""
    h = split_hash(train_idx, test_idx)
    if len(val_idx) == 0:
        return h
    return split_hash(np.asarray([int(h, 16)]), val_idx)


def _build(name: str, cfg) -> DataBundle:
    require_default_split(name, cfg.split)
    opts = resolve_options(name, cfg.options, DEFAULTS, CHOICES)
    check_val_per_class(name, opts)
    arrays = load_arrays(name, cfg.root, opts["expect"])
    (xtr, ytr), (xte, yte) = arrays["train"], arrays["test"]
    idx, vidx = split_indices(ytr, opts["train_per_class"], opts["val_per_class"])
    size = cfg.size or 28
    parts = {"train": (xtr[idx], ytr[idx]), "val": (xtr[vidx], ytr[vidx]), "test": (xte, yte)}
    tensors = {}
    for split, (x, y) in parts.items():
        t = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
        tensors[split] = (resize(t, size, opts["resize"]), torch.from_numpy(y))
    # every split is standardised with the training subset's statistics
    mean, std = tensors["train"][0].mean(), tensors["train"][0].std()
    info = dataset_spec(name).info(
        size,
        split_description(name, opts["train_per_class"], len(idx), len(yte), len(vidx)),
        val_split_hash(idx, vidx, np.arange(len(yte))),
        {k: opts[k] for k in ("train_per_class", "val_per_class", "resize")},
    )
    split = {k: TensorSplit((x - mean) / std, y) for k, (x, y) in tensors.items()}
    return DataBundle(info, split["train"], split["test"], split["val"] if len(vidx) else None)


def mnist(cfg, timesteps: tuple[int, ...]) -> DataBundle:
    """MNIST, static, direct encoding (see the module docstring)."""
    return _build("mnist", cfg)


def fashion_mnist(cfg, timesteps: tuple[int, ...]) -> DataBundle:
    """Fashion-MNIST, static, direct encoding: the ``small`` profile's real static data."""
    return _build("fashion_mnist", cfg)


def check(name: str, root: str, deep: bool = False) -> DatasetStatus:
    """Found where, counts against the official ones, and every file's header and length (the
    whole decode with ``deep``)."""
    from tssd.data.idx import count_of, data_length

    src = SOURCES[name]
    try:
        files = locate(name, root)
    except DatasetUnavailable:
        searched = ", ".join(str(c) for c in src.candidates(root))
        return DatasetStatus(
            name, present=False, where=f"searched {searched}", layout=src.layout(root)
        )
    st = DatasetStatus(
        name, present=True, complete=True, valid=True, where=str(files["train"][0].parent)
    )
    for split, (images, labels) in files.items():
        try:
            n_img, n_lab = count_of(images, IMAGES_MAGIC), count_of(labels, LABELS_MAGIC)
            for path, per in ((images, 28 * 28), (labels, 1)):
                want = (n_img if path == images else n_lab) * per
                got = data_length(path)
                if got != want:
                    raise DatasetCorrupt(
                        f"{path}: {'truncated' if got < want else 'too long'}: the header "
                        f"declares {want} bytes of data, the file holds {got}"
                    )
            if n_img != n_lab:
                raise DatasetCorrupt(f"{images}: {n_img} images but {labels} holds {n_lab} labels")
            if deep:
                read_split(images, labels)
        except DatasetCorrupt as exc:
            st.problems.append(str(exc))
            st.valid = False
            continue
        st.counts[split] = n_img
        if n_img != OFFICIAL[split]:
            st.complete = False
            st.problems.append(f"{images}: {n_img} {split} images, expected {OFFICIAL[split]}")
    return st
