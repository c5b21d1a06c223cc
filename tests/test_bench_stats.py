"""The intervals behind every verdict keep their promise at the seed counts the profiles use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.stats import diff_ci, diff_test, holm, mean_ci, mean_std, t_cdf, welch_ci

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


def test_holm_adjusts_step_down_in_the_input_order():
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 -> 0.06 (monotone)
    adjusted = holm([0.01, 0.04, 0.03, math.nan, 0.005])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(adjusted[3]) and adjusted[4] == pytest.approx(0.02)
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_the_p_value_agrees_with_the_interval_it_comes_from():
    assert t_cdf(-4.302653, 2) == pytest.approx(0.025, abs=1e-6)
    rng = np.random.default_rng(3)
    for n in (3, 5, 8):
        for paired_seeds in (True, False):
            a = dict(enumerate(rng.normal(0.3, 1.0, n)))
            b = {(s if paired_seeds else s + 50): v for s, v in enumerate(rng.normal(0, 1, n))}
            t = diff_test(a, b)
            assert (t.d, t.lo, t.hi, t.how) == diff_ci(a, b)
            # the interval's ends are exactly where the one-sided p-values cross 2.5 %
            # (a difference below hi is rejected at exactly 2.5 %: "hi < 0" is "p_below(0) < 2.5 %")
            assert t.p_below(t.hi) == pytest.approx(0.025)
            assert t.p_above(t.lo) == pytest.approx(0.025)
            assert t.p_below(t.lo) == pytest.approx(0.975)
            assert (t.p_below(0.0) < 0.025) == (t.hi < 0.0)
            assert t.p_below(0.0) + t.p_above(0.0) == pytest.approx(1.0)


@pytest.mark.parametrize("n", [3, 5])
def test_one_sided_p_values_are_uniform_under_the_null(n):
    """A reversal test at 2.5 % rejects a true null 2.5 % of the time, paired or Welch."""
    rng = np.random.default_rng(100 + n)
    hits = {"paired": 0, "Welch": 0}
    sims = 4000
    for _ in range(sims):
        shared = rng.normal(0.0, 3.0, n)
        a, b = rng.normal(0.0, 1.0, n), rng.normal(0.0, 2.0, n)
        hits["paired"] += (
            diff_test(dict(enumerate(a + shared)), dict(enumerate(b + shared))).p_below(0) < 0.025
        )
        hits["Welch"] += (
            diff_test(dict(enumerate(a)), {s + 9: v for s, v in enumerate(b)}).p_below(0) < 0.025
        )
    for kind, k in hits.items():
        # Monte-Carlo standard error 0.25 points: 1.5-3.5 % is four of them either side
        assert 0.015 <= k / sims <= 0.035, f"{kind} rejects {k / sims:.3f} at {n} seeds"


def test_inside_a_margin_and_identical_seeds():
    same = diff_test({0: 1.0, 1: 2.0, 2: 3.0}, {0: 1.0, 1: 2.0, 2: 3.0})
    assert (same.lo, same.hi, same.se) == (0.0, 0.0, 0.0)
    assert same.p_below(0.0) == 1.0 and same.p_below(0.1) == 0.0 and same.inside(0.5)
    assert not same.inside(0.0)  # strictly inside: a zero margin admits nothing
    t = diff_test({0: 1.0, 1: 2.0, 2: 3.5}, {0: 1.2, 1: 2.1, 2: 3.0})
    assert t.inside(max(-t.lo, t.hi) + 1e-9) and not t.inside(max(-t.lo, t.hi))
    one = diff_test({0: 1.0}, {0: 2.0})
    assert math.isnan(one.p_below(0.0)) and not one.inside(10.0)
