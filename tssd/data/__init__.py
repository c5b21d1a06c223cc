"""Datasets by name. The embedded digits (and their emulated event streams, ``digits_dvs``) are
always available; ``mnist`` and ``fashion_mnist`` read the official IDX files (Fashion-MNIST
also from Debian's ``dataset-fashion-mnist``), ``fashion_dvs`` emulates events from the latter;
the paper's datasets (``cifar10``, ``cifar100``, ``imagenet``, ``cifar10_dvs``,
``dvs_gesture``) live under ``data.root`` and raise :class:`DatasetUnavailable` with the expected
layout when missing, :class:`DatasetCorrupt` naming the file when a file cannot be decoded (or
the files are not what the dataset declares); both are a :class:`DataError`.
``python -m tssd data check --data-root DIR`` reports on all of them.

Each dataset module registers one :class:`DatasetSpec` (factory, kind, classes, shape, sizes,
split rule, options, check); adding a dataset is one new module (imported below, or named in
``TSSD_PLUGINS``, :mod:`tssd.plugins`) plus its tests."""

# Registration order is the order ``data check`` reports in and error messages list.
# isort: off
from tssd.data import (  # noqa: F401  (registration, in this order)
    digits,
    digits_dvs,
    mnist,
    fashion_dvs,
    cifar,
    imagenet,
    cifar10_dvs,
    dvs_gesture,
)

# isort: on
from tssd.data.base import (
    DATASETS,
    DataBundle,
    DataConfig,
    DatasetInfo,
    DatasetShape,
    DatasetSpec,
    DatasetUnavailable,
    TensorSplit,
    build_dataset,
    dataset_spec,
    epoch_order,
    iterate_batches,
    move,
    register_dataset,
    shape_of,
    to_sequence,
    validate_data_config,
)
from tssd.data.errors import DataError
from tssd.data.events import DatasetCorrupt

__all__ = [
    "DATASETS",
    "DataBundle",
    "DataConfig",
    "DataError",
    "DatasetCorrupt",
    "DatasetInfo",
    "DatasetShape",
    "DatasetSpec",
    "DatasetUnavailable",
    "TensorSplit",
    "build_dataset",
    "dataset_spec",
    "epoch_order",
    "iterate_batches",
    "move",
    "register_dataset",
    "shape_of",
    "to_sequence",
    "validate_data_config",
]
