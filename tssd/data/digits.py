"""The embedded default: scikit-learn's bundled 8x8 digits (1,797 images, 10 classes, offline).

Declared (sizes, split rule) in :mod:`tssd.data.catalog`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tssd.data import provenance
from tssd.data.base import DataBundle, TensorSplit, dataset_spec
from tssd.data.catalog import DIGITS_SPLIT_SEED as SPLIT_SEED
from tssd.data.catalog import DIGITS_TEST_FRACTION as TEST_FRACTION
from tssd.data.status import DatasetStatus


def digits_arrays(test_fraction: float = TEST_FRACTION, split_seed: int = SPLIT_SEED):
    """Images in [0, 1] ``[N, 8, 8]`` float32, labels, and the stratified train/test indices."""
    from sklearn import datasets as sklearn_datasets
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    provenance.note(Path(sklearn_datasets.__file__).parent / "data" / "digits.csv.gz")
    images = (d.images / 16.0).astype(np.float32)
    labels = d.target.astype(np.int64)
    idx = np.arange(len(labels))
    train_idx, test_idx = train_test_split(
        idx, test_size=test_fraction, random_state=split_seed, stratify=labels
    )
    return images, labels, np.sort(train_idx), np.sort(test_idx)


def split_hash(train_idx: np.ndarray, test_idx: np.ndarray) -> str:
    """Short hash identifying a train/test partition by its index lists."""
    h = hashlib.sha256(
        np.asarray(train_idx, np.int64).tobytes() + b"|" + np.asarray(test_idx, np.int64).tobytes()
    )
    return h.hexdigest()[:12]


def check(root: str, deep: bool = False) -> DatasetStatus:
    """Bundled with scikit-learn: present wherever it is installed; counts against 1,797."""
    images, labels, tr, te = digits_arrays()
    ok = len(labels) == 1797 and images.shape[1:] == (8, 8)
    return DatasetStatus(
        "digits",
        present=True,
        complete=ok,
        valid=ok,
        where="bundled with scikit-learn",
        counts={"train": len(tr), "test": len(te)},
    )


def digits(cfg, timesteps: tuple[int, ...]) -> DataBundle:
    """Static digits, direct encoding. ``data.size`` > 8 upsamples bilinearly."""
    images, labels, tr, te = digits_arrays()
    x = torch.from_numpy(images).unsqueeze(1)  # [N, 1, 8, 8]
    size = cfg.size or 8
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    # Standardise with train statistics (the analog of the paper's per-channel normalisation).
    mean, std = x[tr].mean(), x[tr].std()
    x = (x - mean) / std
    y = torch.from_numpy(labels)
    spec = dataset_spec("digits")
    info = spec.info(size, spec.default_split, split_hash(tr, te))
    return DataBundle(info, TensorSplit(x[tr], y[tr]), TensorSplit(x[te], y[te]))
