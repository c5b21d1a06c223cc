"""The dataset interface every loader implements (embedded digits, CIFAR, ImageNet, event data).

A dataset factory takes the run's :class:`DataConfig` (the ``data`` section of a run config,
defined here) and the framings the method needs (``timesteps``, e.g. ``(t_s, t_t)``) and returns
a :class:`DataBundle`: metadata plus a train and a test split. A sample is ``(x, label)``:

* static data: ``x`` is the analog image ``[C, H, W]`` (direct encoding repeats it over time);
* event data: ``x`` is ``{T: frames [T, C, H, W]}`` with one framing per requested ``T``, so a
  student can see the stream integrated into ``t_s`` frames and the teacher into ``t_t`` frames.

Batches keep that structure (``[B, C, H, W]`` or ``{T: [B, T, C, H, W]}``);
:func:`~tssd.models.base.to_sequence` (re-exported here) turns a batch into the network's
``[T, B, ...]`` input.

Every dataset registers one :class:`DatasetSpec` (:func:`register_dataset`): its factory and the
facts everything else reads without loading it (kind, classes, input shape, split sizes, the
options it accepts, its split rule, its ``data check``). Config validation, cost estimates and
``python -m tssd data check`` ask the spec; nothing tests dataset names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tssd.data import provenance
from tssd.data.errors import (  # noqa: F401  (DatasetUnavailable's old home, re-exported)
    DataError,
    DatasetCorrupt,
    DatasetUnavailable,
)
from tssd.data.options import require_default_split, resolve_options
from tssd.data.status import DatasetStatus
from tssd.errors import ConfigError
from tssd.models.base import to_sequence  # noqa: F401  (its old home, re-exported)

Kind = Literal["static", "event"]


@dataclass
class DataConfig:
    """Dataset selection; datasets are registered by name in :data:`DATASETS`."""

    name: str = "digits"
    root: str = ""
    """Directory holding the real datasets ('' = not needed, e.g. for the embedded digits)."""
    batch_size: int = 64
    test_batch_size: int = 256
    augment: bool = False
    """The paper profile's augmentations (crop, flip; AutoAugment where available)."""
    split: str = "default"
    """Dataset-specific split rule, e.g. 'random:0:0.9' or 'per_class:100' for CIFAR10-DVS."""
    size: int = 0
    """Spatial size of the network input (0 = the dataset's default)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Dataset-specific extra options (e.g. the DVS emulator's parameters)."""


@dataclass
class DatasetInfo:
    """What the model factory and the result rows need to know about a dataset."""

    name: str
    kind: Kind
    num_classes: int
    in_channels: int
    input_size: int
    split: str
    """A description of the train/test split precise enough to re-create it."""
    split_hash: str = ""
    """Short hash of the split's sample lists (recorded with every result)."""
    stand_in_for: list[str] = field(default_factory=list)
    """Real datasets this embedded stand-in replaces in the quick profile (filled in from the
    dataset's spec by :func:`build_dataset`)."""
    extra: dict[str, Any] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    """Every file the dataset was read from (path, size, sha256), or the completion marker of the
    cache built from them (:mod:`tssd.data.provenance`); recorded in the run's summary."""


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


DatasetFactory = Callable[..., DataBundle]
"""``f(cfg: DataConfig, timesteps: tuple[int, ...]) -> DataBundle``."""


@dataclass(frozen=True)
class DatasetShape:
    """What a cost estimate needs to know of a dataset without reading it."""

    kind: str
    in_channels: int
    input_size: int
    num_classes: int
    n_train: int
    n_test: int
    n_val: int = 0
    """Images of the validation split (``val_per_class`` per class; 0: none)."""


