"""Claims over cells and the statistics behind them: the four verdicts, Holm's correction of
reversals, equivalence margins, and that no cell is ever compared with itself."""

from __future__ import annotations

import math
import tempfile
from dataclasses import replace

import numpy as np
import pytest

from bench.analyse.claims import (
    CONTRADICTED,
    EQUIVALENT,
    INCONCLUSIVE,
    REVERSAL_ALPHA,
    SUPPORTED,
    claim_margin,
    evaluate_claim,
)
from bench.analyse.compare import FAIL, NO_REFERENCE, NOT_RUN, PASS, Reference, verdict
from bench.plan.expand import Cell, cell_id, expand
from bench.plan.schema import (
    Claim,
    SpecError,
    experiment_ids,
    experiment_path,
    load_experiment,
    load_profile,
)
from bench.stats import diff_test

pytestmark = pytest.mark.unit


def make_cell(**key) -> Cell:
    return Cell(cell_id(key), key, {}, [0, 1, 2], [])


def claim(
    kind="greater", a=None, b=None, per=("dataset",), over=(), threshold=0.0, bound=1.0, margin=None
):
    return Claim(
        id="c",
        kind=kind,
        text="t",
        source="paper",
        gate=False,
        metric="test_acc",
        a=a or {"method": "tssd"},
        b=b or ({"method": "baseline"} if kind in ("greater", "equal") else {}),
        per=tuple(per),
        over=tuple(over),
        threshold=threshold,
        bound=bound,
        margin=margin,
    )


def values(cells_and_vals, metric="test_acc"):
    """cell -> {seed: value}, seeds 0, 1, ... (every cell ran the same seeds: paired)."""
    return {c.id: {metric: dict(enumerate(v))} for c, v in cells_and_vals}


def test_greater_supported_contradicted_inconclusive():
    t1, b1 = make_cell(method="tssd", dataset="x"), make_cell(method="baseline", dataset="x")
    t2, b2 = make_cell(method="tssd", dataset="y"), make_cell(method="baseline", dataset="y")
    cells = [t1, b1, t2, b2]

    def x_wins_and_y_tssd(y_tssd: list[float]):
        """tssd wins on x by 2 points; on y it scores ``y_tssd`` against 80, 80.5, 80.2."""
        base = [(t1, [99, 99.2, 99.1]), (b1, [97, 97.2, 97.1])]
        return values([*base, (t2, y_tssd), (b2, [80, 80.5, 80.2])])

    clear_win = x_wins_and_y_tssd([90, 90.5, 90.2])
    res = evaluate_claim(claim(), cells, clear_win)
    assert res.verdict == SUPPORTED and [c.outcome for c in res.comparisons] == ["holds"] * 2
    assert res.comparisons[0].diff == pytest.approx(2.0)
    assert (res.comparisons[0].a_cell, res.comparisons[0].b_cell) == (t1.id, b1.id)
    loss = x_wins_and_y_tssd([70, 70.5, 70.2])
    res = evaluate_claim(claim(), cells, loss)
    assert res.verdict == CONTRADICTED
    assert [c.outcome for c in res.comparisons] == ["holds", "reversed"]
    assert res.comparisons[1].p_holm < REVERSAL_ALPHA and "Holm p" in res.comparisons[1].note
    noisy = values(
        [(t1, [99, 96, 98]), (b1, [97, 98, 96]), (t2, [90, 90.5, 90.2]), (b2, [80, 80.5, 80.2])]
    )
    res = evaluate_claim(claim(), cells, noisy)
    assert res.verdict == INCONCLUSIVE
    assert [c.outcome for c in res.comparisons] == ["unclear", "holds"]
    one_seed = values([(t1, [99]), (b1, [90]), (t2, [99]), (b2, [90])])
    res = evaluate_claim(claim(), cells, one_seed)
    assert res.verdict == INCONCLUSIVE and "fewer than two seeds" in res.comparisons[0].note
    missing = values([(t1, [99, 99.2]), (b1, []), (t2, [99, 99.1]), (b2, [90, 90.1])])
    res = evaluate_claim(claim(), cells, missing)
    assert res.verdict == INCONCLUSIVE and res.comparisons[0].outcome == "missing"


