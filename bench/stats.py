"""Statistics over seeds: Student-t intervals (paired by seed, else Welch's), their p-values,
Holm, the regression check's tolerance and power. Why t, not a bootstrap: bench/README.md,
"Verdicts"."""

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


@functools.lru_cache(maxsize=1024)
def t_cdf(x: float, df: float) -> float:
    """Student-t distribution function ``P(T_df <= x)``."""
    from scipy import stats

    return float(stats.t.cdf(x, df))


def t_interval(mean: float, std: float, n: int) -> tuple[float, float]:
    """Student-t interval of a mean from its std and n (NaN below two values)."""
    if n < 2 or math.isnan(std):
        return math.nan, math.nan
    h = t_quantile(0.5 + LEVEL / 2.0, n - 1) * std / math.sqrt(n)
    return mean - h, mean + h


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Student-t interval of the mean (the value itself for one value, NaN for none)."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), float(v[0])
    return t_interval(float(v.mean()), float(v.std(ddof=1)), v.size)


def _welch(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Welch's standard error of ``mean(x) - mean(y)`` and its degrees of freedom (NaN at 0)."""
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        return 0.0, math.nan
    return se, float((va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1)))


def welch_ci(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Welch interval of ``mean(a) - mean(b)`` for independent samples (NaN below 2 each)."""
    x, y = np.asarray(list(a), float), np.asarray(list(b), float)
    if x.size < 2 or y.size < 2:
        return math.nan, math.nan
    d = float(x.mean() - y.mean())
    se, df = _welch(x, y)
    if se == 0.0:
        return d, d
    h = t_quantile(0.5 + LEVEL / 2.0, df) * se
    return d - h, d + h


def paired(a: Mapping[int, float], b: Mapping[int, float]) -> list[tuple[float, float]]:
    """The ``(a, b)`` value pairs of the seeds both cells finished, in seed order."""
    return [(a[s], b[s]) for s in sorted(set(a) & set(b))]


def diff_ci(a: Mapping[int, float], b: Mapping[int, float]) -> tuple[float, float, float, str]:
    """``(mean(a) - mean(b), lo, hi, how)`` of two cells' ``{seed: value}``: paired when they
    share at least two seeds and neither has others, else Welch's."""
    va, vb = list(a.values()), list(b.values())
    if not va or not vb:
        return math.nan, math.nan, math.nan, "missing"
    d = float(np.mean(va) - np.mean(vb))
    pairs = paired(a, b)
    if len(pairs) >= 2 and len(pairs) == len(va) == len(vb):
        lo, hi = mean_ci([x - y for x, y in pairs])
        return d, lo, hi, f"paired t, {len(pairs)} seeds"
    lo, hi = welch_ci(va, vb)
    return d, lo, hi, f"Welch t, {len(va)} vs {len(vb)} seeds"


@dataclass(frozen=True)
class DiffTest:
    """:func:`diff_ci`'s ``d, lo, hi, how`` with the interval's standard error and degrees of
    freedom (``lo = d - q * se``), so its p-values agree with the interval."""

    d: float
    lo: float
    hi: float
    how: str
    se: float = math.nan
    df: float = math.nan

    def _p(self, diff: float) -> float:
        """One-sided p-value of a difference ``diff`` above 0 (0 or 1 when every seed agrees)."""
        if math.isnan(self.lo):
            return math.nan
        if self.se == 0.0:
            return 0.0 if diff < 0 else 1.0
        return t_cdf(diff / self.se, self.df)

    def p_below(self, boundary: float) -> float:
        """One-sided p-value of "the true difference is below ``boundary``"."""
        return self._p(self.d - boundary)

    def p_above(self, boundary: float) -> float:
        """One-sided p-value of "the true difference is above ``boundary``"."""
        return self._p(boundary - self.d)

    def inside(self, margin: float) -> bool:
        """The whole interval lies strictly within ``(-margin, +margin)`` (TOST at 2.5 % each)."""
        return -margin < self.lo and self.hi < margin  # False for a NaN end or margin


def diff_test(a: Mapping[int, float], b: Mapping[int, float]) -> DiffTest:
    """:func:`diff_ci` with the standard error and degrees of freedom of the same interval."""
    d, lo, hi, how = diff_ci(a, b)
    if math.isnan(lo):
        return DiffTest(d, lo, hi, how)
    if how.startswith("paired"):
        diffs = np.asarray([x - y for x, y in paired(a, b)], float)
        se = float(diffs.std(ddof=1)) / math.sqrt(diffs.size)
        return DiffTest(d, lo, hi, how, se, diffs.size - 1.0)
    x, y = np.asarray(list(a.values()), float), np.asarray(list(b.values()), float)
    return DiffTest(d, lo, hi, how, *_welch(x, y))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values in the input's order (NaN stays NaN, not counted);
    valid whatever the dependence between the tests (a claim's comparisons share cells)."""
    finite = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    out = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (len(finite) - rank) * p))
        out[i] = running
    return out


# The regression check: is a fresh m-seed mean drawn from the reference's seed distribution?


def per_check_alpha(false_alarm: float, k: int) -> float:
    """Sidak's per-comparison level for a chance ``false_alarm`` of any alarm among ``k``."""
    if not 0.0 < false_alarm < 1.0 or k < 1:
        raise ValueError(f"false_alarm {false_alarm} must be in (0, 1) and k {k} >= 1")
    return 1.0 - (1.0 - false_alarm) ** (1.0 / k)


def shift_tolerance(ref_std: float, n_ref: int, m: int, alpha: float) -> float:
    """Largest ``|mean(fresh) - mean(reference)|`` passing a two-sided level-``alpha`` t-test (one
    normal distribution; only the reference's spread counts: noise cannot widen the tolerance)."""
    if n_ref < 2 or m < 1:
        return math.nan
    t = t_quantile(1.0 - alpha / 2.0, n_ref - 1)
    return t * ref_std * math.sqrt(1.0 / m + 1.0 / n_ref)


def detectable_shift(
    ref_std: float, n_ref: int, m: int, alpha: float, power: float = 0.95
) -> float:
    """Smallest true shift :func:`shift_tolerance` detects with probability ``power``."""
    from scipy import optimize, stats

    if n_ref < 2 or m < 1 or not ref_std > 0:
        return math.nan
    df = n_ref - 1
    t_crit = t_quantile(1.0 - alpha / 2.0, df)
    se = math.sqrt(1.0 / m + 1.0 / n_ref)

    def miss(nc: float) -> float:
        upper = float(stats.nct.sf(t_crit, df, nc))
        lower = float(stats.nct.cdf(-t_crit, df, nc))  # negligible; scipy gives NaN far out
        return upper + (lower if math.isfinite(lower) else 0.0) - power

    return optimize.brentq(miss, 0.0, 100.0) * ref_std * se
