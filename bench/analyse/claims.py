"""The paper's claims as checks over cells: supported | contradicted | equivalent | inconclusive.

A claim compares cells chosen by ``a`` (and ``b``) filters on one metric. Every decision comes
from 95 % Student-t intervals over seeds (:func:`bench.stats.diff_test`: paired by seed when both
cells ran the same seeds, Welch's otherwise), so a difference smaller than the seed-to-seed noise
is never a win, a loss or "no effect"; a side with fewer than two seeds decides nothing.

Each comparison has one outcome:

* ``holds``: what the claim says, significantly (``greater``: the interval of ``a - b`` lies above
  ``threshold``; ``monotonic``: last above first; ``equal``: every seed identical);
* ``reversed``: the opposite, significantly, after Holm's correction over the claim's comparisons
  (below);
* ``differs``: an ``equal`` claim's exact values differ (exact quantities need no test);
* ``within-margin``: neither, but the whole interval lies inside +-margin (a ``spread`` claim:
  every pair of its cells; a ``monotonic`` one: every pair along the axis);
* ``unclear``: none of these (the data cannot decide; also a side with fewer than two seeds);
* ``missing``: a cell has no finished run.

The claim's verdict, in this order:

* **contradicted** when a comparison is ``reversed`` (or ``differs``). Each comparison's one-sided
  p-value for the reversal (of ``a - b`` below ``threshold``; of a step down for ``monotonic``; of
  a pair further apart than ``bound`` for ``spread``) is adjusted by Holm's step-down over every
  such test of the claim, and a reversal counts when its adjusted p is below
  :data:`REVERSAL_ALPHA` (2.5 %, one-sided: the two-sided 5 % of the printed 95 % intervals, so a
  claim with one comparison is contradicted exactly when that interval lies below the
  threshold). Chance of a false "contradicted" per claim: at most 2.5 %. Without the correction a
  claim of 18 comparisons with no real difference would be "contradicted" 1 - 0.975^18 = 37 % of
  the time.
* **supported** when every comparison ``holds`` (``spread`` claims: never; see below). An
  intersection of one-sided 2.5 % tests: a claim with one false part is supported with
  probability at most 2.5 %, with no correction needed.
* **equivalent** when a margin applies and every comparison's interval lies inside +-margin
  (whatever its outcome; ``greater``: around 0, not the threshold). Two one-sided tests at 2.5 %
  per comparison, intersected: a claim with one difference at or beyond the margin is equivalent
  with probability at most 2.5 %. The margin is the claim's ``margin``, else the profile's
  ``equivalence_margin``; a ``spread`` claim's margin is its ``bound``; ``equal`` claims have none.
  Only this verdict may be written as "no effect" or "insensitive" (:mod:`bench.present.report`).
* **inconclusive** otherwise (also when there is nothing to compare).

Kinds:

* ``greater``: each ``a`` cell against the ``b`` cell with the same values of the ``per`` axes
  (those the ``b`` filter does not fix: ``per: [dataset, variant]`` with ``b: {variant: default}``
  compares every variant with the default of its dataset). A cell is never compared with
  itself: when the ``b`` cell of an ``a`` cell is that cell (``variant_beats_literal``'s literal
  variant), the pair is skipped and the claim's note says so.
* ``monotonic``: ``a`` cells ordered by the ``over`` axis within each ``per`` group; the reversal
  tests are the steps (each a test of a drop), the comparison shown is last minus first, which
  ``holds`` when above 0 with no step reversed ("accuracy rises with T_t").
* ``spread``: within each ``per`` group, ``max - min`` of the cell means over the ``over`` axes,
  shown as the difference of the two extreme cells. A claim that accuracy "varies by at most
  ``bound``" is an equivalence claim, so its verdicts are **equivalent** (every pair of cells has
  its interval inside +-bound: all the spread there is, is within the bound), **contradicted**
  (some pair is further apart than ``bound``, Holm over every pair of the claim: picking the
  extreme pair after seeing the means would otherwise be a test at far more than 2.5 %) or
  **inconclusive**; never "supported".
* ``equal``: each ``a`` cell against its ``b`` cell; holds when every seed's value is identical
  (deterministic quantities such as parameter and MAC counts), else ``differs``: contradicted.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.plan.expand import Cell, fmt_value
from bench.plan.schema import Claim, SpecError
from bench.stats import LEVEL, DiffTest, diff_test, holm, mean_std

SUPPORTED, CONTRADICTED, EQUIVALENT, INCONCLUSIVE = (
    "supported",
    "contradicted",
    "equivalent",
    "inconclusive",
)
VERDICTS = (SUPPORTED, CONTRADICTED, EQUIVALENT, INCONCLUSIVE)
HOLDS, REVERSED, DIFFERS, WITHIN_MARGIN, UNCLEAR, MISSING = (
    "holds",
    "reversed",
    "differs",
    "within-margin",
    "unclear",
    "missing",
)
OUTCOMES = (HOLDS, REVERSED, DIFFERS, WITHIN_MARGIN, UNCLEAR, MISSING)

ONE_SIDED = (1.0 - LEVEL) / 2.0
"""2.5 %: the one-sided level of each end of a 95 % interval."""
SUPPORT_ALPHA = ONE_SIDED
"""Chance that a claim with a false part is ``supported`` (each comparison one-sided 2.5 %)."""
REVERSAL_ALPHA = ONE_SIDED
"""Holm's family-wise level for a claim's reversals: the chance of a false ``contradicted``."""
EQUIVALENCE_ALPHA = ONE_SIDED
"""Chance that a claim with a difference at or beyond its margin is ``equivalent`` (TOST)."""


@dataclass
class Comparison:
    """One comparison inside a claim (one row of the claims CSV)."""

    group: str
    outcome: str
    a_mean: float = math.nan
    b_mean: float = math.nan
    diff: float = math.nan
    ci_lo: float = math.nan
    ci_hi: float = math.nan
    note: str = ""
    p_reversal: float = math.nan
    """Smallest raw one-sided p-value of this comparison's reversal tests."""
    p_holm: float = math.nan
    """The same after Holm's adjustment over the claim; ``reversed`` when below 2.5 %."""
    margin: float = math.nan
    """The equivalence margin that applied (NaN: none)."""
    within_margin: bool = False
    """Every interval behind this comparison lies inside +-margin."""
    a_cell: str = ""
    b_cell: str = ""


