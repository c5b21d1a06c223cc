"""Datasets by name. The embedded digits (and their emulated event streams, ``digits_dvs``) are
always available; ``mnist`` and ``fashion_mnist`` read the official IDX files (Fashion-MNIST
also from Debian's ``dataset-fashion-mnist``), ``fashion_dvs`` emulates events from the latter;
the paper's datasets (``cifar10``, ``cifar100``, ``imagenet``, ``cifar10_dvs``,
``dvs_gesture``) live under ``data.root`` and raise :class:`DatasetUnavailable` with the expected
layout when missing, :class:`DatasetCorrupt` naming the file when a file cannot be decoded (or
the files are not what the dataset declares); both are a :class:`DataError`.
``python -m tssd data check --data-root DIR`` reports on all of them."""

from tssd.data import (  # noqa: F401  (registration)
    cifar,
    cifar10_dvs,
    digits,
    digits_dvs,
    dvs_gesture,
    fashion_dvs,
    imagenet,
    mnist,
)
from tssd.data.base import (
    DATASETS,
    DataBundle,
    DatasetInfo,
    DatasetUnavailable,
    TensorSplit,
    build_dataset,
    epoch_order,
    iterate_batches,
    move,
    register_dataset,
    to_sequence,
)
from tssd.data.errors import DataError
from tssd.data.events import DatasetCorrupt

__all__ = [
    "DATASETS",
    "DataBundle",
    "DataError",
    "DatasetCorrupt",
    "DatasetInfo",
    "DatasetUnavailable",
    "TensorSplit",
    "build_dataset",
    "epoch_order",
    "iterate_batches",
    "move",
    "register_dataset",
    "to_sequence",
]