def test_greater_threshold_and_broadcast_partner():
    grid = [make_cell(method="tssd", dataset="x", alpha=a) for a in (0.5, 1.0)]
    base = make_cell(method="baseline", dataset="x")
    vals = values(
        [(grid[0], [98, 98.1, 98.2]), (grid[1], [98.5, 98.6, 98.7]), (base, [97, 97.1, 97.2])]
    )
    res = evaluate_claim(claim(), [*grid, base], vals)  # each grid point vs the one baseline
    assert res.verdict == SUPPORTED and len(res.comparisons) == 2
    res = evaluate_claim(claim(threshold=1.2), [*grid, base], vals)
    # +1.0 exactly on every seed: significantly below the 1.2 threshold
    assert [c.outcome for c in res.comparisons] == ["reversed", "holds"]
    assert res.verdict == CONTRADICTED


def test_greater_without_b_tests_the_metric_itself_against_zero():
    """Figure 3's teacher_above_student: a metric that is itself a difference (the network at
    T_t minus at T_s), one-sample per cell; a cell whose runs lack it is missing, not zero."""
    import dataclasses

    c = dataclasses.replace(claim(per=("dataset", "t_t")), b={}, metric="teacher_gap")
    up, flat, down, none = (make_cell(method="tssd", dataset="x", t_t=t) for t in (3, 4, 6, 8))
    vals = values(
        [(up, [0.8, 1.0, 1.2]), (flat, [-0.5, 0.4, 0.1]), (down, [-2.0, -2.2, -1.9])],
        metric="teacher_gap",
    )
    old = make_cell(method="tssd", dataset="x", t_t=10)  # finished before teacher_gap existed
    vals |= values([(old, [90.0, 91.0, 92.0])])
    res = evaluate_claim(c, [up, flat, down, none, old], vals)
    got = {r.group: r for r in res.comparisons}
    outcomes = [r.outcome for r in res.comparisons]
    assert outcomes == ["holds", "unclear", "reversed", "missing", "missing"]
    assert got["dataset=x,t_t=8"].note == "a cell has no finished run"
    assert got["dataset=x,t_t=10"].note == "a cell has runs that did not record teacher_gap"
    assert got["dataset=x,t_t=3"].diff == pytest.approx(1.0)
    assert got["dataset=x,t_t=3"].b_cell == "" and got["dataset=x,t_t=3"].b_mean == 0.0
    assert res.verdict == CONTRADICTED
    only_up = evaluate_claim(c, [up], vals)
    assert only_up.verdict == SUPPORTED


def test_variants_against_the_fixed_default_of_their_dataset_never_against_itself():
    cells = [
        make_cell(method="tssd", dataset=d, variant=v)
        for d in ("x", "y")
        for v in ("default", "other")
    ]
    vals = values(
        zip(
            cells,
            [[90, 90.1, 90.2], [91, 91.1, 91.3], [80, 80.1, 80.2], [79, 79.1, 79.1]],
            strict=True,
        )
    )
    c = claim(per=("dataset", "variant"), b={"method": "tssd", "variant": "default"})
    res = evaluate_claim(c, cells, vals)
    by_group = {r.group: r for r in res.comparisons}
    # the default cell is its own 'b' cell: skipped, not +0.00 [+0.00, +0.00]
    assert list(by_group) == ["dataset=x,variant=other", "dataset=y,variant=other"]
    assert res.skipped == ["dataset=x,variant=default", "dataset=y,variant=default"]
    assert "skipped 2 self-comparisons (dataset=x,variant=default;" in res.summary
    assert by_group["dataset=x,variant=other"].diff == pytest.approx(1.0 + 0.1 / 3)
    assert by_group["dataset=x,variant=other"].outcome == "holds"
    assert by_group["dataset=y,variant=other"].outcome == "reversed"
    assert all(r.a_cell != r.b_cell for r in res.comparisons)


