"""The verdicts of one experiment, printed: cells (pass/fail against their reference) and claims.

``bench run`` prints them from the aggregate it just made; ``bench check`` from the CSVs, with
each claim's gating flag taken from the experiment's definition (typed), not from CSV text.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.analyse.claims import CONTRADICTED, ClaimResult, Comparison
from bench.plan.schema import Experiment

FLOAT_FIELDS = ("a_mean", "b_mean", "diff", "ci_lo", "ci_hi", "p_reversal", "p_holm", "margin")


def _num(v: Any, fmt: str) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return "-"
    return "-" if math.isnan(x) else format(x, fmt)


def _float(row: dict[str, str], key: str) -> float:
    v = row.get(key) or ""
    return float(v) if v else math.nan


def claims_from_csv(exp: Experiment, rows: list[dict[str, str]]) -> list[ClaimResult]:
    """The experiment's claims with the verdicts and comparisons its claims CSV holds.

    Columns a CSV written before a column existed lacks (``p_holm``, ``margin``, ...) read as
    empty; the verdict itself is always the CSV's, never re-decided here.
    """
    out = []
    for claim in exp.claims:
        mine = [r for r in rows if r["claim"] == claim.id]
        top = next((r for r in mine if r["group"] == "all"), None)
        if top is None:
            continue
        comps = [
            Comparison(
                r["group"],
                r["outcome"],
                **{k: _float(r, k) for k in FLOAT_FIELDS},
                note=r.get("note", ""),
                within_margin=r.get("within_margin") == "True",
                a_cell=r.get("a_cell", ""),
                b_cell=r.get("b_cell", ""),
            )
            for r in mine
            if r["group"] != "all"
        ]
        out.append(ClaimResult(claim, top["verdict"], comps, margin=_float(top, "margin")))
    return out


def print_summary(
    exp_id: str,
    profile: str,
    rows: list[dict[str, Any]],
    claims: list[ClaimResult],
    verbose: bool,
    stream=None,
) -> bool:
    """Print the verdicts; True when every gating cell and claim passes."""
    from bench.execute.run import short

    stream = stream or sys.stdout
    shown = [r for r in rows if ":" not in r["metric"]]
    counts = Counter(r["verdict"] for r in shown)
    failed = [r for r in rows if r["verdict"] == "fail"]
    print(
        f"== {exp_id} ({profile}): " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
        file=stream,
    )
    if verbose or failed:
        width = max((len(r["cell"]) for r in shown), default=10)
        print(
            f"  {'cell':<{width}} {'metric':<16} {'n':>2} {'mean':>9} {'std':>7} {'ref':>9} "
            f"{'delta':>7} {'tol':>6}  verdict",
            file=stream,
        )
        for r in shown:
            if verbose or r["verdict"] == "fail":
                why = f"  ({short(r['reason'])})" if r["reason"] and r["verdict"] != "pass" else ""
                print(
                    f"  {r['cell']:<{width}} {r['metric']:<16} {r['n']:>2} "
                    f"{_num(r['mean'], '.2f'):>9} {_num(r['std'], '.2f'):>7} "
                    f"{_num(r['reported'], '.2f'):>9} {_num(r['delta'], '+.2f'):>7} "
                    f"{_num(r['tolerance'], '.2f'):>6}  {r['verdict']}{why}",
                    file=stream,
                )
    ok = not failed
    for res in claims:
        c = res.claim
        print(
            f"  claim {c.id} [{c.source}{', gating' if c.gate else ''}]: "
            f"{res.verdict.upper()} ({res.summary}) - {c.text}",
            file=stream,
        )
        if verbose:
            for g in res.comparisons:
                ci = f"[{g.ci_lo:+.2f}, {g.ci_hi:+.2f}]" if not math.isnan(g.ci_lo) else ""
                p = f" Holm p {g.p_holm:.3g}" if not math.isnan(g.p_holm) else ""
                print(
                    f"      {g.group}: {g.outcome} diff {_num(g.diff, '+.2f')} {ci}{p} {g.note}",
                    file=stream,
                )
        # a gating claim fails only on evidence against it, never on too little evidence
        ok &= not (c.gate and res.verdict == CONTRADICTED)
    return ok


def check(exp: Experiment, out_dir: Path, profile: str) -> bool:
    """Print the verdicts of ``exp`` from its CSVs; False when a gating cell or claim fails."""
    from bench.analyse.aggregate import read_csv

    try:
        rows = read_csv(out_dir / f"{exp.id}.csv")
    except FileNotFoundError as exc:
        print(f"== {exp.id} ({profile}): {exc}")
        return False
    cpath = out_dir / f"{exp.id}_claims.csv"
    claims = claims_from_csv(exp, read_csv(cpath)) if cpath.is_file() else []
    return print_summary(exp.id, profile, rows, claims, verbose=True)
