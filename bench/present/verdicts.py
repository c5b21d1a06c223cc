"""The verdicts of one experiment, printed: cells (pass/fail against their reference) and claims.

``bench run`` prints them from the aggregate it just made; ``bench check`` from the CSVs, with
each claim's gating flag taken from the experiment's definition (typed), not from CSV text.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.analyse import frames
from bench.analyse.claims import CONTRADICTED, ClaimResult
from bench.plan.schema import Experiment
from bench.present.fmt import plain


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
                    f"{plain(r['mean'], '.2f'):>9} {plain(r['std'], '.2f'):>7} "
                    f"{plain(r['reported'], '.2f'):>9} {plain(r['delta'], '+.2f'):>7} "
                    f"{plain(r['tolerance'], '.2f'):>6}  {r['verdict']}{why}",
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
                    f"      {g.group}: {g.outcome} diff {plain(g.diff, '+.2f')} {ci}{p} {g.note}",
                    file=stream,
                )
        # a gating claim fails only on evidence against it, never on too little evidence
        ok &= not (c.gate and res.verdict == CONTRADICTED)
    return ok


def check(exp: Experiment, out_dir: Path, profile: str) -> bool:
    """Print the verdicts of ``exp`` from its CSVs; False when a gating cell or claim fails.
    Each claim is the experiment's (its gating flag typed from its definition); its verdict and
    comparisons are the claims CSV's, never re-decided here."""
    try:
        rows = frames.records(frames.read(out_dir / f"{exp.id}.csv", frames.AGGREGATE))
    except FileNotFoundError as exc:
        print(f"== {exp.id} ({profile}): {exc}")
        return False
    read = {r.claim.id: r for r in frames.read_claims(out_dir / f"{exp.id}_claims.csv")}
    claims = [dataclasses.replace(read[c.id], claim=c) for c in exp.claims if c.id in read]
    return print_summary(exp.id, profile, rows, claims, verbose=True)
