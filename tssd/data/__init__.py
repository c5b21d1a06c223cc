"""Datasets by name. The embedded digits are always available; real datasets live under a
``--data-root`` and raise :class:`DatasetUnavailable` with the expected layout when missing."""

from tssd.data import digits  # noqa: F401  (registration)
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

__all__ = [
    "DATASETS",
    "DataBundle",
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
