"""What every loader returns and how a run reads it (embedded digits, CIFAR, ImageNet, event data).

A dataset factory takes the run's :class:`~tssd.data.spec.DataConfig` (the ``data`` section of a
run config) and the framings the method needs (``timesteps``, e.g. ``(t_s, t_t)``) and returns
a :class:`DataBundle`: metadata plus a train and a test split. A sample is ``(x, label)``:

* static data: ``x`` is the analog image ``[C, H, W]`` (direct encoding repeats it over time);
* event data: ``x`` is ``{T: frames [T, C, H, W]}`` with one framing per requested ``T``, so a
  student can see the stream integrated into ``t_s`` frames and the teacher into ``t_t`` frames.

Batches keep that structure (``[B, C, H, W]`` or ``{T: [B, T, C, H, W]}``);
:func:`~tssd.models.base.to_sequence` (re-exported here) turns a batch into the network's
``[T, B, ...]`` input.

Every dataset registers one :class:`~tssd.data.spec.DatasetSpec` (:func:`register_dataset`): its
factory and the facts everything else reads without loading it (kind, classes, input shape,
split sizes, the options it accepts, its split rule, its ``data check``). Config validation,
cost estimates and ``python -m tssd data check`` ask the spec; nothing tests dataset names. The
registry is :mod:`tssd.data.spec` (torch-free, re-exported here); this module holds the torch
side: the bundle, in-memory splits, the batch order and :func:`build_dataset`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tssd.data import provenance
from tssd.data.errors import (  # noqa: F401  (DatasetUnavailable's old home, re-exported)
    DataError,
    DatasetCorrupt,
    DatasetUnavailable,
)
from tssd.data.spec import (  # noqa: F401  (the registry's old home, re-exported)
    DATASETS,
    DataConfig,
    DatasetFactory,
    DatasetInfo,
    DatasetShape,
    DatasetSpec,
    Kind,
    dataset_spec,
    register_dataset,
    shape_of,
    validate_data_config,
)
from tssd.models.base import to_sequence  # noqa: F401  (its old home, re-exported)


@dataclass
class DataBundle:
    """Metadata and the splits of one dataset: train, test and, where the run asked for one
    (``data.options.val_per_class``), a validation split drawn from training images the run
    does not train on."""

    info: DatasetInfo
    train: Dataset
    test: Dataset
    val: Dataset | None = None
    """Validation split (None: the run has none); choices are made on it, never on test."""


class TensorSplit(Dataset):
    """A split held entirely in memory: ``inputs`` (a tensor, or a dict of tensors keyed by T) and
    integer ``labels``. Loaders batch it by indexing, with no per-sample Python overhead."""

    def __init__(self, inputs: torch.Tensor | dict[int, torch.Tensor], labels: torch.Tensor):
        self.inputs, self.labels = inputs, labels.long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        if isinstance(self.inputs, dict):
            return {t: v[i] for t, v in self.inputs.items()}, self.labels[i]
        return self.inputs[i], self.labels[i]

    def take(self, idx: torch.Tensor):
        """The batch of the given sample indices."""
        if isinstance(self.inputs, dict):
            return {t: v[idx] for t, v in self.inputs.items()}, self.labels[idx]
        return self.inputs[idx], self.labels[idx]


def epoch_order(
    n: int, seed: int, epoch: int, shuffle: bool, rank: int = 0, world: int = 1, pad: bool = True
) -> torch.Tensor:
    """Sample order of one epoch, a pure function of (seed, epoch): resuming needs no loader state.

    With ``world > 1`` each rank takes every ``world``-th index of the order, padded by repeating
    its start (the DistributedSampler rule) so all ranks see the same number of batches; evaluation
    passes ``pad=False`` so that no sample is counted twice.
    """
    if shuffle:
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(n, generator=g)
    else:
        order = torch.arange(n)
    if world > 1:
        per_rank = -(-n // world)
        extra = per_rank * world - n
        if extra and pad:
            order = torch.cat([order, order[:extra]])
        order = order[rank::world]
    return order


class _EpochSampler(Sampler[int]):
    def __init__(self, order: torch.Tensor):
        self.order = order

    def __iter__(self) -> Iterator[int]:
        return iter(self.order.tolist())

    def __len__(self) -> int:
        return len(self.order)


def iterate_batches(
    dataset: Dataset,
    batch_size: int,
    *,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = False,
    drop_last: bool = False,
    rank: int = 0,
    world: int = 1,
    num_workers: int = 0,
    pad: bool = True,
) -> Iterator:
    """Batches of one epoch in the order :func:`epoch_order` fixes."""
    order = epoch_order(len(dataset), seed, epoch, shuffle, rank, world, pad)
    if isinstance(dataset, TensorSplit):
        stop = len(order) - (len(order) % batch_size if drop_last else 0)
        for i in range(0, stop, batch_size):
            yield dataset.take(order[i : i + batch_size])
        return
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=_EpochSampler(order),
        num_workers=num_workers,
        drop_last=drop_last,
        persistent_workers=False,
        pin_memory=False,
    )
    yield from loader


def move(x: torch.Tensor | dict[int, torch.Tensor], device: torch.device):
    """Move a batch's input to ``device``."""
    if isinstance(x, dict):
        return {k: v.to(device, non_blocking=True) for k, v in x.items()}
    return x.to(device, non_blocking=True)


def check_root(root: str) -> None:
    """Refuse a ``data.root`` that exists but is not a directory (a path that does not exist is
    left to each loader, which names every place it searched).

    Raises:
        DatasetUnavailable: naming ``data.root`` and what was expected.
    """
    if root and Path(root).expanduser().exists() and not Path(root).expanduser().is_dir():
        raise DatasetUnavailable(
            f"{root}: key 'data.root': got a file, expected the directory holding the datasets"
        )


def build_dataset(cfg, timesteps: tuple[int, ...]) -> DataBundle:
    """Build the dataset a run config names.

    Raises:
        DataError: the data is missing or bad (:class:`DatasetUnavailable`,
            :class:`DatasetCorrupt`), a file cannot be read, or a split is empty; the message
            names the file or key.
    """
    if cfg.name not in DATASETS:
        raise ValueError(f"unknown dataset {cfg.name!r}; allowed: {', '.join(DATASETS)}")
    check_root(cfg.root)
    try:
        with provenance.collecting() as files:
            bundle = DATASETS[cfg.name].build(cfg, tuple(sorted(set(timesteps))))
        bundle.info.files = files
    except DataError:
        raise
    except OSError as exc:  # unreadable file, a partial cache in the way: bad data, not a bug
        what = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
        raise DatasetCorrupt(f"{what} (while loading dataset {cfg.name!r})") from exc
    if not bundle.info.stand_in_for:
        bundle.info.stand_in_for = list(DATASETS[cfg.name].stand_in_for)
    for split, ds in (("train", bundle.train), ("test", bundle.test)):
        if len(ds) == 0:
            where = bundle.info.extra.get("source", cfg.root or cfg.name)
            rule = bundle.info.split.split(" (")[0]  # the rule without its long description
            shown = f"{cfg.split!r} ({rule})" if rule != cfg.split else repr(cfg.split)
            raise DatasetCorrupt(
                f"{where}: key 'data.split': {shown} leaves the {split} split empty "
                f"({len(bundle.train)} train / {len(bundle.test)} test samples); expected "
                "samples in both (choose another data.split, or provide more files)"
            )
    return bundle