def test_ambiguous_partner_is_an_error():
    cells = [
        make_cell(method="tssd", dataset="x"),
        make_cell(method="baseline", dataset="x", t_s=1),
        make_cell(method="baseline", dataset="x", t_s=2),
    ]
    with pytest.raises(SpecError, match="matches 2 'b' cells"):
        evaluate_claim(claim(), cells, {})


def _paired(diffs, base=80.0):
    """(a, b) seed values whose per-seed differences a - b are ``diffs``."""
    b = [base + 0.37 * i for i in range(len(diffs))]
    return [x + d for x, d in zip(b, diffs, strict=True)], b


# per-seed differences over 5 seeds: t = -3.65 on 4 df, one-sided p = 0.011 and a 95 % interval
# of [-0.53, -0.07] that lies below 0 (the old rule called such a claim "not supported")
BORDERLINE = [-0.55, -0.1, -0.3, -0.4, -0.15]
STRONG = [-2.0, -2.1, -1.9, -2.05, -1.95]  # p < 1e-6
NULL = [0.3, -0.4, 0.1, -0.2, 0.25]  # no difference to speak of


def _cells_and_values(diff_sets):
    """A tssd and a baseline cell per dataset ``d<i>``, paired per seed with ``diff_sets[i]``."""
    cells, vals = [], []
    for i, diffs in enumerate(diff_sets):
        a, b = (
            make_cell(method="tssd", dataset=f"d{i}"),
            make_cell(method="baseline", dataset=f"d{i}"),
        )
        va, vb = _paired(diffs)
        cells += [a, b]
        vals += [(a, va), (b, vb)]
    return cells, vals


def _claim_of(diff_sets):
    cells, vals = _cells_and_values(diff_sets)
    return evaluate_claim(claim(), cells, values(vals))


def test_a_raw_reversal_that_holm_does_not_keep_leaves_the_claim_inconclusive():
    t = diff_test(*(dict(enumerate(v)) for v in _paired(BORDERLINE)))
    p = t.p_below(0.0)
    assert t.hi < 0 and REVERSAL_ALPHA / 3 < p < REVERSAL_ALPHA < 0.05  # raw: significant
    res = _claim_of([BORDERLINE, NULL, NULL])
    borderline = res.comparisons[0]
    assert borderline.p_reversal == pytest.approx(p)
    assert borderline.p_holm == pytest.approx(3 * p)  # the smallest of 3: times 3
    assert borderline.outcome == "unclear" and res.verdict == INCONCLUSIVE
    # alone, the same comparison is a reversal: Holm over one test is the test, and it agrees
    # with the printed 95 % interval (upper end below 0)
    alone = _claim_of([BORDERLINE])
    assert alone.verdict == CONTRADICTED and alone.comparisons[0].p_holm == pytest.approx(p)


def test_a_reversal_that_survives_holm_contradicts_the_claim():
    res = _claim_of([STRONG, BORDERLINE, NULL])
    outcomes = [c.outcome for c in res.comparisons]
    assert res.verdict == CONTRADICTED
    # step-down: STRONG is rejected at 2.5 %/3; BORDERLINE is then tested at 2.5 %/2 = 1.25 %
    # and its p of 1.09 % passes too; NULL stays unclear
    assert outcomes == ["reversed", "reversed", "unclear"]
    assert res.comparisons[1].p_holm == pytest.approx(2 * res.comparisons[1].p_reversal)


