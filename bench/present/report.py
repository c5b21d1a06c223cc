"""The reproduction report: every table, claim and figure of one profile on one page.

``python -m bench report --profile P`` writes ``results/<P>/REPORT.md`` from the CSVs and the
rendered files of that profile (it runs nothing): provenance (commits, machines, torch, seeds,
wall time), every claim's verdict with its per-group differences and 95 % intervals, each
experiment's table or figure, and the cells that did not run. ``python -m bench claims
--profiles quick small`` prints the claims of several profiles side by side (the README's
table), and ``--readme`` writes that table between the README's claims markers.

Prose about results is generated from the verdicts, never written by hand: :func:`claim_sentence`
turns one claim's verdict under each profile into one sentence ("supported on small (...)",
"equivalent within ±0.5 points on small (...)"), used by REPORT.md's findings and by the README's
findings block (:func:`findings_text`, between :data:`FINDINGS_START` and :data:`FINDINGS_END`).
Only an ``equivalent`` verdict is ever worded "no effect" or "insensitive". REPORT.md also states
how many claims and comparisons were decided and how many false verdicts to expect at the levels
used (:func:`false_verdicts`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.analyse import frames
from bench.analyse.claims import (
    CONTRADICTED,
    DIFFERS,
    EQUIVALENCE_ALPHA,
    EQUIVALENT,
    HOLDS,
    MISSING,
    REVERSAL_ALPHA,
    REVERSED,
    SUPPORT_ALPHA,
    SUPPORTED,
    VERDICTS,
    ClaimResult,
    Comparison,
)
from bench.plan.schema import experiment_ids, experiment_path, load_experiment, load_profile
from bench.present.fmt import duration, interval, missing
from bench.present.table import Bold, Table, to_markdown
from tssd.api import atomic_write_text

README_START = "<!-- claims:start (python -m bench claims --readme) -->"
README_END = "<!-- claims:end -->"
FINDINGS_START = "<!-- findings:start (python -m bench claims --readme) -->"
FINDINGS_END = "<!-- findings:end -->"


def group_detail(c: Comparison) -> str:
    """``+1.23 [+0.40, +2.06]`` for one comparison (its note, or ``n/a``, without a difference)."""
    return (c.note or "n/a") if missing(c.diff) else interval(c.diff, c.ci_lo, c.ci_hi)


def claims_of(results_dir: Path, eid: str) -> dict[str, ClaimResult]:
    """Claim id -> its result, from one experiment's claims CSV (empty when not aggregated)."""
    return {r.claim.id: r for r in frames.read_claims(results_dir / f"{eid}_claims.csv")}


def _provenance(results_dir: Path, eids: list[str]) -> tuple[list[str], dict[str, float]]:
    commits: Counter = Counter()
    devices: Counter = Counter()
    torches: Counter = Counter()
    seeds: set[int] = set()
    wall: dict[str, float] = {}
    seen: set[str] = set()
    for eid in eids:
        path = results_dir / f"{eid}_runs.csv"
        if not path.is_file():
            continue
        total = 0.0
        for r in frames.records(frames.read(path, frames.RUNS)):
            if r["status"] != "finished":
                continue
            total += 0.0 if math.isnan(r["wall_s"]) else r["wall_s"]
            if r["run_id"] in seen:
                continue
            seen.add(r["run_id"])
            dirty = " (dirty tree)" if r["git_dirty"] else ""
            commits[(r["git_commit"] or "?")[:12] + dirty] += 1
            devices[f"{r['device']} {r['device_name']}".strip()] += 1
            torches[r["torch_version"] or "?"] += 1
            seeds.add(r["seed"])
        wall[eid] = total
    lines = [
        f"- runs: {len(seen)} distinct finished runs; seeds {', '.join(map(str, sorted(seeds)))}"
        if seen
        else "- runs: none finished yet",
        "- trained at commit(s): " + ", ".join(f"{c} ({n} runs)" for c, n in commits.most_common()),
        "- on: " + ", ".join(f"{d} ({n})" for d, n in devices.most_common()),
        "- torch: " + ", ".join(f"{t} ({n})" for t, n in torches.most_common()),
    ]
    return lines, wall


