"""Aggregate CSVs -> LaTeX (booktabs) and Markdown tables and ``macros.tex`` (bench/README.md,
"Tables")."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.analyse import frames
from bench.analyse.claims import ClaimResult
from bench.analyse.compare import mapped_match
from bench.analyse.frames import AGGREGATE, RUNS
from bench.plan.expand import fmt_value
from bench.plan.schema import MAPPED_AXES, Layout, Profile, Scalar
from bench.present import table as tb
from bench.present.fmt import COUNTS, interval, number, signed
from bench.stats import diff_ci
from tssd.api import atomic_write_text

Frame = pd.DataFrame | list[dict[str, Any]]  # a CSV's rows: a frame, or dicts frames.frame reads
DELTA_VERDICTS = ("above", "below", "unclear", "equal")
"""A difference to the baseline: its 95 % interval above 0, below 0, covering 0, or the same
value in every seed (counts such as parameters)."""
ABOVE, BELOW, UNCLEAR, EQUAL = DELTA_VERDICTS
WELCH_MARK = "†"
"""Marks a difference whose two cells ran different seeds (Welch's interval, not the paired one)."""
SUBCOLUMNS = ("ours", "ref", "delta", "base")


@dataclass
class Shown:
    """Layout columns (or rows) that map to the same cells, shown as one."""

    items: list[Any]
    label: str
    match: dict[str, Scalar] | None
    metric: str = ""


def _mapping(profile: Profile, axis: str, name: Scalar):
    return (profile.datasets if axis == "dataset" else profile.archs)[str(name)]


Labeller = Callable[[Any, str, list[str]], str]


def _merge(items: list[Any], profile: Profile, label: Labeller, metric=lambda _: "") -> list[Shown]:
    """``items`` merged where their mapped matches coincide, each labelled by ``label(first item,
    the stand-ins' labels, the items' labels)``."""
    out: list[Shown] = []
    for it in items:
        m = None if it.match is None else mapped_match(it.match, profile)
        same = [d for d in out if m is not None and (d.match, d.metric) == (m, metric(it))]
        if same:
            same[0].items.append(it)
        else:
            out.append(Shown([it], it.label, m, metric(it)))
    for d in out:
        first = d.items[0]
        stand = [
            _mapping(profile, a, first.match[a]).label
            for a in MAPPED_AXES
            if d.match and a in d.match and str(d.match[a]) != str(first.match.get(a))
        ]
        d.label = label(first, ", ".join(stand), [it.label for it in d.items])
    return out


def display_columns(layout: Layout, profile: Profile) -> list[Shown]:
    """The layout's columns after the profile's mapping, merged where they coincide."""

    def label(col, stand: str, labels: list[str]) -> str:
        if col.metric is not None:  # a metric column keeps its name; the caption names the stand-in
            return col.label
        return f"{stand} (for {', '.join(labels)})" if stand else " / ".join(labels)

    return _merge(layout.columns, profile, label, lambda c: c.metric or layout.metric)


def display_rows(layout: Layout, profile: Profile) -> list[Shown]:
    """The layout's rows after mapping (the paper's setting first, the stand-in that ran it
    second); reported-only rows are kept only under ``paper``."""
    rows = [r for r in layout.rows if r.match is not None or profile.compare == "paper"]
    return _merge(rows, profile, lambda _, s, labels: " / ".join(labels) + (f" [{s}]" if s else ""))


def stand_in_note(layout: Layout, profile: Profile) -> str:
    """``digits for cifar10, cifar100; micro_cnn for resnet19`` (empty when nothing is mapped)."""
    found: dict[str, list[str]] = {}
    for match in [c.match for c in layout.columns] + [r.match for r in layout.rows if r.match]:
        for axis in (a for a in MAPPED_AXES if a in match):
            name, m = str(match[axis]), _mapping(profile, axis, match[axis])
            if m.stand_in != name and name not in found.setdefault(m.label, []):
                found[m.label].append(name)
    return "; ".join(f"{stand} for {', '.join(names)}" for stand, names in found.items())


@dataclass
class Entry:
    """What one (row, column) of a table shows: subcolumn -> text ("" where it has no value)."""

    text: dict[str, str]
    ref_value: float = math.nan
    seeds: dict[int, float] = field(default_factory=dict)
    """Every finished seed's value (from ``<id>_runs.csv``), for differences and the bold rule."""
    welch: bool = False
    bold: bool = False
    ref_bold: bool = False

    def has(self, kind: str) -> bool:
        """Whether subcolumn ``kind`` holds a value here (a number, not a placeholder)."""
        return not math.isnan(self.ref_value) if kind == "ref" else bool(self.text[kind])

    def cell(self, kind: str) -> str:
        """Subcolumn ``kind``'s cell: ``--`` where empty, bold where best."""
        bold = {"ours": self.bold, "ref": self.ref_bold}.get(kind, False)
        return (tb.Bold if bold else str)(self.text[kind] or "--")


def _keys(match: dict[str, Scalar] | None) -> dict[str, str]:
    return {k: fmt_value(v) for k, v in (match or {}).items()}


def _has(row: dict[str, Any], keys: dict[str, str]) -> bool:
    return all(row.get(k, "") == v for k, v in keys.items())


def baseline_rows(layout: Layout, profile: Profile, drows: list[Shown]) -> dict[int, int]:
    """Display row -> its baseline: of the rows matching the layout's ``baseline``, the most
    specific whose keys the row shares (``Baseline (T=2)`` for ``TSSD (T=2)``)."""
    if layout.baseline is None:
        return {}
    want = _keys(mapped_match(layout.baseline, profile))
    keys = [None if d.match is None else _keys(d.match) for d in drows]
    bases = [i for i, k in enumerate(keys) if k is not None and want.items() <= k.items()]
    out = {}
    for i, k in enumerate(keys):
        fits = [b for b in bases if k is not None and keys[b].items() <= (k | want).items()]
        if fits and i not in bases:  # ties: the first in the layout's order
            out[i] = max(fits, key=lambda b: len(keys[b]))
    return out


def fmt_difference(a: dict[int, float], b: dict[int, float], digits: int) -> tuple[str, bool]:
    """``+0.52 [+0.10, +0.94] above`` for ``mean(a) - mean(b)`` and whether it is Welch's."""
    d, lo, hi, how = diff_ci(a, b)
    if math.isnan(d):
        return "", False
    if a and set(a) == set(b) and all(a[s] == b[s] for s in a):
        return f"{signed(0.0, digits)} {EQUAL}", False  # no interval: exactly equal
    if math.isnan(lo):
        return f"{signed(d, digits)} [n/a] {UNCLEAR}", False  # fewer than 2 seeds a side
    welch = how.startswith("Welch")
    verdict = ABOVE if lo > 0 else BELOW if hi < 0 else UNCLEAR
    return f"{interval(d, lo, hi, digits)} {verdict}" + (WELCH_MARK if welch else ""), welch


def _entry(agg: dict | None, reported: float, metric: str, digits: int, seeds: dict) -> Entry:
    """One cell's entry; ``reported``: the paper's value to fall back on (NaN: none)."""
    if agg is None:  # a reported-only row, or no aggregate: the paper's value at most
        text = {"ours": "--", "ref": number(reported, metric, digits), "delta": "", "base": ""}
        return Entry(text, reported)
    mean, std = agg["mean"], agg["std"]
    finished = agg["status"] in ("ok", "partial") and not math.isnan(mean)
    if agg["status"] == "failed" or not finished:
        ours = "failed" if agg["status"] == "failed" else "not run"
    else:
        ours = number(mean, metric, digits)
        if not math.isnan(std) and not (std == 0 and metric in COUNTS):
            ours += " ± " + number(std, metric, digits)
        ours += " (fail)" if agg["verdict"] == "fail" else ""  # outside the reference's tolerance
    ref = reported if math.isnan(agg["reported"]) else agg["reported"]
    delta = "" if math.isnan(agg["delta"]) else signed(agg["delta"], digits)
    text = {"ours": ours, "ref": number(ref, metric, digits), "delta": delta, "base": ""}
    return Entry(text, ref, seeds.get(agg["cell"], {}) if finished else {})


def _grid(
    layout: Layout,
    profile: Profile,
    drows: list[Shown],
    dcols: list[Shown],
    rows: list[dict[str, Any]],
    runs: Frame | None,
) -> list[list[Entry]]:
    """Per display row and column its entry, with the difference to the baseline and bold."""
    runs = frames.frame(runs if runs is not None else [], RUNS)
    per_seed = {m: frames.seed_values(runs, m) for m in {c.metric for c in dcols}}
    paper, grid = profile.compare == "paper", []
    for dr in drows:
        grid.append([])
        for dc in dcols:
            rep = dr.items[0].reported(dc.items[0].id).value
            rep = math.nan if rep is None or not (paper or dr.match is None) else rep
            want = _keys({**(dr.match or {}), **dc.match})
            found = (r for r in rows if r["metric"] == dc.metric and _has(r, want))
            cell = None if dr.match is None else next(found, None)
            grid[-1].append(_entry(cell, rep, dc.metric, layout.digits, per_seed[dc.metric]))
    for i, b in baseline_rows(layout, profile, drows).items():
        for e, base in zip(grid[i], grid[b], strict=True):
            if e.seeds and base.seeds:
                e.text["base"], e.welch = fmt_difference(e.seeds, base.seeds, layout.digits)
    for col in zip(*grid, strict=True) if layout.bold != "none" else []:
        _mark_best(col, layout.bold, paper)
    return grid


def _mark_best(col: tuple[Entry, ...], rule: str, paper: bool) -> None:
    """Bold the row whose paired 95 % interval against every other row lies above 0 (below for
    ``min``): an intersection-union test, so a row not truly best is bold with probability at most
    2.5 % without a correction. Under ``paper`` the best reported value is bold too."""

    def better(a: dict[int, float], b: dict[int, float]) -> bool:
        _, lo, hi, _ = diff_ci(a, b)  # an undefined interval is never better
        return lo > 0 if rule == "max" else hi < 0

    cands = [e for e in col if e.seeds]
    if len(cands) >= 2:
        for e in cands:
            e.bold = all(better(e.seeds, o.seeds) for o in cands if o is not e)
    reported = [e.ref_value for e in col if not math.isnan(e.ref_value)]
    if paper and len(reported) >= 2:
        best = max(reported) if rule == "max" else min(reported)
        for e in col:
            e.ref_bold = e.ref_value == best


def build_table(
    layout: Layout, profile: Profile, agg: Frame, runs: Frame | None = None
) -> tb.Table:
    """The table both writers write: under each column the subcolumns some row has a value in;
    ``runs`` (``<id>_runs.csv``) gives the per-seed values behind differences and bold."""
    rows = frames.records(frames.frame(agg, AGGREGATE))
    drows, dcols = display_rows(layout, profile), display_columns(layout, profile)
    grid = _grid(layout, profile, drows, dcols, rows, runs)
    shown = [
        ["ours"] + [k for k in SUBCOLUMNS[1:] if any(row[j].has(k) for row in grid)]
        for j in range(len(dcols))
    ]
    ref = "Paper" if profile.compare == "paper" else "Ref."
    names = dict(zip(SUBCOLUMNS, ("Ours", ref, "Δ", "vs. baseline"), strict=True))
    body = [
        [dr.label] + [e.cell(k) for e, ks in zip(row, shown, strict=True) for k in ks]
        for dr, row in zip(drows, grid, strict=True)
    ]
    labels = [c.label for c in dcols]
    shown_by = dict(zip(labels, shown, strict=True))
    cap = _caption(layout, profile, rows, shown_by, [e for row in grid for e in row], names)
    if all(len(ks) == 1 for ks in shown):  # one subcolumn each: the column labels are the head
        return tb.Table(["Method", *labels], body, caption=cap)
    head = ["Method"] + [names[k] for ks in shown for k in ks]
    return tb.Table(head, body, [(g, len(ks)) for g, ks in shown_by.items()], cap)


def _caption(
    layout: Layout,
    profile: Profile,
    rows: list[dict[str, Any]],
    shown: dict[str, list[str]],
    es: list[Entry],
    names: dict[str, str],
) -> str:
    """What every shown subcolumn is, the bold rule, and, once, which subcolumns are left out
    (``shown``: display column label -> its subcolumns) and why."""
    ns = sorted({r["n_planned"] for r in rows if r["n_planned"]})
    seeds = f"{'/'.join(map(str, ns))} seeds" if ns else "seeds"
    done = "/".join(map(str, sorted({r["n"] for r in rows if r["n"]})))
    if done and any(r["n"] != r["n_planned"] for r in rows if r["n"] is not None):
        seeds += f" planned, {done} finished so far (a cell's n is in its CSV)"  # what ran
    paper, ref = profile.compare == "paper", names["ref"]
    welch = f"; {WELCH_MARK}: Welch's interval, the two cells ran different seeds"
    say = {
        "ref": f"{ref}: the reported value (n/a where not transcribed)."
        if paper
        else f"{ref}: the committed reference aggregate ({profile.reference_dir}), n/a where "
        "there is none.",
        "delta": f"{names['delta']} = ours − {'paper' if paper else 'ref'}.",
        "base": f"{names['base']}: ours − the baseline row of the same setting, with its 95 % "
        f"Student-t interval (paired by seed) and whether it lies above 0 ({ABOVE}), below "
        f"0 ({BELOW}) or covers 0 ({UNCLEAR}); {EQUAL}: the same value in every seed"
        + (welch if any(e.welch for e in es) else "")
        + ".",
    }
    parts = [f"{layout.title}.", f"Ours: mean ± std over {seeds}."]
    if not paper:
        parts.append(f"Profile {profile.id}: stand-in data, never compared with the paper.")
    parts += [say[k] for k in SUBCOLUMNS[1:] if any(k in ks for ks in shown.values())]
    side, word = ("above", "highest") if layout.bold == "max" else ("below", "lowest")
    rule = "the paired 95 % interval of its difference to every other row with finished runs"
    if layout.bold != "none" and any(e.bold for e in es):
        parts.append(f"Bold: significantly {word} in its column ({rule} lies {side} 0).")
    elif layout.bold != "none" and sum(1 for e in es if e.seeds) >= 2:
        parts.append(
            f"No row is bold: none is significantly best in its column ({rule} would lie {side} 0)."
        )
    if any(e.ref_bold for e in es):
        parts.append(f"Bold {ref.lower()} value: the {word} reported, as the paper marks it.")
    why = {
        "ref": {
            "paper": "no transcribed or cited value",
            "reference": "no committed reference value",
            "none": f"profile {profile.id} compares with nothing; its verdicts are its claims",
        }[profile.compare],
        "delta": "nothing is compared",
        "base": "the layout names no baseline row"
        if layout.baseline is None
        else "no row and its baseline row both have per-seed values",
    }
    left = []
    for k in SUBCOLUMNS[1:]:
        lacking = [g for g, ks in shown.items() if k not in ks]
        under = f" under {', '.join(lacking)}" if len(lacking) < len(shown) else ""
        left += [f"{names[k]}{under} ({why[k]})"] if lacking else []
    if left:
        parts.append("Left out, having no value in any row: " + "; ".join(left) + ".")
    if note := stand_in_note(layout, profile):
        parts.append(f"Stand-ins: {note}.")
    return " ".join(parts + ([layout.caption] if layout.caption else []))


def render_latex(layout: Layout, profile: Profile, agg: Frame, runs: Frame | None = None) -> str:
    """The booktabs table (its header comment says it needs only ``tb.PREAMBLE``)."""
    cmd = f"python -m bench render {layout.id} --profile {profile.id}"
    return tb.to_latex(
        build_table(layout, profile, agg, runs),
        tb.latex_label("tab", f"{layout.id}-{profile.id}"),
        [f"generated by `{cmd}`; do not edit", f"needs {tb.PREAMBLE} in the preamble"],
    )


def render_markdown(
    layout: Layout,
    profile: Profile,
    agg: Frame,
    claims: list[ClaimResult] | None = None,
    runs: Frame | None = None,
) -> str:
    """The Markdown twin of :func:`render_latex` (the same cells and caption), with the claims."""
    t = build_table(layout, profile, agg, runs)
    out = [f"### {layout.id}: {layout.title} ({profile.id} profile)", "", t.caption, ""]
    out += tb.to_markdown(t)
    if claims:
        rows = [
            [
                f"{r.claim.id}: {r.claim.text}",
                r.claim.source + (" (gating)" if r.claim.gate else ""),
            ]
            + [r.verdict, r.summary]
            for r in claims
        ]
        out += ["", *tb.to_markdown(tb.Table(["claim", "source", "verdict", "detail"], rows))]
    return "\n".join(out) + "\n"


_WORDS = ("Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine")


def macro_name(*parts: str) -> str:
    """A LaTeX macro name from free text (letters only: digits become words, ``.`` ``Pt``)."""
    out = []
    for tok in (t for part in parts for t in re.split(r"[^A-Za-z0-9.]+", part) if t):
        word = "".join(_WORDS[int(c)] if c.isdigit() else "Pt" if c == "." else c for c in tok)
        out.append(word[:1].upper() + word[1:])
    return "".join(out)


def render_macros(profile: Profile, results_dir: Path) -> str:
    """``macros.tex``: every accuracy mean and std and every claim verdict of the profile."""
    macros: dict[str, str] = {}  # the first of a name wins
    for path in sorted(results_dir.glob("*.csv")):
        if not set(frames.header_of(path)) >= {"cell", "metric", "mean", "std", "status"}:
            continue  # runs, claims, curves, figure data: not an aggregate
        for r in frames.records(frames.read(path, AGGREGATE)):
            if r["metric"] == "test_acc" and r["status"] in ("ok", "partial"):
                base = macro_name(profile.id, path.stem, r["cell"], r["metric"])
                for suffix, key in (("Mean", "mean"), ("Std", "std")):
                    if not math.isnan(r[key]):
                        macros.setdefault(base + suffix, number(r[key], r["metric"], 2))
        for res in frames.read_claims(results_dir / f"{path.stem}_claims.csv"):
            name = macro_name(profile.id, path.stem, "claim", res.claim.id)
            macros.setdefault(name, tb.latex_escape(res.verdict))
    lines = [
        f"% generated by `python -m bench render` for profile {profile.id}; do not edit",
        "% \\<profile><experiment><cell><metric>{Mean,Std} and \\<profile><experiment>Claim<id>",
    ]
    return "\n".join(lines + [rf"\newcommand{{\{n}}}{{{v}}}" for n, v in macros.items()]) + "\n"


def render_table(
    layout: Layout, profile: Profile, results_dir: Path, name: str | None = None
) -> list[Path]:
    """Write ``<name>.tex`` and ``<name>.md`` from ``<name>.csv`` and its claims and runs CSVs;
    ``name``: the experiment's id (default: the layout's, as for every shipped experiment)."""
    name = name or layout.id
    agg = frames.read(results_dir / f"{name}.csv", AGGREGATE)
    claims = frames.read_claims(results_dir / f"{name}_claims.csv")
    runs = frames.read(results_dir / f"{name}_runs.csv", RUNS, missing_ok=True)
    tex, md = results_dir / f"{name}.tex", results_dir / f"{name}.md"
    atomic_write_text(tex, render_latex(layout, profile, agg, runs))
    atomic_write_text(md, render_markdown(layout, profile, agg, claims, runs))
    return [tex, md]
