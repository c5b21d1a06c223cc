"""The paper's claims as checks over cells (rules and error rates: bench/README.md, "Verdicts").
Kinds: ``greater`` (``a`` against its ``b`` cell, or 0), ``monotonic`` (steps along ``over`` tested
for a drop), ``spread`` (every pair within ``bound``) and ``equal`` (identical seeds)."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter

from bench.analyse.units import unit_of
from bench.plan.expand import Cell, fmt_value
from bench.plan.schema import Claim, SpecError
from bench.stats import LEVEL, diff_test, holm, mean_std

VERDICTS = ("supported", "contradicted", "equivalent", "inconclusive")
SUPPORTED, CONTRADICTED, EQUIVALENT, INCONCLUSIVE = VERDICTS
OUTCOMES = ("holds", "reversed", "differs", "within-margin", "unclear", "missing")
HOLDS, REVERSED, DIFFERS, WITHIN_MARGIN, UNCLEAR, MISSING = OUTCOMES

SUPPORT_ALPHA = REVERSAL_ALPHA = EQUIVALENCE_ALPHA = (1.0 - LEVEL) / 2.0
"""2.5 %: the chance of a false supported, contradicted (Holm) or equivalent (TOST) verdict."""


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
    p_reversal: float = math.nan  # smallest raw one-sided p of its reversal tests
    p_holm: float = math.nan  # the same after Holm over the claim; reversed below 2.5 %
    margin: float = math.nan  # the equivalence margin that applied (NaN: none)
    within_margin: bool = False  # every interval behind it lies inside +-margin
    a_cell: str = ""
    b_cell: str = ""


@dataclass
class ClaimResult:
    """The verdict of one claim and the comparisons behind it."""

    claim: Claim
    verdict: str
    comparisons: list[Comparison] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # groups whose a cell is its own b cell
    margin: float = math.nan
    summary: str = ""  # "2/3 hold, 1 unclear": made from the comparisons unless given

    def __post_init__(self) -> None:
        if self.summary:
            return
        n, counts = len(self.comparisons), Counter(c.outcome for c in self.comparisons)
        spread = self.claim.kind == "spread"
        head, word = (WITHIN_MARGIN, "within margin") if spread else (HOLDS, "hold")
        parts = [f"{counts[head]}/{n} {word}"]
        parts += [f"{counts[k]} {k}" for k in OUTCOMES if k != head and counts[k]]
        out = ", ".join(parts) if n else "no cells to compare"
        if not math.isnan(self.margin) and self.claim.kind != "equal":
            out += f"; margin +-{self.margin:g}"
        if s := self.skipped:
            out += f"; skipped {len(s)} self-comparison{'s' * (len(s) > 1)} ({'; '.join(s)})"
        self.summary = out


UNRECORDED = "has runs that did not record"
"""A missing comparison's note when its cells' runs finished without the claim's metric (the
report then says "not measured", not "not run")."""

Values = dict[str, dict[str, dict[int, float]]]  # cell id -> metric -> {seed: value}


@dataclass(frozen=True)
class Get:
    """A claim's metric per cell: ``get(cell)`` -> {seed: value} (empty: none recorded)."""

    values: Values
    metric: str

    def __call__(self, c: Cell) -> dict[int, float]:  # noqa: D102
        return self.values.get(c.id, {}).get(self.metric, {})

    def absent(self, c: Cell) -> str:
        """Why ``c`` has no value: no finished run, or runs recorded before the metric existed."""
        if any(self.values.get(c.id, {}).values()):
            return f"{UNRECORDED} {self.metric}"
        return "has no finished run"


Tests = list[tuple[str, float]]  # a comparison's reversal tests: (what, raw one-sided p)


def claim_margin(claim: Claim, profile_margin: float | None) -> float:
    """The equivalence margin of ``claim`` (NaN: none): its own, else the profile's, which is in
    accuracy points and so applies only to a metric in points."""
    if claim.kind == "equal":
        return math.nan
    if claim.kind == "spread":
        return claim.bound
    m = claim.margin
    if m is None and unit_of(claim.metric) == "%":
        m = profile_margin
    return math.nan if m is None or m == 0.0 else float(m)


