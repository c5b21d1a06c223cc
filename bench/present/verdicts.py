"""One experiment's verdicts printed: by ``bench run`` from its aggregate, by ``bench check``
from the CSVs."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path
from typing import Any

from bench.analyse import frames
from bench.analyse.claims import CONTRADICTED, ClaimResult
from bench.plan.schema import Experiment
from bench.present.fmt import interval, plain

_NUMBERS = (("mean", "mean", 9, ".2f"), ("std", "std", 7, ".2f"), ("reported", "ref", 9, ".2f"))
_NUMBERS += (("delta", "delta", 7, "+.2f"), ("tolerance", "tol", 6, ".2f"))
"""The printed numeric columns: aggregate key, header, width, format."""


def print_summary(
    exp_id: str, profile: str, rows: list[dict[str, Any]], claims: list[ClaimResult], verbose: bool
) -> bool:
    """Print the verdicts; True when every gating cell and claim passes."""
    from bench.execute.run import short

    shown = [r for r in rows if ":" not in r["metric"]]
    failed = [r for r in rows if r["verdict"] == "fail"]
    counts = sorted(Counter(r["verdict"] for r in shown).items())
    print(f"== {exp_id} ({profile}): " + ", ".join(f"{k} {v}" for k, v in counts))
    if verbose or failed:
        w = max((len(r["cell"]) for r in shown), default=10)
        head = " ".join(f"{h:>{width}}" for _, h, width, _ in _NUMBERS)
        print(f"  {'cell':<{w}} {'metric':<16} {'n':>2} {head}  verdict")
        for r in (r for r in shown if verbose or r["verdict"] == "fail"):
            why = f"  ({short(r['reason'])})" if r["reason"] and r["verdict"] != "pass" else ""
            nums = " ".join(f"{plain(r[k], spec):>{width}}" for k, _, width, spec in _NUMBERS)
            print(f"  {r['cell']:<{w}} {r['metric']:<16} {r['n']:>2} {nums}  {r['verdict']}{why}")
    ok = not failed
    for res in claims:
        c, v = res.claim, res.verdict
        gate = ", gating" if c.gate else ""
        print(f"  claim {c.id} [{c.source}{gate}]: {v.upper()} ({res.summary}) - {c.text}")
        for g in res.comparisons if verbose else []:
            p = f" Holm p {g.p_holm:.3g}" if not math.isnan(g.p_holm) else ""
            diff = interval(g.diff, g.ci_lo, g.ci_hi)  # never -0.00, as in the tables
            print(f"      {g.group}: {g.outcome} diff {diff}{p} {g.note}")
        # a gating claim fails only on evidence against it, never on too little evidence
        ok &= not (c.gate and v == CONTRADICTED)
    return ok


def check(exp: Experiment, out_dir: Path, profile: str) -> bool:
    """Print the verdicts of ``exp`` from its CSVs (never re-decided; each claim, gate included,
    as the experiment defines it); False when a gating cell or claim fails."""
    try:
        rows = frames.records(frames.read(out_dir / f"{exp.id}.csv", frames.AGGREGATE))
    except FileNotFoundError as exc:
        print(f"== {exp.id} ({profile}): {exc}")
        return False
    read = {r.claim.id: r for r in frames.read_claims(out_dir / f"{exp.id}_claims.csv")}
    claims = [dataclasses.replace(read[c.id], claim=c) for c in exp.claims if c.id in read]
    return print_summary(exp.id, profile, rows, claims, verbose=True)
