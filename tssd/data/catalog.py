"""The built-in datasets, declared: every fact config validation, cost estimates and ``data
check`` read, and each loader by name.

Each dataset is one :func:`~tssd.data.spec.register_dataset` call here, in the order ``data
check`` reports in: its kind, classes, shape, split sizes, options and their checks, split rule
and stand-ins, with its factory and check as :class:`~tssd.deferred.Deferred` names of its
module (``tssd.data.<module>``, which reads the files with numpy and torch). This module imports
none of them, so validating, hashing and planning a run loads no torch; the loader's module is
imported when a run builds its data. The loaders read the constants they share with these facts
from here. A dataset of one's own is one plugin file (:mod:`tssd.plugins`) registering its
factory with the same call.
"""

from __future__ import annotations

from dataclasses import fields
from functools import partial

from tssd.data.emulator import EmulatorParams
from tssd.data.options import EXPECT_CHOICES, RESIZE_MODES, SPLIT_MODES
from tssd.data.spec import register_dataset
from tssd.deferred import Deferred
from tssd.errors import ConfigError

# ---- digits: scikit-learn's bundled 8x8 digits (tssd.data.digits) ------------------------------

DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0  # the split is part of the dataset, fixed for every run and every seed

register_dataset(
    "digits",
    kind="static",
    num_classes=10,
    in_channels=1,
    input_size=8,
    n_train=1437,
    n_test=360,
    default_split=f"stratified test_fraction={DIGITS_TEST_FRACTION} seed={DIGITS_SPLIT_SEED}",
    check=Deferred("tssd.data.digits:check"),
    stand_in_for=("cifar10", "cifar100", "imagenet"),
)(Deferred("tssd.data.digits:digits"))

# ---- the emulated event datasets (tssd.data.emulated) --------------------------------------------

EMULATED_CHOICES = {"split_by": SPLIT_MODES, "resize": RESIZE_MODES}
"""The emulated datasets' loader string options (``split_by``, ``resize``) and their values."""


def register_emulated(name: str, choices: dict[str, tuple[str, ...]] | None = None, **facts):
    """:func:`~tssd.data.spec.register_dataset` for an emulated dataset, 10 classes seen by a
    two-polarity sensor standing in for CIFAR10-DVS and DVS-Gesture; ``choices``: its string
    options besides the loader's (:data:`EMULATED_CHOICES`); ``facts``: the rest of its spec."""
    return register_dataset(
        name,
        kind="event",
        num_classes=10,
        in_channels=2,
        choices={**EMULATED_CHOICES, **(choices or {})},
        stand_in_for=("cifar10_dvs", "dvs_gesture"),
        **facts,
    )


def checked_params(name: str, opts: dict) -> EmulatorParams:
    """The emulator parameters among dataset ``name``'s resolved options, checked (ConfigError
    naming data.options)."""
    params = EmulatorParams(**{f.name: opts[f.name] for f in fields(EmulatorParams)})
    try:
        params.validate()
    except ValueError as exc:
        raise ConfigError(f"dataset {name!r}: data.options: {exc}") from exc
    return params


# ---- digits_dvs: the digits seen by the emulator (tssd.data.digits_dvs) -------------------------

DIGITS_DVS_LOADER_DEFAULTS = {"split_by": "number", "resize": "bilinear", "max_shift": 1}

register_emulated(
    "digits_dvs",
    input_size=EmulatorParams().sensor,
    n_train=1437,
    n_test=360,
    options={**EmulatorParams().as_dict(), **DIGITS_DVS_LOADER_DEFAULTS},
    check_options=partial(checked_params, "digits_dvs"),
    default_split=(
        f"stratified test_fraction={DIGITS_TEST_FRACTION} seed={DIGITS_SPLIT_SEED} (as digits)"
    ),
    check=Deferred("tssd.data.digits_dvs:check"),
)(Deferred("tssd.data.digits_dvs:digits_dvs"))

# ---- mnist, fashion_mnist: the official IDX files (tssd.data.mnist) -----------------------------

MNIST_OFFICIAL = {"train": 60_000, "test": 10_000}
MNIST_DEFAULTS = {"train_per_class": 0, "val_per_class": 0, "resize": "area", "expect": "full"}
MNIST_CHOICES = {"resize": ("area", "bilinear"), "expect": ("full", "subset")}