def write_report(profile_id: str, results: Path, out_dir: Path | None = None) -> Path:
    """Write ``<results>/<profile>/REPORT.md`` (or ``<out_dir>/REPORT.md``); return its path.

    Its text is a function of the CSVs alone (no date, host or commit of its own: the runs'
    provenance is in it), so it regenerates byte-identically from the run records."""
    profile = load_profile(profile_id)
    out_dir = out_dir or results / profile.id
    shipped = experiment_ids()
    # experiments run from a YAML path of their own are reported too, after the shipped ones
    extra = sorted(
        p.name[: -len("_claims.csv")]
        for p in out_dir.glob("*_claims.csv")
        if p.name[: -len("_claims.csv")] not in shipped
    )
    eids = shipped + extra
    prov, wall = _provenance(out_dir, eids)
    lines = [
        f"# Reproduction report: profile `{profile.id}`",
        "",
        profile.description,
        "",
        f"Regenerated by `python -m bench report --profile {profile.id}` from the run records "
        f"in `results/{profile.id}/records/` alone (no training, no run cache); every number "
        "below was measured by the runs they list, whose commits and machines follow.",
        "",
        "## Provenance",
        "",
        *prov,
        "- summed run wall time per experiment (a run shared by several counts in each): "
        + (", ".join(f"{e} {duration(w)}" for e, w in wall.items()) or "none"),
        "",
        "## Claims",
        "",
        *decided_section(out_dir, eids, profile.equivalence_margin),
        "",
        "### Findings",
        "",
        "One sentence per claim, generated from its verdict (`bench/present/report.py`, "
        "`claim_sentence`).",
        "",
        *[f"- {s}" for s in findings(out_dir, eids, profile.id)],
        "",
        "### Every comparison",
        "",
    ]
    missing_exps, every = [], []
    for eid in eids:
        results = claims_of(out_dir, eid)
        if not results:
            missing_exps.append(eid)
        for res in results.values():
            c = res.claim
            detail = "; ".join(f"{g.group}: {g.outcome} {group_detail(g)}" for g in res.comparisons)
            every.append(
                [eid, f"{c.id}: {c.text}", c.source, Bold(res.verdict), detail or res.summary]
            )
    head = ["experiment", "claim", "source", "verdict", "per group: difference [95 % interval]"]
    lines += [*to_markdown(Table(head, every)), "", "## Tables and figures", ""]
    not_run: list[str] = []
    for eid in eids:
        title = load_experiment(experiment_path(eid)).title if eid in shipped else eid
        lines.append(f"### {eid}: {title}")
        lines.append("")
        agg = out_dir / f"{eid}.csv"
        if not agg.is_file():
            lines += [f"Not run yet: `python -m bench run {eid} --profile {profile.id}`.", ""]
            continue
        for r in frames.records(frames.read(agg, frames.AGGREGATE)):
            if r["metric"] == "test_acc" and r["status"] in ("not-run", "failed", "partial"):
                not_run.append(f"{eid}: {r['cell']}: {r['status']} ({r['reason']})")
        md = out_dir / f"{eid}.md"
        if md.is_file():
            body = md.read_text().splitlines()
            lines += [ln for ln in body if not ln.startswith("### ")]
        for pic in (f"{eid}.png", f"{eid}_forest.png"):
            if (out_dir / pic).is_file():
                lines += [f"![{eid}]({pic})", ""]
        forest = out_dir / f"{eid}_forest.md"
        if forest.is_file():
            lines += forest.read_text().splitlines()[2:] + [""]
        lines.append("")
    lines += ["## Cells that did not run", ""]
    lines += [f"- {x}" for x in not_run] or ["- none"]
    if missing_exps:
        lines += [
            "",
            "Experiments not aggregated under this profile: " + ", ".join(missing_exps) + ".",
        ]
    path = out_dir / "REPORT.md"
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def claims_table(profiles: list[str], results: Path) -> str:
    """Every claim of every experiment, one column per profile (Markdown)."""
    rows = []
    for eid in experiment_ids():
        exp = load_experiment(experiment_path(eid))
        by_profile = {p: claims_of(results / p, eid) for p in profiles}
        for claim in exp.claims:
            cells = []
            for p in profiles:
                res = by_profile[p].get(claim.id)
                if res is None or _not_run(res):
                    cells.append("not run")
                    continue
                detail = _detail(res.comparisons)
                cells.append(res.verdict + (f" ({detail})" if detail else ""))
            rows.append([eid, claim.text, *cells])
    return "\n".join(to_markdown(Table(["experiment", "claim", *profiles], rows))) + "\n"