def test_holm_keeps_false_contradictions_of_an_18_comparison_claim_at_its_level():
    """With no real difference anywhere, the old rule (any upper end below 0) called an
    18-comparison claim "not supported" 1 - 0.975^18 = 37 % of the time; Holm keeps a false
    "contradicted" at or below 2.5 %."""
    rng = np.random.default_rng(17)
    sims, k, n = 1000, 18, 5
    old = new = 0
    for _ in range(sims):
        res = _claim_of(list(rng.normal(0.0, 0.5, (k, n))))
        old += any(c.ci_hi < 0 for c in res.comparisons)
        new += res.verdict == CONTRADICTED
    # Monte-Carlo standard errors: 1.5 points at 37 %, 0.5 points at 2.5 %
    assert 0.32 <= old / sims <= 0.42
    assert new / sims <= 0.04


def test_equivalence_needs_every_interval_inside_the_margin():
    inside = [0.1, -0.1, 0.05, 0.0, -0.05]  # interval about [-0.10, +0.10]
    wide = [0.6, -0.5, 0.3, -0.4, 0.2]  # interval about [-0.55, +0.63]: crosses +-0.5
    cells, vals = _cells_and_values([inside, inside])
    res = evaluate_claim(claim(), cells, values(vals), margin=0.5)
    assert res.verdict == EQUIVALENT
    assert [c.outcome for c in res.comparisons] == ["within-margin"] * 2
    assert all(c.within_margin and c.margin == 0.5 for c in res.comparisons)
    assert "margin +-0.5" in res.summary
    # no margin declared anywhere: the same data cannot be equivalent
    assert evaluate_claim(claim(), cells, values(vals)).verdict == INCONCLUSIVE
    # the claim's own margin wins over the profile's; 0 turns equivalence off
    assert evaluate_claim(claim(margin=0.05), cells, values(vals), 0.5).verdict == INCONCLUSIVE
    assert evaluate_claim(claim(margin=0.0), cells, values(vals), 0.5).verdict == INCONCLUSIVE
    # one interval crossing the margin: inconclusive, not equivalent
    va, vb = _paired(wide)
    vals[2:] = [(cells[2], va), (cells[3], vb)]
    t = diff_test(dict(enumerate(va)), dict(enumerate(vb)))
    assert t.lo < 0 < t.hi and (t.lo < -0.5 or t.hi > 0.5)
    res = evaluate_claim(claim(), cells, values(vals), margin=0.5)
    assert res.verdict == INCONCLUSIVE
    assert [c.outcome for c in res.comparisons] == ["within-margin", "unclear"]


def test_supported_wins_over_equivalent():
    small_win = [0.2, 0.25, 0.15, 0.2, 0.22]  # above 0 and inside +-0.5
    a, b = make_cell(method="tssd", dataset="x"), make_cell(method="baseline", dataset="x")
    va, vb = _paired(small_win)
    res = evaluate_claim(claim(), [a, b], values([(a, va), (b, vb)]), margin=0.5)
    assert res.verdict == SUPPORTED and res.comparisons[0].within_margin


def test_monotonic():
    cells = [make_cell(method="tssd", dataset="x", t_t=t) for t in (3, 4, 6)]
    rising = values(zip(cells, [[95, 95.1, 95.2], [96, 96.1, 96.2], [97, 97.1, 97.2]], strict=True))
    c = claim("monotonic", over=("t_t",))
    assert evaluate_claim(c, cells, rising).verdict == SUPPORTED
    dip = values(zip(cells, [[95, 95.1, 95.2], [93, 93.1, 93.2], [97, 97.1, 97.2]], strict=True))
    res = evaluate_claim(c, cells, dip)
    assert res.verdict == CONTRADICTED and "t_t 3->4" in res.comparisons[0].note
    flat = values(zip(cells, [[95, 96, 94], [95, 94, 96], [96, 94, 95]], strict=True))
    assert evaluate_claim(c, cells, flat, margin=0.5).verdict == INCONCLUSIVE
    level = values(
        zip(cells, [[95, 95.1, 95.2], [95.05, 95.1, 95.2], [95, 95.15, 95.2]], strict=True)
    )
    res = evaluate_claim(c, cells, level, margin=0.5)
    assert res.verdict == EQUIVALENT and res.comparisons[0].outcome == "within-margin"
    assert (res.comparisons[0].a_cell, res.comparisons[0].b_cell) == (cells[2].id, cells[0].id)


