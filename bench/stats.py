"""Statistics over seeds: means, Student-t intervals, paired differences, and the regression
check's test (its tolerance and power).

Why Student-t and not the percentile bootstrap this module used before: at the seed counts the
profiles run (3 to 10), a percentile bootstrap of a mean covers far less than it claims (73 % of
the time at 3 seeds for a nominal 95 %, 91 % at 10; simulated on normal data), because resampling
three values cannot show how far their mean may be from the truth. The t-interval is exact for
normal seed spreads at any n >= 2 (tests/test_bench_stats.py simulates its coverage).

Differences between two cells use the seeds' pairing when both cells ran the same seeds: a seed
fixes the initialisation and the data order for every method (tssd/train.py seeds before the
network is built; the batch order is a function of seed and epoch), so the per-seed differences
cancel what the two runs share and their t-interval is the tighter honest one. Unpaired cells get
Welch's interval (unequal variances, Satterthwaite degrees of freedom).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import numpy as np

LEVEL = 0.95


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; NaN for fewer than two values)."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan


@functools.lru_cache(maxsize=256)
def t_quantile(q: float, df: float) -> float:
    """Student-t quantile (cached: a check asks for the same few many times)."""
    from scipy import stats

    return float(stats.t.ppf(q, df))


def mean_ci(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """Student-t interval of the mean (the value itself for one value, NaN for none)."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), float(v[0])
    m, s = float(v.mean()), float(v.std(ddof=1))
    h = t_quantile(0.5 + level / 2.0, v.size - 1) * s / math.sqrt(v.size)
    return m - h, m + h


def welch_ci(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """Welch interval of ``mean(a) - mean(b)`` for independent samples (NaN below 2 each)."""
    x, y = np.asarray(list(a), float), np.asarray(list(b), float)
    if x.size < 2 or y.size < 2:
        return math.nan, math.nan
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    d = float(x.mean() - y.mean())
    se = math.sqrt(va + vb)
    if se == 0.0:
        return d, d
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    h = t_quantile(0.5 + level / 2.0, df) * se
    return d - h, d + h


def paired(a: Mapping[int, float], b: Mapping[int, float]) -> list[tuple[float, float]]:
    """The ``(a, b)`` value pairs of the seeds both cells finished, in seed order."""
    return [(a[s], b[s]) for s in sorted(set(a) & set(b))]


def diff_ci(
    a: Mapping[int, float], b: Mapping[int, float], level: float = LEVEL
) -> tuple[float, float, float, str]:
    """``(mean(a) - mean(b), lo, hi, how)`` of two cells' seed values (``{seed: value}``).

    Paired (a t-interval of the per-seed differences) when the two cells share at least two
    seeds and neither has other seeds; otherwise Welch's interval of the two means.
    """
    va, vb = list(a.values()), list(b.values())
    if not va or not vb:
        return math.nan, math.nan, math.nan, "missing"
    d = float(np.mean(va) - np.mean(vb))
    pairs = paired(a, b)
    if len(pairs) >= 2 and len(pairs) == len(va) == len(vb):
        lo, hi = mean_ci([x - y for x, y in pairs], level)
        return d, lo, hi, f"paired t, {len(pairs)} seeds"
    lo, hi = welch_ci(va, vb, level)
    return d, lo, hi, f"Welch t, {len(va)} vs {len(vb)} seeds"


# ------------------------------------------------------------------------------------------------
# The regression check: is a fresh m-seed mean drawn from the reference's seed distribution?
# ------------------------------------------------------------------------------------------------


def per_check_alpha(false_alarm: float, k: int) -> float:
    """Per-comparison level that keeps the chance of any false alarm among ``k`` independent
    comparisons at ``false_alarm`` (Sidak: ``1 - (1 - false_alarm) ** (1 / k)``)."""
    if not 0.0 < false_alarm < 1.0 or k < 1:
        raise ValueError(f"false_alarm {false_alarm} must be in (0, 1) and k {k} >= 1")
    return 1.0 - (1.0 - false_alarm) ** (1.0 / k)


def shift_tolerance(ref_std: float, n_ref: int, m: int, alpha: float) -> float:
    """Largest ``|mean(fresh) - mean(reference)|`` that passes a two-sided level-``alpha`` test.

    Model: the ``n_ref`` reference values and the ``m`` fresh values are independent draws of
    one normal distribution (another CPU or thread count changes a run like another seed). Then
    ``(mean_m - mean_ref) / (s_ref * sqrt(1/m + 1/n_ref))`` follows Student's t with ``n_ref - 1``
    degrees of freedom exactly, since the reference's sample std ``s_ref`` is independent of both
    means. Only the reference's spread is used: a regression that makes runs noisier must not
    widen its own tolerance. When the fresh seeds are a subset of the reference's on the machine
    that made it, the two means are positively correlated and the test is conservative.
    """
    if n_ref < 2 or m < 1:
        return math.nan
    t = t_quantile(1.0 - alpha / 2.0, n_ref - 1)
    return t * ref_std * math.sqrt(1.0 / m + 1.0 / n_ref)


def detectable_shift(
    ref_std: float, n_ref: int, m: int, alpha: float, power: float = 0.95
) -> float:
    """Smallest true shift of the cell mean that :func:`shift_tolerance` detects with probability
    ``power`` (noncentral t with ``n_ref - 1`` degrees of freedom, both tails counted)."""
    from scipy import optimize, stats

    if n_ref < 2 or m < 1 or not ref_std > 0:
        return math.nan
    df = n_ref - 1
    t_crit = t_quantile(1.0 - alpha / 2.0, df)
    se = math.sqrt(1.0 / m + 1.0 / n_ref)

    def miss(nc: float) -> float:
        lower = float(stats.nct.cdf(-t_crit, df, nc))  # negligible; scipy gives NaN far out
        return (
            float(stats.nct.sf(t_crit, df, nc)) + (lower if math.isfinite(lower) else 0.0) - power
        )

    nc = optimize.brentq(miss, 0.0, 100.0)
    return nc * ref_std * se
