"""Claims over cells and the statistics behind them."""

from __future__ import annotations

import math

import pytest

from bench.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, evaluate_claim
from bench.compare import FAIL, NO_REFERENCE, NOT_RUN, PASS, Reference, verdict
from bench.expand import Cell, cell_id
from bench.schema import Claim, SpecError, load_profile

pytestmark = pytest.mark.unit


def make_cell(**key) -> Cell:
    return Cell(cell_id(key), key, {}, [0, 1, 2], [])


def claim(kind="greater", a=None, b=None, per=("dataset",), over=(), threshold=0.0, bound=1.0):
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
    )


def values(cells_and_vals, metric="test_acc"):
    """cell -> {seed: value}, seeds 0, 1, ... (every cell ran the same seeds: paired)."""
    return {c.id: {metric: dict(enumerate(v))} for c, v in cells_and_vals}


def test_greater_supported_not_supported_inconclusive():
    t1, b1 = make_cell(method="tssd", dataset="x"), make_cell(method="baseline", dataset="x")
    t2, b2 = make_cell(method="tssd", dataset="y"), make_cell(method="baseline", dataset="y")
    cells = [t1, b1, t2, b2]
    clear_win = values(
        [
            (t1, [99, 99.2, 99.1]),
            (b1, [97, 97.2, 97.1]),
            (t2, [90, 90.5, 90.2]),
            (b2, [80, 80.5, 80.2]),
        ]
    )
    res = evaluate_claim(claim(), cells, clear_win)
    assert res.verdict == SUPPORTED and [c.outcome for c in res.comparisons] == ["holds"] * 2
    assert res.comparisons[0].diff == pytest.approx(2.0)
    loss = values(
        [
            (t1, [99, 99.2, 99.1]),
            (b1, [97, 97.2, 97.1]),
            (t2, [70, 70.5, 70.2]),
            (b2, [80, 80.5, 80.2]),
        ]
    )
    assert evaluate_claim(claim(), cells, loss).verdict == NOT_SUPPORTED
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
    assert [c.outcome for c in res.comparisons] == ["fails", "holds"]


def test_variants_against_the_fixed_default_of_their_dataset():
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
    assert list(by_group) == [
        "dataset=x,variant=default",
        "dataset=x,variant=other",
        "dataset=y,variant=default",
        "dataset=y,variant=other",
    ]
    assert by_group["dataset=x,variant=other"].diff == pytest.approx(1.0 + 0.1 / 3)
    assert by_group["dataset=x,variant=other"].outcome == "holds"
    assert by_group["dataset=y,variant=other"].outcome == "fails"
    assert by_group["dataset=y,variant=default"].diff == 0.0


def test_ambiguous_partner_is_an_error():
    cells = [
        make_cell(method="tssd", dataset="x"),
        make_cell(method="baseline", dataset="x", t_s=1),
        make_cell(method="baseline", dataset="x", t_s=2),
    ]
    with pytest.raises(SpecError, match="matches 2 'b' cells"):
        evaluate_claim(claim(), cells, {})


def test_monotonic():
    cells = [make_cell(method="tssd", dataset="x", t_t=t) for t in (3, 4, 6)]
    rising = values(zip(cells, [[95, 95.1, 95.2], [96, 96.1, 96.2], [97, 97.1, 97.2]], strict=True))
    c = claim("monotonic", over=("t_t",))
    assert evaluate_claim(c, cells, rising).verdict == SUPPORTED
    dip = values(zip(cells, [[95, 95.1, 95.2], [93, 93.1, 93.2], [97, 97.1, 97.2]], strict=True))
    res = evaluate_claim(c, cells, dip)
    assert res.verdict == NOT_SUPPORTED and "t_t 3->4" in res.comparisons[0].note
    flat = values(zip(cells, [[95, 96, 94], [95, 94, 96], [96, 94, 95]], strict=True))
    assert evaluate_claim(c, cells, flat).verdict == INCONCLUSIVE


def test_spread():
    cells = [make_cell(method="tssd", dataset="x", alpha=a) for a in (0.5, 1.0, 2.0)]
    c = claim("spread", over=("alpha",), bound=1.0)
    tight = values(
        zip(cells, [[97, 97.1, 97.2], [97.3, 97.4, 97.5], [96.9, 97, 97.1]], strict=True)
    )
    res = evaluate_claim(c, cells, tight)
    assert res.verdict == SUPPORTED and res.comparisons[0].diff == pytest.approx(0.4)
    wide = values(zip(cells, [[97, 97.1, 97.2], [93, 93.1, 93.2], [97, 97.1, 97.2]], strict=True))
    assert evaluate_claim(c, cells, wide).verdict == NOT_SUPPORTED
    noisy = values(zip(cells, [[97, 99, 95], [94, 98, 96], [97, 97, 97]], strict=True))
    assert evaluate_claim(c, cells, noisy).verdict == INCONCLUSIVE


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
    assert evaluate_claim(c, [t, b], same).verdict == SUPPORTED
    other = values([(t, [101.0] * 3), (b, [100.0] * 3)], "params")
    assert evaluate_claim(c, [t, b], other).verdict == NOT_SUPPORTED


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