def test_the_profile_margin_is_in_accuracy_points_and_applies_only_to_them():
    """A firing rate or a time within +-0.5 "points" is no evidence of no effect: a claim on a
    metric not in accuracy points gets an equivalence verdict only from its own margin."""
    cells = [make_cell(method=m, dataset="x") for m in ("baseline", "tssd")]
    rates = [[0.20, 0.21, 0.22], [0.201, 0.208, 0.2215]]  # differences +-0.002: tiny, unclear
    for metric, margin in [("test_acc", 0.5), ("teacher_gap", 0.5), ("test_acc_T4", 0.5)]:
        assert claim_margin(replace(claim(), metric=metric), 0.5) == margin
    for metric in ("mean_firing_rate", "train_total_s", "nb_effective_synops"):
        c = replace(claim(), metric=metric)
        near = values(zip(cells, rates, strict=True), metric=metric)
        assert math.isnan(claim_margin(c, 0.5))
        assert evaluate_claim(c, cells, near, margin=0.5).verdict == INCONCLUSIVE
        own = replace(c, margin=0.05)
        assert claim_margin(own, 0.5) == 0.05
        assert evaluate_claim(own, cells, near, margin=0.5).verdict == EQUIVALENT


def test_spread_is_an_equivalence_claim_with_its_bound_as_margin():
    cells = [make_cell(method="tssd", dataset="x", alpha=a) for a in (0.5, 1.0, 2.0)]
    c = claim("spread", over=("alpha",), bound=1.0)
    assert claim_margin(c, 0.5) == 1.0  # the bound, not the profile's margin
    tight = values(
        zip(cells, [[97, 97.1, 97.2], [97.3, 97.4, 97.5], [96.9, 97, 97.1]], strict=True)
    )
    res = evaluate_claim(c, cells, tight, margin=0.5)
    assert res.verdict == EQUIVALENT and res.comparisons[0].diff == pytest.approx(0.4)
    assert res.summary.startswith("1/1 within margin")
    wide = values(zip(cells, [[97, 97.1, 97.2], [93, 93.1, 93.2], [97, 97.1, 97.2]], strict=True))
    res = evaluate_claim(c, cells, wide)
    assert res.verdict == CONTRADICTED and res.comparisons[0].outcome == "reversed"
    noisy = values(zip(cells, [[97, 99, 95], [94, 98, 96], [97, 97, 97]], strict=True))
    assert evaluate_claim(c, cells, noisy).verdict == INCONCLUSIVE
    # never "supported", whatever the data
    for data in (tight, wide, noisy):
        assert evaluate_claim(c, cells, data).verdict != SUPPORTED


def test_equal():
    t, b = make_cell(method="tssd", dataset="x"), make_cell(method="baseline", dataset="x")
    c = Claim(
        "c",
        "equal",
        "t",
        "paper",
        True,
        "params",
        {"method": "tssd"},
        {"method": "baseline"},
        ("dataset",),
        (),
        0.0,
        0.0,
    )
    same = values([(t, [100.0] * 3), (b, [100.0] * 3)], "params")
    assert evaluate_claim(c, [t, b], same, margin=0.5).verdict == SUPPORTED
    other = values([(t, [101.0] * 3), (b, [100.0] * 3)], "params")
    res = evaluate_claim(c, [t, b], other, margin=0.5)
    assert res.verdict == CONTRADICTED and res.comparisons[0].outcome == "differs"
    assert math.isnan(res.margin)


def _fake_values(cells, metrics):
    rng = np.random.default_rng(0)
    return {
        c.id: {m: {s: float(rng.normal(80, 1)) for s in c.seeds} for m in metrics} for c in cells
    }


