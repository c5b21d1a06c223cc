"""The intervals behind every verdict keep their promise at the seed counts the profiles use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.stats import diff_ci, mean_ci, mean_std, welch_ci

pytestmark = pytest.mark.unit

SIMS = 4000
"""Simulated experiments per seed count: the Monte-Carlo standard error of a 95 % coverage is
0.34 points, so the 93-97 % band the issue asks for is about six standard errors wide."""


@pytest.mark.parametrize("n", [3, 5, 10])
def test_coverage_of_a_mean_and_of_a_difference_on_normal_data(n):
    rng = np.random.default_rng(n)
    hits = {"mean": 0, "paired": 0, "unpaired": 0}
    for _ in range(SIMS):
        a, b = rng.normal(90.0, 1.0, n), rng.normal(88.0, 2.0, n)
        lo, hi = mean_ci(a)
        hits["mean"] += lo <= 90.0 <= hi
        shared = rng.normal(0.0, 3.0, n)  # what a seed fixes for both methods (init, data order)
        _, lo, hi, how = diff_ci(dict(enumerate(a + shared)), dict(enumerate(b + shared)))
        assert how.startswith("paired")
        hits["paired"] += lo <= 2.0 <= hi
        _, lo, hi, how = diff_ci(dict(enumerate(a)), {s + 100: v for s, v in enumerate(b)})
        assert how.startswith("Welch")
        hits["unpaired"] += lo <= 2.0 <= hi
    for kind, k in hits.items():
        assert 0.93 <= k / SIMS <= 0.97, f"{kind} interval covers {k / SIMS:.3f} at {n} seeds"


def test_pairing_is_tighter_when_seeds_share_their_noise():
    rng = np.random.default_rng(0)
    shared = rng.normal(0.0, 3.0, 5)
    a = dict(enumerate(90.0 + shared + rng.normal(0, 0.2, 5)))
    b = dict(enumerate(89.0 + shared + rng.normal(0, 0.2, 5)))
    _, lo_p, hi_p, _ = diff_ci(a, b)
    lo_w, hi_w = welch_ci(list(a.values()), list(b.values()))
    assert lo_p > 0.0 and hi_p - lo_p < (hi_w - lo_w) / 5


def test_edge_cases():
    assert mean_ci([5.0]) == (5.0, 5.0)
    assert all(math.isnan(x) for x in mean_ci([]))
    lo, hi = mean_ci([97.0, 98.0, 99.0])  # t(2) = 4.30: 98 +- 4.30 * 1 / sqrt(3)
    assert (lo, hi) == pytest.approx((98 - 2.4841, 98 + 2.4841), abs=1e-3)
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0) and math.isnan(mean_std([1.0])[1])
    d, lo, hi, how = diff_ci({0: 1.0}, {})
    assert how == "missing" and math.isnan(d)
    # a seed missing on one side: the cells are not paired any more
    assert diff_ci({0: 1.0, 1: 2.0, 2: 3.0}, {0: 1.0, 1: 2.0})[3].startswith("Welch")
