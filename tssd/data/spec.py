"""The dataset registry, torch-free: the ``data`` section of a run config (:class:`DataConfig`),
each dataset's :class:`DatasetSpec` and the look-ups config validation and cost estimates make.

A :class:`DatasetSpec` holds the facts everything reads without loading the data (kind, classes,
input shape, split sizes, the options it accepts, its split rule) and its factory and ``data
check``, which for the built-in datasets are :class:`~tssd.deferred.Deferred` names of their
loaders (:mod:`tssd.data.catalog`), imported when a run builds its data. The loaders and what
they return (:class:`~tssd.data.base.DataBundle`, the splits, the batch iterator) are
:mod:`tssd.data.base`'s, with torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal

from tssd.data.options import require_default_split, resolve_options
from tssd.data.status import DatasetStatus
from tssd.errors import ConfigError

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


DatasetFactory = Callable[..., Any]
"""``f(cfg: DataConfig, timesteps: tuple[int, ...]) -> DataBundle`` (:mod:`tssd.data.base`, whose
torch this module does not import)."""


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
    """The factory, or a :class:`~tssd.deferred.Deferred` naming it (imported on first build)."""
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
    ``choices``, ``parse_split``, ``check``). Returns ``f`` unchanged. ``f`` (and ``check``) may
    be a :class:`~tssd.deferred.Deferred` naming the loader, so that declaring the dataset
    imports none of its code (the built-in datasets, :mod:`tssd.data.catalog`).

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