def check_val_per_class(name: str, opts: dict) -> None:
    """Refuse a validation split that is negative or has no unused training images to come from
    (ConfigError naming the key)."""
    val = opts.get("val_per_class", 0)
    if not isinstance(val, int) or isinstance(val, bool) or val < 0:
        raise ConfigError(
            f"dataset {name!r}: key 'data.options.val_per_class': got {val!r}, expected an "
            "integer >= 0 (0 = no validation split)"
        )
    if val and opts["train_per_class"] <= 0:
        raise ConfigError(
            f"dataset {name!r}: key 'data.options.val_per_class': got {val} with "
            "train_per_class 0 (every training image trains); expected train_per_class > 0, so "
            "that validation images are training images the run does not train on"
        )
    if opts["train_per_class"] + val > 5_000:
        # Fashion-MNIST and MNIST hold at least 5,421 training images per class (MNIST's 5)
        raise ConfigError(
            f"dataset {name!r}: keys 'data.options.train_per_class' + 'val_per_class': got "
            f"{opts['train_per_class']} + {val}, expected at most 5000 images per class"
        )


def check_train_per_class(name: str, opts: dict) -> None:
    """Refuse a negative ``data.options.train_per_class``, and a validation split with no
    unused training images to come from (ConfigError naming the key)."""
    if opts["train_per_class"] < 0:
        raise ConfigError(
            f"dataset {name!r}: key 'data.options.train_per_class': got "
            f"{opts['train_per_class']}, expected an integer >= 0 (0 = all)"
        )
    check_val_per_class(name, opts)


for _name in ("mnist", "fashion_mnist"):
    register_dataset(
        _name,
        kind="static",
        num_classes=10,
        in_channels=1,
        input_size=28,
        n_train=MNIST_OFFICIAL["train"],
        n_test=MNIST_OFFICIAL["test"],
        options=MNIST_DEFAULTS,
        choices=MNIST_CHOICES,
        check_options=partial(check_train_per_class, _name),
        default_split=f"the official {_name} split",
        check=Deferred("tssd.data.mnist:check", _name),
    )(Deferred(f"tssd.data.mnist:{_name}"))

# ---- fashion_dvs: Fashion-MNIST seen by the emulator (tssd.data.fashion_dvs) --------------------

FASHION_DVS_EMULATOR_DEFAULTS = {**EmulatorParams().as_dict(), "digit_px": 14}
FASHION_DVS_LOADER_DEFAULTS = {
    "train_per_class": 0,
    "val_per_class": 0,
    "expect": "full",
    "split_by": "number",
    "resize": "bilinear",
    "max_shift": 1,
}


def fashion_dvs_params(opts: dict) -> EmulatorParams:
    """The emulator parameters of resolved ``fashion_dvs`` options, checked with the loader's
    options (ConfigError naming data.options)."""
    params = checked_params("fashion_dvs", opts)
    check_train_per_class("fashion_dvs", opts)
    return params


register_emulated(
    "fashion_dvs",
    input_size=FASHION_DVS_EMULATOR_DEFAULTS["sensor"],
    n_train=60_000,
    n_test=10_000,
    options={**FASHION_DVS_EMULATOR_DEFAULTS, **FASHION_DVS_LOADER_DEFAULTS},
    choices={"expect": ("full", "subset")},
    check_options=fashion_dvs_params,
    default_split="the official Fashion-MNIST split",
    check=Deferred("tssd.data.fashion_dvs:check"),
)(Deferred("tssd.data.fashion_dvs:fashion_dvs"))

# ---- cifar10, cifar100: the official python archives (tssd.data.cifar) -------------------------

CIFAR_EXPECTED = {"train": 50_000, "test": 10_000}
CIFAR_DEFAULTS = {"path": "", "autoaugment": False, "pad": 4}

for _name, _classes in (("cifar10", 10), ("cifar100", 100)):
    register_dataset(
        _name,
        kind="static",
        num_classes=_classes,
        in_channels=3,
        input_size=32,
        n_train=CIFAR_EXPECTED["train"],
        n_test=CIFAR_EXPECTED["test"],
        options=CIFAR_DEFAULTS,
        check=Deferred("tssd.data.cifar:check_variant", _name),
    )(Deferred(f"tssd.data.cifar:{_name}"))

# ---- imagenet: train/ and val/ class folders (tssd.data.imagenet) -------------------------------

IMAGENET_EXPECTED = {"classes": 1000, "train": 1_281_167, "val": 50_000}
IMAGENET_DEFAULTS = {"path": ""}