@dataclass
class ClaimResult:
    """The verdict of one claim and the comparisons behind it."""

    claim: Claim
    verdict: str
    comparisons: list[Comparison] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Groups whose ``a`` cell is its own ``b`` cell: never compared."""
    margin: float = math.nan
    summary: str = ""
    """``2/3 hold, 1 unclear`` style one-liner (``within-margin`` for ``spread`` claims), made
    from the comparisons unless given (a claims CSV's ``all`` row)."""

    def __post_init__(self) -> None:
        if self.summary:
            return
        counts = Counter(c.outcome for c in self.comparisons)
        n = len(self.comparisons)
        if not n:
            out = "no cells to compare"
        else:
            head = WITHIN_MARGIN if self.claim.kind == "spread" else HOLDS
            word = "within margin" if head == WITHIN_MARGIN else "hold"
            parts = [f"{counts.get(head, 0)}/{n} {word}"]
            parts += [f"{counts[k]} {k}" for k in OUTCOMES if k != head and counts.get(k)]
            out = ", ".join(parts)
        if not math.isnan(self.margin) and self.claim.kind != "equal":
            out += f"; margin +-{self.margin:g}"
        if self.skipped:
            out += (
                f"; skipped {len(self.skipped)} self-comparison"
                f"{'s' if len(self.skipped) > 1 else ''} ({'; '.join(self.skipped)})"
            )
        self.summary = out


Values = dict[str, dict[str, dict[int, float]]]
"""cell id -> metric -> {seed: value} of every finished seed."""

Get = Callable[[Cell], dict[int, float]]


@dataclass
class _Tests:
    """The reversal tests behind one comparison: ``(what, raw one-sided p)``."""

    tests: list[tuple[str, float]] = field(default_factory=list)


def claim_margin(claim: Claim, profile_margin: float | None) -> float:
    """The equivalence margin of ``claim`` (NaN: none; see the module docstring)."""
    if claim.kind == "equal":
        return math.nan
    if claim.kind == "spread":
        return claim.bound
    m = claim.margin if claim.margin is not None else profile_margin
    return math.nan if m is None or m == 0.0 else float(m)


def _label(cell: Cell, keys: tuple[str, ...] | list[str]) -> str:
    keys = [k for k in keys if k in cell.key] or list(cell.key)
    return ",".join(f"{k}={fmt_value(cell.key[k])}" for k in keys)


def _partner(claim: Claim, a: Cell, bs: list[Cell]) -> Cell | None:
    # a 'per' axis that the b filter fixes (e.g. b = the default variant) names the comparison
    # but does not pick the partner: every variant is compared with the one default cell
    keys = [k for k in claim.per if k not in (claim.b or {})]
    found = [b for b in bs if all(b.key.get(k) == a.key.get(k) for k in keys if k in b.key)]
    if len(found) > 1:
        raise SpecError(
            f"claim {claim.id!r}: cell {a.id} matches {len(found)} 'b' cells "
            f"({', '.join(b.id for b in found)}); add the distinguishing axes to "
            "'per'"
        )
    return found[0] if found else None


def _greater(
    claim: Claim, group: str, a: Cell, b: Cell, get: Get, margin: float
) -> tuple[Comparison, _Tests]:
    va, vb = get(a), get(b)
    am, _ = mean_std(va.values())
    bm, _ = mean_std(vb.values())
    base = dict(margin=margin, a_cell=a.id, b_cell=b.id)
    if not va or not vb:
        return Comparison(
            group, MISSING, am, bm, note="a cell has no finished run", **base
        ), _Tests()
    t = diff_test(va, vb)
    c = Comparison(group, UNCLEAR, am, bm, t.d, t.lo, t.hi, note=t.how, **base)
    if len(va) < 2 or len(vb) < 2:
        c.note = "fewer than two seeds"
        return c, _Tests()
    c.within_margin = t.inside(margin)
    if t.lo > claim.threshold:
        c.outcome = HOLDS
    elif c.within_margin:
        c.outcome = WITHIN_MARGIN
    return c, _Tests([(f"below {claim.threshold:g}", t.p_below(claim.threshold))])


def _equal(group: str, a: Cell, b: Cell, get: Get) -> Comparison:
    va, vb = list(get(a).values()), list(get(b).values())
    if not va or not vb:
        return Comparison(
            group, MISSING, note="a cell has no finished run", a_cell=a.id, b_cell=b.id
        )
    same = len(set(va) | set(vb)) == 1
    return Comparison(
        group,
        HOLDS if same else DIFFERS,
        va[0],
        vb[0],
        va[0] - vb[0],
        note="" if same else f"a={sorted(set(va))}, b={sorted(set(vb))}",
        a_cell=a.id,
        b_cell=b.id,
    )


def _pairs_inside(series: list[dict[int, float]], margin: float) -> bool:
    """True when every pair of cells has its difference's interval inside +-margin."""
    return not math.isnan(margin) and all(
        diff_test(x, y).inside(margin) for x, y in itertools.combinations(series, 2)
    )


def evaluate_claim(
    claim: Claim, cells: list[Cell], values: Values, margin: float | None = None
) -> ClaimResult:
    """Evaluate ``claim`` on the cells of one experiment (see the module docstring).

    ``margin`` is the profile's ``equivalence_margin`` (a claim's own ``margin`` wins); without
    either no claim can be ``equivalent``.
    """
    m = claim_margin(claim, margin)
    a_cells = [c for c in cells if c.matches(claim.a)]
    b_cells = [c for c in cells if c.matches(claim.b)] if claim.b else []
    get: Get = lambda c: values.get(c.id, {}).get(claim.metric, {})  # noqa: E731
    comps: list[tuple[Comparison, _Tests]] = []
    skipped: list[str] = []
    if claim.kind in ("greater", "equal"):
        for a in a_cells:
            b = _partner(claim, a, b_cells)
            group = _label(a, claim.per or list(a.key))
            if b is None:
                comps.append(
                    (Comparison(group, MISSING, note="no 'b' cell to compare with"), _Tests())
                )
            elif b.id == a.id:  # a cell against itself: +0.00 [+0.00, +0.00], never evidence
                skipped.append(group)
            elif claim.kind == "greater":
                comps.append(_greater(claim, group, a, b, get, m))
            else:
                comps.append((_equal(group, a, b, get), _Tests()))
    else:
        groups: dict[str, list[Cell]] = {}
        for c in a_cells:
            groups.setdefault(_label(c, claim.per) if claim.per else "all", []).append(c)
        for group, members in groups.items():
            if claim.kind == "monotonic":
                comps.append(_monotonic(claim, group, members, get, m))
            else:
                comps.append(_spread(claim, group, members, get))
    _holm(comps)
    out = [c for c, _ in comps]
    outcomes = {c.outcome for c in out}
    if outcomes & {REVERSED, DIFFERS}:
        verdict = CONTRADICTED
    elif out and outcomes == {HOLDS} and claim.kind != "spread":
        verdict = SUPPORTED
    elif out and not math.isnan(m) and all(c.within_margin for c in out):
        verdict = EQUIVALENT
    else:
        verdict = INCONCLUSIVE
    return ClaimResult(claim, verdict, out, skipped, m)


def _holm(comps: list[tuple[Comparison, _Tests]]) -> None:
    """Adjust every reversal test of the claim together; mark the comparisons that survive."""
    flat = [(i, what, p) for i, (_, t) in enumerate(comps) for what, p in t.tests]
    adjusted = holm([p for _, _, p in flat])
    for i, (c, _) in enumerate(comps):
        mine = [(what, p, q) for (j, what, p), q in zip(flat, adjusted, strict=True) if j == i]
        finite = [x for x in mine if not math.isnan(x[1])]
        if not finite:
            continue
        c.p_reversal = min(p for _, p, _ in finite)
        c.p_holm = min(q for _, _, q in finite)
        survived = [what for what, _, q in finite if q < REVERSAL_ALPHA]
        if survived and c.outcome != MISSING:
            c.outcome = REVERSED
            c.note = (
                f"reversed: {'; '.join(survived)} (Holm p {c.p_holm:.3g} over "
                f"{len([x for x in adjusted if not math.isnan(x)])} tests); {c.note}"
            ).rstrip("; ")


def _series(members: list[Cell], get: Get) -> tuple[list[dict[int, float]], str]:
    series = [get(c) for c in members]
    if len(members) < 2:
        return series, "fewer than two cells"
    if any(not s for s in series):
        missing = next(c.id for c, s in zip(members, series, strict=True) if not s)
        return series, f"cell {missing} has no finished run"
    return series, ""


def _monotonic(
    claim: Claim, group: str, members: list[Cell], get: Get, margin: float
) -> tuple[Comparison, _Tests]:
    axis = claim.over[0]
    members = sorted(members, key=lambda c: float(c.key[axis]))
    series, why = _series(members, get)
    if why:
        return Comparison(group, MISSING, note=why.replace("cells", f"values of {axis}")), _Tests()
    first, last = mean_std(series[0].values())[0], mean_std(series[-1].values())[0]
    ends = dict(margin=margin, a_cell=members[-1].id, b_cell=members[0].id)
    if any(len(s) < 2 for s in series):
        return Comparison(
            group, UNCLEAR, last, first, note="fewer than two seeds", **ends
        ), _Tests()
    steps = []
    pairs = list(zip(members, series, strict=True))
    for (c0, s0), (c1, s1) in itertools.pairwise(pairs):
        what = f"{axis} {fmt_value(c0.key[axis])}->{fmt_value(c1.key[axis])}"
        steps.append((f"drop at {what}", diff_test(s1, s0).p_below(0.0)))
    t: DiffTest = diff_test(series[-1], series[0])
    c = Comparison(group, UNCLEAR, last, first, t.d, t.lo, t.hi, note=t.how, **ends)
    c.within_margin = _pairs_inside(series, margin)
    if t.lo > 0:
        c.outcome = HOLDS
    elif c.within_margin:
        c.outcome, c.note = WITHIN_MARGIN, f"every pair of {axis} values within margin; {t.how}"
    else:
        c.note = f"no significant rise from first to last; {t.how}"
    return c, _Tests(steps)


def _spread(claim: Claim, group: str, members: list[Cell], get: Get) -> tuple[Comparison, _Tests]:
    series, why = _series(members, get)
    if why:
        return Comparison(group, MISSING, note=why), _Tests()
    stats = [(mean_std(s.values())[0], c, s) for c, s in zip(members, series, strict=True)]
    hi_cell = max(stats, key=lambda t: t[0])
    lo_cell = min(stats, key=lambda t: t[0])
    spread = hi_cell[0] - lo_cell[0]
    ends = dict(margin=claim.bound, a_cell=hi_cell[1].id, b_cell=lo_cell[1].id)
    if any(len(s) < 2 for s in series):
        c = Comparison(
            group, UNCLEAR, hi_cell[0], lo_cell[0], spread, note="fewer than two seeds", **ends
        )
        return c, _Tests()
    t = diff_test(hi_cell[2], lo_cell[2])
    note = f"max at {hi_cell[1].id}; min at {lo_cell[1].id}; bound {claim.bound:g}; {t.how}"
    c = Comparison(group, UNCLEAR, hi_cell[0], lo_cell[0], spread, t.lo, t.hi, note=note, **ends)
    # every pair is a test of "further apart than the bound", on either side: twice the smaller
    # one-sided p-value (Bonferroni over the two sides, exact whatever the bound and the noise)
    tests = []
    for (_, c0, s0), (_, c1, s1) in itertools.combinations(stats, 2):
        d = diff_test(s0, s1)
        p = min(1.0, 2.0 * min(d.p_above(claim.bound), d.p_below(-claim.bound)))
        tests.append((f"{c0.id} vs {c1.id} beyond +-{claim.bound:g}", p))
    c.within_margin = _pairs_inside(series, claim.bound)
    if c.within_margin:
        c.outcome = WITHIN_MARGIN
    return c, _Tests(tests)
