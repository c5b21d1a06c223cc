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

The claims' tests come from the same intervals (:func:`diff_test`): a one-sided p-value from the
interval's own standard error and degrees of freedom (so "p below 2.5 %" and "the 95 % interval
excludes the boundary" are one statement), Holm's step-down adjustment for the reversals of one
claim (:func:`holm`), and the interval inside a margin for equivalence (:meth:`DiffTest.inside`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


@functools.lru_cache(maxsize=1024)
def t_cdf(x: float, df: float) -> float:
    """Student-t distribution function ``P(T_df <= x)`` (scipy, like :func:`t_quantile`)."""
    from scipy import stats

    return float(stats.t.cdf(x, df))


@dataclass(frozen=True)
class DiffTest:
    """A difference of two cells with its interval and what a test of it needs.

    ``d``, ``lo``, ``hi`` and ``how`` are exactly :func:`diff_ci`'s; ``se`` and ``df`` are the
    standard error and degrees of freedom of the same Student-t interval (``lo = d - q * se``
    with ``q`` the t quantile at ``df``), so a p-value from them agrees with the interval: a
    one-sided p below 2.5 % is an interval at 95 % that excludes the boundary on that side.
    """

    d: float
    lo: float
    hi: float
    how: str
    se: float = math.nan
    df: float = math.nan

    def p_below(self, boundary: float) -> float:
        """One-sided p-value of "the true difference is below ``boundary``" (H0: it is not).

        NaN without an interval (a side with fewer than two seeds); 0 or 1 when every seed's
        difference is the same (``se == 0``), as the zero-width interval says.
        """
        if math.isnan(self.lo):
            return math.nan
        if self.se == 0.0:
            return 0.0 if self.d < boundary else 1.0
        return t_cdf((self.d - boundary) / self.se, self.df)

    def p_above(self, boundary: float) -> float:
        """One-sided p-value of "the true difference is above ``boundary``" (H0: it is not)."""
        if math.isnan(self.lo):
            return math.nan
        if self.se == 0.0:
            return 0.0 if self.d > boundary else 1.0
        return t_cdf((boundary - self.d) / self.se, self.df)

    def inside(self, margin: float) -> bool:
        """True when the whole interval lies strictly within ``(-margin, +margin)``.

        With a 95 % interval this is two one-sided tests (TOST) at 2.5 % each: a difference
        whose true value is at or beyond the margin passes with probability at most 2.5 %.
        """
        return (
            not math.isnan(self.lo)
            and not math.isnan(margin)
            and -margin < self.lo
            and self.hi < margin
        )


def diff_test(a: Mapping[int, float], b: Mapping[int, float], level: float = LEVEL) -> DiffTest:
    """:func:`diff_ci` with the interval's standard error and degrees of freedom.

    The interval is :func:`diff_ci`'s own (same numbers, same pairing rule); ``se``/``df`` are
    those of the per-seed differences (paired: ``sd / sqrt(n)``, ``n - 1``) or Welch's
    (Satterthwaite degrees of freedom).
    """
    d, lo, hi, how = diff_ci(a, b, level)
    if math.isnan(lo):
        return DiffTest(d, lo, hi, how)
    va, vb = list(a.values()), list(b.values())
    if how.startswith("paired"):
        diffs = np.asarray([x - y for x, y in paired(a, b)], float)
        return DiffTest(
            d, lo, hi, how, float(diffs.std(ddof=1)) / math.sqrt(diffs.size), diffs.size - 1.0
        )
    x, y = np.asarray(va, float), np.asarray(vb, float)
    sa, sb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(sa + sb)
    if se == 0.0:
        return DiffTest(d, lo, hi, how, 0.0, math.nan)
    df = (sa + sb) ** 2 / (sa**2 / (x.size - 1) + sb**2 / (y.size - 1))
    return DiffTest(d, lo, hi, how, se, float(df))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order (NaN stays NaN, not counted).

    Sorted ascending, ``p_(i)`` is multiplied by ``m - i + 1`` (``m`` the finite p-values), capped
    at 1 and made non-decreasing; rejecting every adjusted p below ``alpha`` keeps the chance of
    any false rejection in the family at most ``alpha`` whatever the dependence between the tests
    (Holm 1979). Comparisons of one claim share their baseline cell, so they are dependent; Holm
    needs no assumption about that, unlike Sidak.
    """
    finite = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m = len(finite)
    out = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


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