def _short_group(group: str) -> str:
    return ",".join(part.split("=", 1)[-1] for part in group.split(","))


def _replace_block(path: Path, text: str, start: str, end: str, body: str, what: str) -> str:
    pattern = re.escape(start) + r".*?" + re.escape(end)
    if not re.search(pattern, text, flags=re.S):
        raise FileNotFoundError(f"{path}: no {what} markers; add the lines {start!r} and {end!r}")
    return re.sub(pattern, lambda _: f"{start}\n{body}{end}", text, flags=re.S)


def update_readme(readme: Path, table: str, findings_block: str | None = None) -> None:
    """Replace the text between the claims markers of ``readme`` with ``table`` and, when
    ``findings_block`` is given, the text between the findings markers with it."""
    text = _replace_block(readme, readme.read_text(), README_START, README_END, table, "claims")
    if findings_block is not None:
        text = _replace_block(
            readme, text, FINDINGS_START, FINDINGS_END, findings_block, "findings"
        )
    atomic_write_text(readme, text)


def write_readme(readme: Path, profiles: list[str], results: Path) -> None:
    """Both generated blocks of the README: the claims table and the findings sentences."""
    update_readme(readme, claims_table(profiles, results), findings_text(profiles, results))


# ------------------------------------------------------------------------------------------------
# Prose from verdicts, and how many of them may be wrong
# ------------------------------------------------------------------------------------------------


def _unit(metric: str) -> str:
    return " points" if metric.endswith("_acc") else ""


def _not_run(res: ClaimResult) -> bool:
    """Aggregated, but no comparison had a finished run."""
    return bool(res.comparisons) and all(g.outcome == MISSING for g in res.comparisons)


def _detail(groups: list[Comparison], holm: bool = False) -> str:
    shown = [g for g in groups if g.outcome != MISSING]
    parts = []
    for g in shown:
        extra = f", Holm p {g.p_holm:.2g}" if holm and not math.isnan(g.p_holm) else ""
        parts.append(f"{_short_group(g.group)} {group_detail(g)}{extra}")
    if len(shown) < len(groups):  # one count, not one "no finished run" per group
        parts.append(f"{len(groups) - len(shown)} not run")
    return "; ".join(parts)