register_dataset(
    "imagenet",
    kind="static",
    num_classes=IMAGENET_EXPECTED["classes"],
    in_channels=3,
    input_size=224,
    n_train=IMAGENET_EXPECTED["train"],
    n_test=IMAGENET_EXPECTED["val"],
    options=IMAGENET_DEFAULTS,
    default_split="the official train/ and val/ folders",
    check=Deferred("tssd.data.imagenet:check"),
)(Deferred("tssd.data.imagenet:imagenet"))

# ---- the real event datasets (tssd.data.event_folder) -------------------------------------------

EVENT_INPUT_SIZE = 48
"""The frames' size when ``data.size`` is 0 (resized from the DVS128 sensor's 128)."""

EVENT_CHOICES = {"split_by": SPLIT_MODES, "resize": RESIZE_MODES, "expect": EXPECT_CHOICES}
"""The string options of the real event datasets and their values."""


def register_event_dataset(name: str, **facts):
    """:func:`~tssd.data.spec.register_dataset` for a real event dataset read by
    :mod:`tssd.data.event_folder` (two polarity channels, frames of :data:`EVENT_INPUT_SIZE`,
    the options :data:`EVENT_CHOICES`); ``facts``: the rest of its spec."""
    return register_dataset(
        name,
        kind="event",
        in_channels=2,
        input_size=EVENT_INPUT_SIZE,
        choices=EVENT_CHOICES,
        **facts,
    )


# ---- cifar10_dvs: AEDAT 2.0 recordings (tssd.data.cifar10_dvs) ----------------------------------

CIFAR10_DVS_DEFAULT_SPLIT = "random:0:0.9"
CIFAR10_DVS_DEFAULTS = {
    "path": "",
    "split_by": "number",
    "resize": "bilinear",
    "flip": True,
    "max_shift": 4,
    "workers": 0,
    "expect": "full",
}


def parse_cifar10_dvs_split(split: str) -> tuple[str, int, float]:
    """``(kind, a, b)`` of a ``cifar10_dvs`` ``data.split``: ``("random", seed, ratio)`` or
    ``("per_class", N, 0)``.

    Raises:
        ConfigError: anything else, naming ``data.split`` and the two accepted forms.
    """
    default = CIFAR10_DVS_DEFAULT_SPLIT
    rule = default if split == "default" else split
    parts = rule.split(":")
    bad = ConfigError(
        f"dataset 'cifar10_dvs': key 'data.split': got {split!r}, expected 'default' "
        f"(= {default}), 'random:<seed>:<train ratio in (0, 1)>' or "
        "'per_class:<N test recordings per class>'"
    )
    try:
        if parts[0] == "random" and len(parts) == 3:
            seed, ratio = int(parts[1]), float(parts[2])
            if seed < 0 or not 0 < ratio < 1:
                raise bad
            return "random", seed, ratio
        if parts[0] == "per_class" and len(parts) == 2:
            n = int(parts[1])
            if n < 1:
                raise bad
            return "per_class", n, 0.0
    except ValueError:
        raise bad from None
    raise bad


register_event_dataset(
    "cifar10_dvs",
    num_classes=10,
    n_train=9_000,
    n_test=1_000,
    options=CIFAR10_DVS_DEFAULTS,
    default_split=CIFAR10_DVS_DEFAULT_SPLIT,
    parse_split=parse_cifar10_dvs_split,
    check=Deferred("tssd.data.cifar10_dvs:check"),
)(Deferred("tssd.data.cifar10_dvs:cifar10_dvs"))

# ---- dvs_gesture: AEDAT 3.1 trials (tssd.data.dvs_gesture) --------------------------------------

DVS_GESTURE_EXPECTED = {"train": 1176, "test": 288}
"""Samples of the official trials (one per label-CSV row; spikingjelly's counts)."""
DVS_GESTURE_DEFAULTS = {
    "path": "",
    "split_by": "number",
    "resize": "bilinear",
    "flip": False,
    "max_shift": 4,
    "workers": 0,
    "expect": "full",
}

register_event_dataset(
    "dvs_gesture",
    num_classes=11,
    n_train=DVS_GESTURE_EXPECTED["train"],
    n_test=DVS_GESTURE_EXPECTED["test"],
    options=DVS_GESTURE_DEFAULTS,
    default_split="the official trials_to_train.txt / trials_to_test.txt",
    check=Deferred("tssd.data.dvs_gesture:check"),
)(Deferred("tssd.data.dvs_gesture:dvs_gesture"))
