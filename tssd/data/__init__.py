"""Datasets by name. The embedded digits (and their emulated event streams, ``digits_dvs``) are
always available; ``mnist`` and ``fashion_mnist`` read the official IDX files (Fashion-MNIST
also from Debian's ``dataset-fashion-mnist``), ``fashion_dvs`` emulates events from the latter;
the paper's datasets (``cifar10``, ``cifar100``, ``imagenet``, ``cifar10_dvs``,
``dvs_gesture``) live under ``data.root`` and raise :class:`DatasetUnavailable` with the expected
layout when missing, :class:`DatasetCorrupt` naming the file when a file cannot be decoded (or
the files are not what the dataset declares); both are a :class:`DataError`.
``python -m tssd data check --data-root DIR`` reports on all of them.

Each dataset registers one :class:`DatasetSpec` (factory, kind, classes, shape, sizes, split
rule, options, check): the built-in ones in :mod:`tssd.data.catalog`, each naming its loader
module; a dataset of one's own is one file named in ``TSSD_PLUGINS`` (:mod:`tssd.plugins`).
Importing this package imports no torch: the registry and the catalog are plain data, and the
torch names below (bundles, splits, batches, :func:`build_dataset`) are read from
:mod:`tssd.data.base` on first use."""

from __future__ import annotations

from tssd.data import catalog  # noqa: F401  (registers the built-in datasets, in order)
from tssd.data.errors import DataError, DatasetCorrupt, DatasetUnavailable
from tssd.data.spec import (
    DATASETS,
    DataConfig,
    DatasetInfo,
    DatasetShape,
    DatasetSpec,
    dataset_spec,
    register_dataset,
    shape_of,
    validate_data_config,
)
from tssd.deferred import lazy_attributes

LAZY: dict[str, str] = dict.fromkeys(
    (
        "DataBundle",
        "TensorSplit",
        "build_dataset",
        "epoch_order",
        "iterate_batches",
        "move",
        "to_sequence",
    ),
    "tssd.data.base",
)
"""Name -> the module (torch) it is read from on first use: all of them :mod:`tssd.data.base`."""

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

__getattr__ = lazy_attributes(__name__, LAZY)