def verdict_phrase(res: ClaimResult | None, profile: str) -> str:
    """One profile's part of a claim's sentence, from its claims CSV (None: not run).

    ``supported on P (each comparison)``, ``contradicted on P: reversed on (those reversed)``,
    ``equivalent within ±M on P, i.e. no effect beyond ±M (each comparison)`` or ``inconclusive on P
    (outcome counts: each comparison)``. Only ``equivalent`` says "no effect"/"insensitive".
    """
    if res is None or _not_run(res):
        return f"not run on {profile}"
    v, groups = res.verdict, res.comparisons
    if v not in VERDICTS:
        raise ValueError(
            f"claim {res.claim.id!r} on {profile}: verdict {v!r} is not one of "
            f"{', '.join(VERDICTS)} (claims CSV written by an older bench? re-run "
            "`python -m bench report`)"
        )
    unit = _unit(res.claim.metric)
    if v == SUPPORTED:
        return f"supported on {profile} ({_detail(groups)})"
    if v == CONTRADICTED:
        rev = [g for g in groups if g.outcome in (REVERSED, DIFFERS)]
        return (
            f"contradicted on {profile}: {len(rev)} of {len(groups)} comparisons reversed "
            f"({_detail(rev, holm=True)})"
        )
    if v == EQUIVALENT:
        m = res.margin
        what = "insensitive" if res.claim.kind == "spread" else "no effect"
        unit = unit.rstrip("s") if m == 1 else unit
        return (
            f"equivalent within ±{m:g}{unit} on {profile}, i.e. {what} beyond ±{m:g}{unit} "
            f"({_detail(groups)})"
        )
    counts = Counter(g.outcome for g in groups)
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    return f"inconclusive on {profile} ({summary or 'nothing to compare'}: {_detail(groups)})"


def claim_sentence(text: str, by_profile: dict[str, ClaimResult | None]) -> str:
    """``<claim text>: <verdict on each profile>.``: one sentence per claim, from the CSVs."""
    parts = [verdict_phrase(res, p) for p, res in by_profile.items()]
    return f"{text[:1].upper()}{text[1:]}: {'; '.join(parts)}."


def findings(results_dir: Path, eids: list[str], profile: str) -> list[str]:
    """Every claim of one profile's experiments as a sentence (claims that ran only)."""
    return [
        f"{eid}: " + claim_sentence(res.claim.text, {profile: res})
        for eid in eids
        for res in claims_of(results_dir, eid).values()
    ]


def findings_text(profiles: list[str], results: Path) -> str:
    """The README's findings block: one bullet per claim that ran under any of ``profiles``."""
    lines = []
    for eid in experiment_ids():
        exp = load_experiment(experiment_path(eid))
        by_profile = {p: claims_of(results / p, eid) for p in profiles}
        for claim in exp.claims:
            mine = {p: results.get(claim.id) for p, results in by_profile.items()}
            if any(mine.values()):
                lines.append(f"- {eid}: {claim_sentence(claim.text, mine)}")
    if not lines:
        lines = [f"- No claim has run under {', '.join(profiles)} yet."]
    return "\n".join(lines) + "\n"


LEVELS = {SUPPORTED: SUPPORT_ALPHA, CONTRADICTED: REVERSAL_ALPHA, EQUIVALENT: EQUIVALENCE_ALPHA}
"""The largest chance of each decisive verdict on a claim whose truth contradicts it."""


def possible_verdicts(kind: str, margin: float) -> tuple[str, ...]:
    """The decisive verdicts a claim of ``kind`` can receive by chance (exact ``equal`` claims:
    none; ``spread``: contradicted or equivalent; others: supported, contradicted, and equivalent
    when a margin applies)."""
    if kind == "equal":
        return ()
    if kind == "spread":
        return (CONTRADICTED, EQUIVALENT)
    return (SUPPORTED, CONTRADICTED) + (() if math.isnan(margin) else (EQUIVALENT,))


@dataclass
class FalseVerdicts:
    """How many verdicts were decided and how many of them may be wrong by chance."""

    claims: int = 0
    """Claims with at least one comparison that has an interval (or an exact value)."""
    comparisons: int = 0
    """Comparisons with a 95 % interval."""
    issued: Counter = field(default_factory=Counter)
    """Verdict -> claims (of the decided ones) that received it."""
    at_risk: Counter = field(default_factory=Counter)
    """Verdict -> decided claims that could receive it."""

    @property
    def expected(self) -> dict[str, float]:
        """Verdict -> bound on the expected number of false verdicts of that kind."""
        return {v: LEVELS[v] * self.at_risk[v] for v in LEVELS}

    @property
    def total(self) -> float:
        """Bound on the expected number of false verdicts of any kind."""
        return sum(self.expected.values())