def _label(cell: Cell, keys: tuple[str, ...] | list[str]) -> str:
    keys = [k for k in keys if k in cell.key] or list(cell.key)
    return ",".join(f"{k}={fmt_value(cell.key[k])}" for k in keys)


def _mean(values: dict[int, float]) -> float:
    return mean_std(values.values())[0]


def _partner(claim: Claim, a: Cell, bs: list[Cell]) -> Cell | None:
    # a 'per' axis that the b filter fixes (e.g. b = the default variant) names the comparison
    # but does not pick the partner: every variant is compared with the one default cell
    keys = [k for k in claim.per if k not in (claim.b or {})]
    found = [b for b in bs if all(b.key.get(k) == a.key.get(k) for k in keys if k in b.key)]
    if len(found) > 1:
        raise SpecError(
            f"claim {claim.id!r}: cell {a.id} matches {len(found)} 'b' cells "
            f"({', '.join(b.id for b in found)}); add the distinguishing axes to 'per'"
        )
    return found[0] if found else None


def _greater(
    claim: Claim,
    group: str,
    a: Cell,
    b: Cell | None,
    get: Get,
    margin: float,
) -> tuple[Comparison, Tests]:
    """``a`` against ``b`` paired by seed; without ``b``, ``a``'s metric against 0 (a one-sample
    interval: a metric that is itself a difference, e.g. ``teacher_gap``)."""
    va = get(a)
    vb = get(b) if b is not None else {seed: 0.0 for seed in va}
    b_id = b.id if b is not None else ""
    c = Comparison(group, MISSING, _mean(va), _mean(vb), margin=margin, a_cell=a.id, b_cell=b_id)
    if not va or not vb:
        c.note = f"a cell {get.absent(a if not va else b)}"
        return c, []
    t = diff_test(va, vb)
    c.outcome, c.diff, c.ci_lo, c.ci_hi, c.note = UNCLEAR, t.d, t.lo, t.hi, t.how
    if len(va) < 2 or len(vb) < 2:
        c.note = "fewer than two seeds"
        return c, []
    c.within_margin = t.inside(margin)
    if t.lo > claim.threshold:
        c.outcome = HOLDS
    elif c.within_margin:
        c.outcome = WITHIN_MARGIN
    return c, [(f"below {claim.threshold:g}", t.p_below(claim.threshold))]


def _equal(group: str, a: Cell, b: Cell, get: Get) -> tuple[Comparison, Tests]:
    va, vb = list(get(a).values()), list(get(b).values())
    c = Comparison(group, MISSING, a_cell=a.id, b_cell=b.id)
    if not va or not vb:
        c.note = f"a cell {get.absent(a if not va else b)}"
        return c, []
    same = len(set(va) | set(vb)) == 1
    c.outcome = HOLDS if same else DIFFERS
    c.a_mean, c.b_mean, c.diff = va[0], vb[0], va[0] - vb[0]
    c.note = "" if same else f"a={sorted(set(va))}, b={sorted(set(vb))}"
    return c, []


def _pairs_inside(series: list[dict[int, float]], margin: float) -> bool:
    return not math.isnan(margin) and all(
        diff_test(x, y).inside(margin) for x, y in itertools.combinations(series, 2)
    )


def evaluate_claim(
    claim: Claim, cells: list[Cell], values: Values, margin: float | None = None
) -> ClaimResult:
    """Evaluate ``claim`` on one experiment's cells (``margin``: the profile's)."""
    m = claim_margin(claim, margin)
    a_cells = [c for c in cells if c.matches(claim.a)]
    b_cells = [c for c in cells if c.matches(claim.b)] if claim.b else []
    get = Get(values, claim.metric)
    comps: list[tuple[Comparison, Tests]] = []
    skipped: list[str] = []
    if claim.kind == "greater" and not claim.b:  # a's metric itself above the threshold
        for a in a_cells:
            group = _label(a, claim.per or list(a.key))
            comps.append(_greater(claim, group, a, None, get, m))
    elif claim.kind in ("greater", "equal"):
        for a in a_cells:
            b = _partner(claim, a, b_cells)
            group = _label(a, claim.per or list(a.key))
            if b is None:
                comps.append((Comparison(group, MISSING, note="no 'b' cell to compare with"), []))
            elif b.id == a.id:  # a cell against itself: +0.00 [+0.00, +0.00], never evidence
                skipped.append(group)
            elif claim.kind == "greater":
                comps.append(_greater(claim, group, a, b, get, m))
            else:
                comps.append(_equal(group, a, b, get))
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


