"""Dataset-specific options (``data.options``): typed defaults per dataset, strict key checking.

Every dataset declares the options it understands with their defaults in its
:class:`~tssd.data.base.DatasetSpec`; an unknown key, a value of the wrong type or a non-finite
float is a :class:`~tssd.errors.ConfigError` naming ``data.options.<key>`` and what was expected,
so a typo never silently falls back to a default. This module imports no dataset: the registry
(:func:`tssd.data.base.validate_data_config`) reads the specs.
"""

from __future__ import annotations

import math
from typing import Any

from tssd.errors import ConfigError

SPLIT_MODES = ("number", "time")
"""``data.options.split_by`` of the event datasets: how a stream is cut into frames
(:func:`tssd.data.events.integrate`)."""
RESIZE_MODES = ("bilinear", "area", "nearest")
"""``data.options.resize`` of the event datasets: how frames are resized to ``data.size``."""
EXPECT_CHOICES = ("full", "subset")
"""``data.options.expect`` of the real event datasets: ``full`` (default) refuses a tree whose
counts differ from the ones the dataset declares; ``subset`` accepts any non-empty subset."""


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
