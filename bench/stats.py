"""Summary statistics over seeds: mean, sample std and percentile-bootstrap 95 % intervals.

The bootstrap uses a fixed random state (``seed=0`` per call, in the manner of rliable), so the
same values always give the same interval and an aggregate CSV is reproducible byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

N_BOOT = 10_000
LEVEL = 0.95


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; NaN for fewer than two values)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan


def bootstrap_ci(
    values: Sequence[float], n_boot: int = N_BOOT, level: float = LEVEL, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean (the value itself for one value)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), float(v[0])
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(axis=1)
    a = (1.0 - level) / 2.0
    return float(np.quantile(means, a)), float(np.quantile(means, 1.0 - a))


def bootstrap_diff_ci(
    a: Sequence[float],
    b: Sequence[float],
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``mean(a) - mean(b)``, resampling each side on its own
    (seeds of two cells are independent draws)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size == 0 or y.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    mx = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    my = y[rng.integers(0, y.size, size=(n_boot, y.size))].mean(axis=1)
    d = mx - my
    q = (1.0 - level) / 2.0
    return float(np.quantile(d, q)), float(np.quantile(d, 1.0 - q))