@dataclass(frozen=True)
class DatasetSpec:
    """One registered dataset: its factory and every fact read without loading it."""

    name: str
    build: DatasetFactory
    kind: Kind
    num_classes: int
    in_channels: int
    input_size: int
    """Spatial size of the network input when ``data.size`` is 0."""
    n_train: int
    """Samples of the standard training split (CIFAR10-DVS: the authors' random 90 %)."""
    n_test: int
    options: dict[str, Any] = field(default_factory=dict)
    """Every ``data.options`` key the dataset accepts, with its default; the default's type is
    the expected type (:func:`~tssd.data.options.resolve_options`). A ``train_per_class`` option
    (a class-balanced training subset, 0 = all) changes the training size :meth:`shape` reports."""
    choices: dict[str, tuple] = field(default_factory=dict)
    """For string options, the allowed values."""
    check_options: Callable[[dict[str, Any]], object] | None = None
    """Checks the resolved options beyond their types (raises ConfigError naming the key)."""
    default_split: str = "the official train/test split"
    """What ``data.split: default`` means."""
    parse_split: Callable[[str], Any] | None = None
    """Parses (and so checks) a ``data.split`` rule, raising ConfigError; None: the dataset has
    one split and accepts only ``default``."""
    check: Callable[[str, bool], DatasetStatus] | None = None
    """``check(root, deep)``: is the dataset present, complete and valid under ``root``
    (``python -m tssd data check``)."""
    stand_in_for: tuple[str, ...] = ()
    """Real datasets this embedded stand-in replaces in the quick profile."""

    def resolve_options(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """``data.options`` over the defaults, checked (raises ConfigError naming the key)."""
        if not self.options and given:
            raise ConfigError(
                f"dataset {self.name!r}: key 'data.options': this dataset takes no options, "
                f"got {sorted(given)}"
            )
        opts = resolve_options(self.name, given or {}, self.options, self.choices)
        if self.check_options is not None:
            self.check_options(opts)
        return opts

    def check_split(self, split: str) -> None:
        """Raise ConfigError when the dataset does not accept the ``data.split`` rule."""
        if self.parse_split is None:
            require_default_split(self.name, split)
        else:
            self.parse_split(split)

    def options_of(self, data_cfg) -> dict[str, Any]:
        """The resolved ``data.options`` of a DataConfig, its ``data.split`` checked too (raises
        ConfigError naming the key; nothing touches the disk)."""
        opts = self.resolve_options(data_cfg.options)
        self.check_split(data_cfg.split)
        return opts

    def validate(self, data_cfg) -> None:
        """Check ``data.options`` and ``data.split`` of a DataConfig without touching the disk."""
        self.options_of(data_cfg)

    def shape(self, data_cfg) -> DatasetShape:
        """The input shape and split sizes a DataConfig of this dataset trains on."""
        opts = self.resolve_options(data_cfg.options)
        per_class = opts.get("train_per_class", 0)
        n_train = per_class * self.num_classes if per_class else self.n_train
        return DatasetShape(
            self.kind,
            self.in_channels,
            data_cfg.size or self.input_size,
            self.num_classes,
            n_train,
            self.n_test,
            opts.get("val_per_class", 0) * self.num_classes,
        )

    def info(
        self, input_size: int, split: str, split_hash: str = "", extra: dict | None = None
    ) -> DatasetInfo:
        """The :class:`DatasetInfo` of a bundle the factory built: name, kind, classes and input
        channels as registered, the size, split and metadata of this build."""
        return DatasetInfo(
            name=self.name,
            kind=self.kind,
            num_classes=self.num_classes,
            in_channels=self.in_channels,
            input_size=input_size,
            split=split,
            split_hash=split_hash,
            extra=extra or {},
        )

    def status(self, root: str, deep: bool = False) -> DatasetStatus:
        """What ``data check`` reports (a dataset without a check function: not checked)."""
        if self.check is None:
            return DatasetStatus(
                self.name, present=False, where="not checked (the dataset registers no check)"
            )
        return self.check(root, deep)


DATASETS: dict[str, DatasetSpec] = {}
"""Registered datasets by name, in registration order (``data check`` reports in this order)."""


def register_dataset(
    name: str,
    *,
    kind: Kind,
    num_classes: int,
    in_channels: int,
    input_size: int,
    n_train: int,
    n_test: int,
    **facts: Any,
) -> Callable[[DatasetFactory], DatasetFactory]:
    """Decorator: register ``f(cfg: DataConfig, timesteps: tuple[int, ...]) -> DataBundle`` with
    its :class:`DatasetSpec` (``facts``: the spec's optional fields, e.g. ``options``,
    ``choices``, ``parse_split``, ``check``). Returns ``f`` unchanged.

    Raises:
        ValueError: ``name`` is registered already, or a fact is not a DatasetSpec field.
    """

    def deco(fn: DatasetFactory) -> DatasetFactory:
        if name in DATASETS:
            raise ValueError(f"dataset {name!r} registered twice")
        try:
            spec = DatasetSpec(
                name, fn, kind, num_classes, in_channels, input_size, n_train, n_test, **facts
            )
        except TypeError as exc:
            raise ValueError(f"register_dataset({name!r}): {exc}") from None
        DATASETS[name] = spec
        return fn

    return deco


def dataset_spec(name: str) -> DatasetSpec:
    """The spec registered as ``name``.

    Raises:
        ConfigError: no such dataset (naming ``data.name`` and the registered ones).
    """
    if name not in DATASETS:
        raise ConfigError(
            f"key 'data.name': unknown dataset {name!r}; allowed: {', '.join(DATASETS)}"
        )
    return DATASETS[name]


def validate_data_config(data_cfg: DataConfig) -> None:
    """Check ``data.options`` and ``data.split`` of a :class:`DataConfig` without touching the
    disk (so a bad value fails at config time, before any conversion).

    Raises:
        ConfigError: an unknown dataset or option, a bad value, or a split rule the dataset does
            not accept.
    """
    dataset_spec(data_cfg.name).validate(data_cfg)


def shape_of(data_cfg) -> DatasetShape:
    """Input shape and train/test sizes of the data a :class:`DataConfig` (or a plain ``data``
    mapping of a run config) trains on, from its dataset's spec: the sizes of the standard split,
    a ``train_per_class`` subset counted as such, ``data.size`` when set.

    Raises:
        ConfigError: an unknown dataset or a bad option.
    """
    if isinstance(data_cfg, dict):
        data_cfg = SimpleNamespace(
            name=data_cfg.get("name", "digits"),
            options=data_cfg.get("options") or {},
            size=data_cfg.get("size", 0),
        )
    return dataset_spec(data_cfg.name).shape(data_cfg)


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
