"""The paper's claims as checks over cells: supported | not supported | inconclusive.

A claim compares cells chosen by ``a`` (and ``b``) filters on one metric. Each comparison has an
outcome: ``holds``, ``fails``, ``unclear`` (the data cannot decide) or ``missing`` (a cell has no
finished run). The claim is *supported* when every comparison holds, *not supported* when at least
one fails, and *inconclusive* otherwise. Decisions use 95 % Student-t intervals over seeds
(:func:`bench.stats.diff_ci`: paired by seed when both cells ran the same seeds, Welch's
otherwise), so a difference smaller than the seed-to-seed noise is ``unclear``, never a win; a
side with fewer than two seeds is always ``unclear``.

Kinds:

* ``greater``: each ``a`` cell against the ``b`` cell with the same values of the ``per`` axes
  (those the ``b`` filter does not fix: ``per: [dataset, variant]`` with ``b: {variant: default}``
  compares every variant with the default of its dataset); holds when the interval of
  ``mean(a) - mean(b)`` lies above ``threshold`` (default 0), fails when it lies below.
* ``monotonic``: ``a`` cells ordered by the ``over`` axis within each ``per`` group; fails when
  one step is a significant decrease, holds when no step is and the last point is significantly
  above the first ("accuracy rises with T_t").
* ``spread``: within each ``per`` group, ``max - min`` of the cell means over the ``over`` axes;
  with the 95 % interval of the difference of the two extreme cells it holds when the
  interval's upper end is ``<= bound`` and fails when its lower end is ``> bound``.
* ``equal``: each ``a`` cell against its ``b`` cell; holds when every seed's value is identical
  (deterministic quantities such as parameter and MAC counts).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from bench.expand import Cell, fmt_value
from bench.schema import Claim, SpecError
from bench.stats import diff_ci, mean_std

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"


@dataclass
class Comparison:
    """One comparison inside a claim."""

    group: str
    outcome: str
    a_mean: float = math.nan
    b_mean: float = math.nan
    diff: float = math.nan
    ci_lo: float = math.nan
    ci_hi: float = math.nan
    note: str = ""


@dataclass
class ClaimResult:
    """The verdict of one claim and the comparisons behind it."""

    claim: Claim
    verdict: str
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """``2/3 hold, 1 unclear`` style one-liner."""
        counts = Counter(c.outcome for c in self.comparisons)
        n = len(self.comparisons)
        if not n:
            return "no cells to compare"
        parts = [f"{counts.get('holds', 0)}/{n} hold"]
        parts += [f"{v} {k}" for k, v in counts.items() if k != "holds"]
        return ", ".join(parts)


Values = dict[str, dict[str, dict[int, float]]]
"""cell id -> metric -> {seed: value} of every finished seed."""


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


def _compare(claim: Claim, group: str, a: dict[int, float], b: dict[int, float]) -> Comparison:
    am, _ = mean_std(a.values())
    bm, _ = mean_std(b.values())
    if not a or not b:
        return Comparison(group, "missing", am, bm, note="a cell has no finished run")
    d, lo, hi, how = diff_ci(a, b)
    c = Comparison(group, "unclear", am, bm, d, lo, hi, note=how)
    if len(a) < 2 or len(b) < 2:
        c.note = "fewer than two seeds"
        return c
    c.outcome = "holds" if lo > claim.threshold else "fails" if hi < claim.threshold else "unclear"
    return c


def evaluate_claim(claim: Claim, cells: list[Cell], values: Values) -> ClaimResult:
    """Evaluate ``claim`` on the cells of one experiment (see the module docstring)."""
    a_cells = [c for c in cells if c.matches(claim.a)]
    b_cells = [c for c in cells if c.matches(claim.b)] if claim.b else []
    get = lambda c: values.get(c.id, {}).get(claim.metric, {})  # noqa: E731
    comps: list[Comparison] = []
    if claim.kind in ("greater", "equal"):
        for a in a_cells:
            b = _partner(claim, a, b_cells)
            group = _label(a, claim.per or list(a.key))
            if b is None:
                comps.append(Comparison(group, "missing", note="no 'b' cell to compare with"))
                continue
            if claim.kind == "greater":
                comps.append(_compare(claim, group, get(a), get(b)))
            else:
                va, vb = list(get(a).values()), list(get(b).values())
                if not va or not vb:
                    comps.append(Comparison(group, "missing", note="a cell has no finished run"))
                    continue
                same = len(set(va) | set(vb)) == 1
                comps.append(
                    Comparison(
                        group,
                        "holds" if same else "fails",
                        va[0],
                        vb[0],
                        va[0] - vb[0],
                        note="" if same else f"a={sorted(set(va))}, b={sorted(set(vb))}",
                    )
                )
    else:
        groups: dict[str, list[Cell]] = {}
        for c in a_cells:
            groups.setdefault(_label(c, claim.per) if claim.per else "all", []).append(c)
        for group, members in groups.items():
            if claim.kind == "monotonic":
                comps.append(_monotonic(claim, group, members, get))
            else:
                comps.append(_spread(claim, group, members, get))
    outcomes = {c.outcome for c in comps}
    if comps and outcomes == {"holds"}:
        verdict = SUPPORTED
    elif "fails" in outcomes:
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    return ClaimResult(claim, verdict, comps)


def _monotonic(claim: Claim, group: str, members: list[Cell], get) -> Comparison:
    axis = claim.over[0]
    members = sorted(members, key=lambda c: float(c.key[axis]))
    series = [get(c) for c in members]
    if len(members) < 2:
        return Comparison(group, "missing", note=f"fewer than two values of {axis}")
    if any(not s for s in series):
        return Comparison(group, "missing", note="a cell has no finished run")
    if any(len(s) < 2 for s in series):
        return Comparison(group, "unclear", note="fewer than two seeds")
    drops = []
    pairs = list(zip(members, series, strict=True))
    for (c0, s0), (c1, s1) in zip(pairs, pairs[1:], strict=False):
        _, lo, hi, _ = diff_ci(s1, s0)
        if hi < 0:
            drops.append(f"{axis} {fmt_value(c0.key[axis])}->{fmt_value(c1.key[axis])}")
    first, last = mean_std(series[0].values())[0], mean_std(series[-1].values())[0]
    d, lo, hi, how = diff_ci(series[-1], series[0])
    c = Comparison(group, "unclear", last, first, d, lo, hi, note=how)
    if drops:
        c.outcome, c.note = "fails", "significant decrease at " + "; ".join(drops)
    elif lo > 0:
        c.outcome = "holds"
    else:
        c.note = "no significant decrease, but no significant rise from first to last"
    return c


def _spread(claim: Claim, group: str, members: list[Cell], get) -> Comparison:
    stats = []
    for c in members:
        v = get(c)
        if not v:
            return Comparison(group, "missing", note=f"cell {c.id} has no finished run")
        stats.append((mean_std(v.values())[0], len(v), c, v))
    if len(stats) < 2:
        return Comparison(group, "missing", note="fewer than two cells")
    hi_cell = max(stats, key=lambda t: t[0])
    lo_cell = min(stats, key=lambda t: t[0])
    spread = hi_cell[0] - lo_cell[0]
    if any(n < 2 for _, n, _, _ in stats):
        return Comparison(
            group, "unclear", hi_cell[0], lo_cell[0], spread, note="fewer than two seeds"
        )
    _, lo, hi, how = diff_ci(hi_cell[3], lo_cell[3])
    note = f"max at {hi_cell[2].id}; min at {lo_cell[2].id}; bound {claim.bound:g}; {how}"
    c = Comparison(group, "unclear", hi_cell[0], lo_cell[0], spread, lo, hi, note=note)
    if hi <= claim.bound:
        c.outcome = "holds"
    elif lo > claim.bound:
        c.outcome = "fails"
    return c