def test_the_reconstruction_study_never_compares_a_cell_with_itself():
    """Its per-variant claim compares every TSSD reading with one reading of the same grid (the
    default, or the literal one): that reading's own cell must be skipped, never shown as
    +0.00 [+0.00, +0.00] (which can never hold, so the claim could never be supported)."""
    exp = load_experiment(experiment_path("reconstruction"))
    plan = expand(exp, load_profile("small"), runs_dir=tempfile.mkdtemp())
    vals = _fake_values(plan.cells, {c.metric for c in exp.claims})
    self_pairs = 0
    for c in exp.claims:
        r = evaluate_claim(c, plan.cells, vals, margin=0.5)
        # the a cells that the b filter picks too are exactly the ones that would meet themselves
        both = [x for x in plan.cells if x.matches(c.a) and c.b and x.matches(c.b)]
        assert len(r.skipped) == len(both), c.id
        self_pairs += len(both)
        compared = [x.a_cell for x in r.comparisons]
        assert not {x.id for x in both} & set(compared), c.id
        assert len(r.comparisons) == len([x for x in plan.cells if x.matches(c.a)]) - len(both)
        if both:
            assert f"skipped {len(both)} self-comparison" in r.summary
        for comp in r.comparisons:
            assert comp.a_cell and comp.b_cell and comp.a_cell != comp.b_cell, (c.id, comp)
    assert self_pairs >= 2  # one reference reading per dataset: the test is not vacuous


@pytest.mark.parametrize("profile", ["quick", "small", "paper"])
def test_no_shipped_claim_compares_a_cell_with_itself(profile):
    prof = load_profile(profile)
    for eid in experiment_ids():
        exp = load_experiment(experiment_path(eid))
        plan = expand(exp, prof, runs_dir=tempfile.mkdtemp())
        vals = _fake_values(plan.cells, {c.metric for c in exp.claims})
        for c in exp.claims:
            r = evaluate_claim(c, plan.cells, vals, margin=prof.equivalence_margin)
            assert r.comparisons or r.skipped, (eid, c.id)
            for comp in r.comparisons:
                if comp.outcome != "missing":
                    assert comp.a_cell != comp.b_cell, (profile, eid, c.id, comp.group)


def test_margins_are_declared_and_checked(tmp_path):
    for p in ("quick", "small", "paper"):
        assert load_profile(p).equivalence_margin == 0.5
    src = experiment_path("figure4").read_text()
    bad = tmp_path / "figure4.yaml"
    bad.write_text(src.replace("    bound: 1.0\n", "    bound: 1.0\n    margin: 0.5\n", 1))
    with pytest.raises(SpecError, match=r"claims\[0\]\.margin.*its bound is its margin"):
        load_experiment(bad)


def test_cell_verdicts():
    quick = load_profile("quick")
    seeds = (96.8, 97.2) * 5  # ten seeds, mean 97.0, std 0.21
    ref = Reference(97.0, "reference", seeds)
    v, delta, tol, _ = verdict("ok", 97.5, 3, "test_acc", ref, quick, "digits", k=8)
    assert v == PASS and delta == pytest.approx(0.5) and tol == quick.tolerance.of(seeds, 3, 8)[0]
    v, delta, tol, why = verdict("ok", 95.0, 3, "test_acc", ref, quick, "digits", k=8)
    assert (v, delta) == (FAIL, -2.0) and 0.5 < tol < 2.0 and "t-test" in why
    assert verdict("ok", 95.0, 3, "test_acc", None, quick, "digits")[0] == NO_REFERENCE
    assert verdict("ok", 95.0, 3, "wall_s", ref, quick, "digits")[0] == NO_REFERENCE
    assert verdict("failed", math.nan, 0, "test_acc", ref, quick, "digits")[0] == FAIL
    assert verdict("not-run", math.nan, 0, "test_acc", ref, quick, "digits")[0] == NOT_RUN