def _holm(comps: list[tuple[Comparison, Tests]]) -> None:
    """Adjust every reversal test of the claim together; mark the comparisons that survive."""
    flat = [(i, what, p) for i, (_, tests) in enumerate(comps) for what, p in tests]
    adjusted = holm([p for _, _, p in flat])
    n_tests = sum(not math.isnan(q) for q in adjusted)
    for i, (c, _) in enumerate(comps):
        mine = [(w, p, q) for (j, w, p), q in zip(flat, adjusted, strict=True) if j == i]
        finite = [x for x in mine if not math.isnan(x[1])]
        if not finite:
            continue
        c.p_reversal = min(p for _, p, _ in finite)
        c.p_holm = min(q for _, _, q in finite)
        survived = [what for what, _, q in finite if q < REVERSAL_ALPHA]
        if survived and c.outcome != MISSING:
            c.outcome = REVERSED
            c.note = (
                f"reversed: {'; '.join(survived)} (Holm p {c.p_holm:.3g} over {n_tests} tests); "
                f"{c.note}"
            ).rstrip("; ")


def _series(members: list[Cell], get: Get) -> tuple[list[dict[int, float]], str]:
    series = [get(c) for c in members]
    if len(members) < 2:
        return series, "fewer than two cells"
    missing = [c for c, s in zip(members, series, strict=True) if not s]
    return series, f"cell {missing[0].id} {get.absent(missing[0])}" if missing else ""


def _monotonic(
    claim: Claim, group: str, members: list[Cell], get: Get, margin: float
) -> tuple[Comparison, Tests]:
    axis = claim.over[0]
    members = sorted(members, key=lambda c: float(c.key[axis]))
    series, why = _series(members, get)
    if why:
        return Comparison(group, MISSING, note=why.replace("cells", f"values of {axis}")), []
    first, last = _mean(series[0]), _mean(series[-1])
    ends = dict(margin=margin, a_cell=members[-1].id, b_cell=members[0].id)
    c = Comparison(group, UNCLEAR, last, first, **ends)
    if any(len(s) < 2 for s in series):
        c.note = "fewer than two seeds"
        return c, []
    steps = [
        (
            f"drop at {axis} {fmt_value(c0.key[axis])}->{fmt_value(c1.key[axis])}",
            diff_test(s1, s0).p_below(0.0),
        )
        for (c0, s0), (c1, s1) in itertools.pairwise(zip(members, series, strict=True))
    ]
    t = diff_test(series[-1], series[0])
    c.diff, c.ci_lo, c.ci_hi, c.note = t.d, t.lo, t.hi, t.how
    c.within_margin = _pairs_inside(series, margin)
    if t.lo > 0:
        c.outcome = HOLDS
    elif c.within_margin:
        c.outcome, c.note = WITHIN_MARGIN, f"every pair of {axis} values within margin; {t.how}"
    else:
        c.note = f"no significant rise from first to last; {t.how}"
    return c, steps


def _spread(claim: Claim, group: str, members: list[Cell], get: Get) -> tuple[Comparison, Tests]:
    series, why = _series(members, get)
    if why:
        return Comparison(group, MISSING, note=why), []
    stats = [(_mean(s), c, s) for c, s in zip(members, series, strict=True)]
    by_mean = itemgetter(0)
    (hi, hi_cell, hi_s), (lo, lo_cell, lo_s) = max(stats, key=by_mean), min(stats, key=by_mean)
    ends = dict(margin=claim.bound, a_cell=hi_cell.id, b_cell=lo_cell.id)
    c = Comparison(group, UNCLEAR, hi, lo, hi - lo, **ends)
    if any(len(s) < 2 for s in series):
        c.note = "fewer than two seeds"
        return c, []
    t = diff_test(hi_s, lo_s)
    c.ci_lo, c.ci_hi = t.lo, t.hi
    c.note = f"max at {hi_cell.id}; min at {lo_cell.id}; bound {claim.bound:g}; {t.how}"
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
    return c, tests