def false_verdicts(claims: list[ClaimResult], margin: float | None) -> FalseVerdicts:
    """Count decided claims and comparisons and bound the expected false verdicts.

    A verdict of kind v on a claim whose truth contradicts it occurs with probability at most
    ``LEVELS[v]`` (2.5 % each, see :mod:`bench.analyse.claims`), and each claim can be wrong in
    any verdict it can receive, so ``E[false verdicts] <= sum over decided claims of sum over its
    possible verdicts of LEVELS[v]`` (a union bound: it holds whatever the truth of each claim
    and however the claims depend on each other). ``margin``: the profile's, for a claim whose
    CSV holds none.
    """
    out = FalseVerdicts()
    for res in claims:
        groups = res.comparisons
        with_ci = [g for g in groups if not math.isnan(g.ci_lo)]
        exact = res.claim.kind == "equal" and any(g.outcome in (HOLDS, DIFFERS) for g in groups)
        if not with_ci and not exact:
            continue
        out.claims += 1
        out.comparisons += len(with_ci)
        out.issued[res.verdict] += 1
        m = margin if math.isnan(res.margin) and margin else res.margin
        for v in possible_verdicts(res.claim.kind, m):
            out.at_risk[v] += 1
    return out


def decided_section(results_dir: Path, eids: list[str], margin: float | None) -> list[str]:
    """REPORT.md's count of decided claims and comparisons and the expected false verdicts."""
    per_claim = [res for eid in eids for res in claims_of(results_dir, eid).values()]
    fv = false_verdicts(per_claim, margin)
    issued = ", ".join(f"{fv.issued[v]} {v}" for v in VERDICTS)
    how = {
        SUPPORTED: "every comparison's 95 % interval above its threshold: each a one-sided "
        "2.5 % test, all must hold, so no correction",
        CONTRADICTED: "a reversal that survives Holm's step-down over the claim's one-sided "
        "p-values at 2.5 % family-wise",
        EQUIVALENT: "every 95 % interval inside ±margin: two one-sided 2.5 % tests each "
        "(TOST), all must pass",
    }
    lines = [
        f"Decided: {fv.claims} claims (those with at least one comparison that has a 95 % "
        f"interval, or an exact value) over {fv.comparisons} comparisons with an interval; "
        f"verdicts: {issued}. An inconclusive verdict is never false, only uninformative.",
        "",
    ]
    head = ["verdict", "rule", "chance per claim it contradicts", "claims that could receive it"]
    rows = [
        [v, how[v], f"{100 * level:g} %", str(fv.at_risk[v]), f"{fv.expected[v]:.2f}"]
        for v, level in LEVELS.items()
    ]
    lines += to_markdown(Table([*head, "expected false verdicts at most"], rows))
    terms = " + ".join(f"{LEVELS[v]:g} x {fv.at_risk[v]}" for v in LEVELS)
    lines += [
        "",
        f"Expected number of false verdicts <= sum over verdicts v of alpha_v x N_v = {terms} "
        f"= **{fv.total:.2f}**, where N_v counts the decided claims that can receive v "
        "(`spread` claims cannot be supported, exact `equal` claims cannot be wrong by chance, "
        "equivalence needs a margin). A union bound: it holds whatever each claim's truth and "
        "however the claims depend on each other. It bounds wrong verdicts among the claims "
        "tested, not the share of wrong ones among the verdicts issued (that would need the "
        f"unknown share of true claims). Under no real difference at all each of the "
        f"{fv.comparisons} comparisons holds with probability 2.5 % at most: "
        f"{SUPPORT_ALPHA * fv.comparisons:.2f} comparisons would hold by chance alone.",
    ]
    return lines
