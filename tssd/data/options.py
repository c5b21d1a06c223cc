"""Dataset-specific options (``data.options``): typed defaults per dataset, strict key checking.

Every loader declares the options it understands with their defaults; an unknown key, a value of
the wrong type or a non-finite float is a :class:`~tssd.config.ConfigError` naming
``data.options.<key>`` and what was expected, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import math
from typing import Any

from tssd.config import ConfigError


def resolve_options(
    dataset: str,
    given: dict[str, Any],
    defaults: dict[str, Any],
    choices: dict[str, tuple] | None = None,
) -> dict[str, Any]:
    """Merge ``given`` over ``defaults``, checking keys, types and allowed values.

    Args:
        dataset: the dataset name (for the error message).
        given: ``cfg.data.options`` as written in the run config.
        defaults: every allowed key with its default value; the default's type is the expected
            type (an int default also accepts an int; a float default accepts ints and floats).
        choices: for string options, the allowed values.

    Returns:
        The complete option dict.

    Raises:
        ConfigError: unknown key, wrong type or value outside ``choices``.
    """
    choices = choices or {}
    out = dict(defaults)
    for key, value in (given or {}).items():
        name = f"data.options.{key}"
        if key not in defaults:
            allowed = ", ".join(sorted(defaults)) or "(none)"
            raise ConfigError(f"dataset {dataset!r}: unknown key '{name}'; allowed: {allowed}")
        default = defaults[key]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
            if ok and not math.isfinite(value):
                raise ConfigError(
                    f"dataset {dataset!r}: key '{name}': got {value!r}, expected a finite number"
                )
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:
            ok = True
        if not ok:
            raise ConfigError(
                f"dataset {dataset!r}: key '{name}': got {value!r}, expected a "
                f"{type(default).__name__} like the default {default!r}"
            )
        if key in choices and value not in choices[key]:
            raise ConfigError(
                f"dataset {dataset!r}: key '{name}': got {value!r}, expected one "
                f"of {', '.join(map(str, choices[key]))}"
            )
        out[key] = value
    return out


def require_default_split(dataset: str, split: str) -> None:
    """Datasets with one official split accept only ``data.split: default``."""
    if split != "default":
        raise ConfigError(
            f"dataset {dataset!r}: key 'data.split': got {split!r}, expected "
            "'default' (this dataset has one official train/test split)"
        )


def validate_data_config(data_cfg) -> None:
    """Check ``data.options`` and ``data.split`` of a :class:`~tssd.config.DataConfig` without
    touching the disk (so a bad value fails at config time, before any conversion).

    Raises:
        ConfigError: an unknown option, a bad value, or a split rule the dataset does not accept.
    """
    from tssd.data import cifar, cifar10_dvs, digits_dvs, dvs_gesture, imagenet

    name, opts, split = data_cfg.name, data_cfg.options, data_cfg.split
    if name == "digits_dvs":
        digits_dvs.split_options(opts)
    elif name == "fashion_dvs":
        from tssd.data import fashion_dvs

        fashion_dvs.split_options(opts)
    elif name in ("mnist", "fashion_mnist"):
        from tssd.data import mnist

        o = resolve_options(name, opts, mnist.DEFAULTS, mnist.CHOICES)
        if o["train_per_class"] < 0:
            raise ConfigError(
                f"dataset {name!r}: key 'data.options.train_per_class': got "
                f"{o['train_per_class']}, expected an integer >= 0 (0 = all)"
            )
    elif name in ("cifar10", "cifar100"):
        resolve_options(name, opts, cifar.DEFAULTS)
    elif name == "imagenet":
        resolve_options(name, opts, imagenet.DEFAULTS)
    elif name == "cifar10_dvs":
        resolve_options(name, opts, cifar10_dvs.DEFAULTS, cifar10_dvs.CHOICES)
        cifar10_dvs.parse_split(split)
        return
    elif name == "dvs_gesture":
        resolve_options(name, opts, dvs_gesture.DEFAULTS, dvs_gesture.CHOICES)
    elif opts:
        raise ConfigError(
            f"dataset {name!r}: key 'data.options': this dataset takes no options, "
            f"got {sorted(opts)}"
        )
    require_default_split(name, split)
