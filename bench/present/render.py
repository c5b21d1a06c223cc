"""Aggregate CSVs -> LaTeX (booktabs) tables, their Markdown twins and ``macros.tex``.

Each table shows, per column, up to four subcolumns: ours (mean ± std over seeds), the reference
(the paper's value under the ``paper`` profile, the committed quick reference under ``quick``,
whose stand-in numbers are never compared with the paper's), ours - reference, and ours - the
row's baseline (the layout's ``baseline`` row of the same setting) with its 95 % Student-t
interval, paired by seed from ``<id>_runs.csv``, and whether that interval lies above 0, below 0
or covers it (:data:`DELTA_VERDICTS`). A subcolumn without a value in any row is left out and the
caption says so once. A cell is bold only when it is significantly best in its column (its
interval against every other row lies above 0; the layout's ``bold`` says whether higher or lower
is better); the paper's own numbers are bolded as the paper does.

Columns (and rows) whose paper datasets or architectures map to the same stand-in are one column,
labelled with the stand-in and the names it stands for. Missing values render as ``n/a``, failed
cells as ``failed``, cells without a finished run as ``not run``. LaTeX and Markdown are written
from one plain-text :class:`bench.present.table.Table`, whose renderers escape every text; a table
needs only :data:`~bench.present.table.PREAMBLE`. Rendering reads only the CSVs, the layout and
the profile, and its output is a function of them, byte for byte.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.analyse import frames
from bench.analyse.claims import ClaimResult
from bench.analyse.compare import mapped_match
from bench.analyse.frames import AGGREGATE, RUNS
from bench.plan.expand import fmt_value
from bench.plan.schema import MAPPED_AXES, Layout, Profile, Row, Scalar
from bench.present.fmt import COUNTS, interval, number, signed
from bench.present.table import (
    PREAMBLE,
    Bold,
    Table,
    latex_escape,
    latex_label,
    to_latex,
    to_markdown,
)
from bench.stats import diff_ci
from tssd.api import atomic_write_text

Frame = pd.DataFrame | list[dict[str, Any]]
"""An aggregate or runs CSV's rows: a frame, or dicts (text or typed) made one by
:func:`bench.analyse.frames.frame`."""
WORDS = ["Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine"]


@dataclass
class DisplayColumn:
    """One rendered column: layout columns that map to the same cells, merged."""

    ids: list[str]
    label: str
    match: dict[str, Scalar]
    metric: str


@dataclass
class DisplayRow:
    """One rendered row: layout rows that map to the same cells, merged."""

    rows: list[Row]
    label: str
    match: dict[str, Scalar] | None


def _stand_in_label(
    match: dict[str, Scalar], original: dict[str, Scalar], profile: Profile
) -> str | None:
    parts = []
    for axis in MAPPED_AXES:
        if axis in match and str(match[axis]) != str(original.get(axis)):
            table = profile.datasets if axis == "dataset" else profile.archs
            parts.append(table[original[axis]].label)
    return ", ".join(parts) if parts else None


def display_columns(layout: Layout, profile: Profile) -> list[DisplayColumn]:
    """The layout's columns after the profile's mapping, merged where they coincide."""
    out: list[DisplayColumn] = []
    for col in layout.columns:
        m = mapped_match(col.match, profile)
        metric = col.metric or layout.metric
        for d in out:
            if d.match == m and d.metric == metric:
                d.ids.append(col.id)
                break
        else:
            out.append(DisplayColumn([col.id], col.label, m, metric))
    by_id = {c.id: c for c in layout.columns}
    for d in out:
        first = by_id[d.ids[0]]
        if first.metric is not None:
            continue  # a metric column keeps its name; the caption names the stand-in
        stand = _stand_in_label(d.match, first.match, profile)
        labels = [by_id[i].label for i in d.ids]
        if stand is not None:
            d.label = f"{stand} (for {', '.join(labels)})"
        elif len(d.ids) > 1:
            d.label = " / ".join(labels)
    return out


def stand_in_note(layout: Layout, profile: Profile) -> str:
    """``digits for cifar10, cifar100; micro_cnn for resnet19`` (empty when nothing is mapped)."""
    found: dict[str, list[str]] = {}
    matches = [c.match for c in layout.columns] + [r.match for r in layout.rows if r.match]
    for match in matches:
        for axis in MAPPED_AXES:
            if axis not in match:
                continue
            table = profile.datasets if axis == "dataset" else profile.archs
            m = table[str(match[axis])]
            if m.stand_in != str(match[axis]):
                names = found.setdefault(m.label, [])
                if str(match[axis]) not in names:
                    names.append(str(match[axis]))
    return "; ".join(f"{stand} for {', '.join(names)}" for stand, names in found.items())


def display_rows(layout: Layout, profile: Profile) -> list[DisplayRow]:
    """The layout's rows after mapping; reported-only rows are kept only under ``paper``."""
    out: list[DisplayRow] = []
    for row in layout.rows:
        if row.match is None:
            if profile.compare == "paper":
                out.append(DisplayRow([row], row.label, None))
            continue
        m = mapped_match(row.match, profile)
        for d in out:
            if d.match == m:
                d.rows.append(row)
                break
        else:
            out.append(DisplayRow([row], row.label, m))
    for d in out:
        if d.match is None:
            continue
        stand = _stand_in_label(d.match, d.rows[0].match or {}, profile)
        if stand is not None or len(d.rows) > 1:
            # rows name the paper's setting first, the stand-in that ran it second
            d.label = " / ".join(r.label for r in d.rows) + (f" [{stand}]" if stand else "")
    return out


def find_row(
    rows: list[dict[str, Any]], match: dict[str, Scalar], metric: str
) -> dict[str, Any] | None:
    """The aggregate row of the cell selected by ``match`` (first if several) for ``metric``."""
    for r in rows:
        if r["metric"] == metric and all(r.get(k, "") == fmt_value(v) for k, v in match.items()):
            return r
    return None


DELTA_VERDICTS = ("above", "below", "unclear", "equal")
"""What a row's difference to its baseline says, from its 95 % interval: above 0, below 0, or
covering 0, or equal: the same value in every seed (counts such as parameters). The one place these
words are defined (claims' verdicts are :mod:`bench.analyse.claims`')."""
ABOVE, BELOW, UNCLEAR, EQUAL = DELTA_VERDICTS
WELCH_MARK = "†"
"""Marks a difference whose two cells ran different seeds (Welch's interval, not the paired one)."""
SUBCOLUMNS = ("ours", "ref", "delta", "base")
"""What each rendered column shows: ours (mean ± std), the reference, ours - reference, ours -
the row's baseline; each kind is left out when no row has a value in it."""


@dataclass
class Entry:
    """What one (row, column) of a rendered table shows."""

    ours: str
    ref: str
    delta: str
    base: str = ""
    """ours - the baseline row with its interval and verdict; empty when there is no comparison."""
    mean: float = math.nan
    ref_value: float = math.nan
    verdict: str = ""
    seeds: dict[int, float] = field(default_factory=dict)
    """Every finished seed's value (from ``<id>_runs.csv``), for differences and the bold rule."""
    welch: bool = False
    bold: bool = False
    ref_bold: bool = False

    def text(self, kind: str) -> str:
        """The text of subcolumn ``kind`` (one of :data:`SUBCOLUMNS`)."""
        return {"ours": self.ours, "ref": self.ref, "delta": self.delta, "base": self.base}[kind]

    def has(self, kind: str) -> bool:
        """Whether subcolumn ``kind`` holds a value here (a number, not a placeholder)."""
        if kind == "ref":
            return not math.isnan(self.ref_value)
        if kind == "delta":
            return self.delta != "--"
        if kind == "base":
            return self.base != ""
        return True


def _keys(match: dict[str, Scalar] | None) -> dict[str, str]:
    return {k: fmt_value(v) for k, v in (match or {}).items()}


def baseline_rows(layout: Layout, profile: Profile, drows: list[DisplayRow]) -> dict[int, int]:
    """Display row -> its baseline display row: among the rows that match the layout's
    ``baseline`` keys, the most specific one whose other keys the row shares (``Baseline (T=2)``
    for ``TSSD (T=2)``, ``Baseline`` for a weak-head variant). Baseline rows have none."""
    if layout.baseline is None:
        return {}
    want = _keys(mapped_match(layout.baseline, profile))
    bases = [
        i
        for i, d in enumerate(drows)
        if d.match is not None and want.items() <= _keys(d.match).items()
    ]
    out = {}
    for i, d in enumerate(drows):
        if d.match is None or i in bases:
            continue
        target = _keys(d.match) | want
        fits = [b for b in bases if _keys(drows[b].match).items() <= target.items()]
        if fits:  # ties: the first in the layout's order (max keeps the first maximum)
            out[i] = max(fits, key=lambda b: len(_keys(drows[b].match)))
    return out


def delta_verdict(lo: float, hi: float) -> str:
    """:data:`ABOVE` when the interval lies above 0, :data:`BELOW` below it, else unclear."""
    if lo > 0:
        return ABOVE
    if hi < 0:
        return BELOW
    return UNCLEAR


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
    text = f"{interval(d, lo, hi, digits)} {delta_verdict(lo, hi)}"
    return text + (WELCH_MARK if welch else ""), welch


def table_entries(
    layout: Layout, profile: Profile, agg: Frame, runs: Frame | None = None
) -> tuple[list[DisplayRow], list[DisplayColumn], dict[tuple[int, int], Entry]]:
    """Everything a table shows, independent of the output format. ``runs`` (the rows of
    ``<id>_runs.csv``) gives the per-seed values behind differences to the baseline and bold."""
    drows, dcols = display_rows(layout, profile), display_columns(layout, profile)
    rows = frames.records(frames.frame(agg, AGGREGATE))
    runs = frames.frame(runs if runs is not None else [], RUNS)
    per_seed = {m: frames.seed_values(runs, m) for m in {c.metric for c in dcols}}
    entries: dict[tuple[int, int], Entry] = {}
    for i, dr in enumerate(drows):
        for j, dc in enumerate(dcols):
            rep = dr.rows[0].reported(dc.ids[0])
            paper = rep.value if rep.value is not None else math.nan
            agg = None if dr.match is None else find_row(rows, {**dr.match, **dc.match}, dc.metric)
            if agg is None:  # a reported-only row, or no aggregate: the paper's value at most
                ref_v = paper if dr.match is None or profile.compare == "paper" else math.nan
                ref = number(ref_v, dc.metric, layout.digits)
                entries[(i, j)] = Entry("--", ref, "--", ref_value=ref_v)
                continue
            mean, std = agg["mean"], agg["std"]
            finished = agg["status"] in ("ok", "partial") and not math.isnan(mean)
            if agg["status"] == "failed":
                ours = "failed"
            elif not finished:
                ours = "not run"
            else:
                ours = number(mean, dc.metric, layout.digits)
                if not math.isnan(std) and not (std == 0 and dc.metric in COUNTS):
                    ours += " ± " + number(std, dc.metric, layout.digits)
                if agg["verdict"] == "fail":
                    ours += " (fail)"  # outside the reference's tolerance
            ref_v = agg["reported"]
            if math.isnan(ref_v) and profile.compare == "paper":
                ref_v = paper
            d = agg["delta"]
            entries[(i, j)] = Entry(
                ours,
                number(ref_v, dc.metric, layout.digits),
                "--" if math.isnan(d) else signed(d, layout.digits),
                mean=mean if finished else math.nan,
                ref_value=ref_v,
                verdict=agg["verdict"],
                seeds=per_seed[dc.metric].get(agg["cell"], {}) if finished else {},
            )
    for i, b in baseline_rows(layout, profile, drows).items():
        for j in range(len(dcols)):
            e, base = entries[(i, j)], entries[(b, j)]
            if e.seeds and base.seeds:
                e.base, e.welch = fmt_difference(e.seeds, base.seeds, layout.digits)
    _mark_best(entries, len(drows), len(dcols), layout.bold, profile.compare == "paper")
    return drows, dcols, entries


def _mark_best(
    entries: dict[tuple[int, int], Entry], n_rows: int, n_cols: int, rule: str, paper: bool
) -> None:
    """Bold, per column, the row that is significantly best: its 95 % interval (paired by seed,
    :func:`bench.stats.diff_ci`) against every other row with finished runs lies above 0 (below
    for ``min``). Requiring every pairwise interval at once is an intersection-union test: it needs
    no multiplicity correction, and a row that is not truly the best is bolded with probability at
    most 2.5 % (one side of a 95 % interval). Under the paper profile the reported values are
    bolded as the paper does: the best reported number of the column."""
    if rule == "none":
        return
    for j in range(n_cols):
        col = [entries[(i, j)] for i in range(n_rows)]
        cands = [e for e in col if e.seeds]
        if len(cands) >= 2:
            for e in cands:
                e.bold = all(_better(e.seeds, o.seeds, rule) for o in cands if o is not e)
        reported = [e.ref_value for e in col if not math.isnan(e.ref_value)]
        if paper and len(reported) >= 2:
            best = max(reported) if rule == "max" else min(reported)
            for e in col:
                e.ref_bold = e.ref_value == best


def _better(a: dict[int, float], b: dict[int, float], rule: str) -> bool:
    """Whether ``a`` is significantly better than ``b`` (an undefined interval never is)."""
    _, lo, hi, _ = diff_ci(a, b)
    return lo > 0 if rule == "max" else hi < 0


def build_table(layout: Layout, profile: Profile, agg: Frame, runs: Frame | None = None) -> Table:
    """The table both :func:`render_latex` and :func:`render_markdown` write.

    A subcolumn is shown under a display column when some row has a value in it (``ours``
    always: it says ``not run`` or ``failed`` where there is no number)."""
    agg = frames.frame(agg, AGGREGATE)
    drows, dcols, entries = table_entries(layout, profile, agg, runs)
    shown = [
        ["ours"]
        + [k for k in SUBCOLUMNS[1:] if any(entries[(i, j)].has(k) for i in range(len(drows)))]
        for j in range(len(dcols))
    ]
    ref_name = "Paper" if profile.compare == "paper" else "Ref."
    names = {"ours": "Ours", "ref": ref_name, "delta": "Δ", "base": "vs. baseline"}
    body = []
    for i, dr in enumerate(drows):
        cells = [dr.label]
        for j in range(len(dcols)):
            e = entries[(i, j)]
            bold = {"ours": e.bold, "ref": e.ref_bold}
            cells += [(Bold if bold.get(k) else str)(e.text(k) or "--") for k in shown[j]]
        body.append(cells)
    labels = [c.label for c in dcols]
    shown_by = dict(zip(labels, shown, strict=True))
    cap = caption_text(layout, profile, frames.records(agg), shown_by, entries, names)
    if all(len(ks) == 1 for ks in shown):  # one subcolumn each: the column labels are the head
        return Table(["Method", *labels], body, caption=cap)
    head = ["Method"] + [names[k] for ks in shown for k in ks]
    return Table(head, body, [(g, len(ks)) for g, ks in shown_by.items()], cap)


def caption_text(
    layout: Layout,
    profile: Profile,
    rows: list[dict[str, Any]],
    shown: dict[str, list[str]],
    entries: dict[tuple[int, int], Entry],
    names: dict[str, str],
) -> str:
    """The caption as plain text: what every shown subcolumn is, the bold rule, and, once, which
    subcolumns are left out (``shown``: display column label -> its subcolumns) and why."""
    ns = sorted({r["n_planned"] for r in rows if r["n_planned"]})
    seeds = f"{'/'.join(map(str, ns))} seeds" if ns else "seeds"
    done = {r["n"] for r in rows if r["n"]}
    partial = any(r["n"] != r["n_planned"] for r in rows if r["n"] is not None)
    if partial and done:  # say what ran, not only what was planned
        ran = "/".join(map(str, sorted(done)))
        seeds += f" planned, {ran} finished so far (a cell's n is in its CSV)"
    parts = [f"{layout.title}.", f"Ours: mean ± std over {seeds}."]
    ref, delta = names["ref"], names["delta"]
    anywhere = {k for ks in shown.values() for k in ks}
    if profile.compare == "paper":
        if "ref" in anywhere:
            parts.append(f"{ref}: the reported value (n/a where not transcribed).")
        if "delta" in anywhere:
            parts.append(f"{delta} = ours − paper.")
    else:
        parts.append(f"Profile {profile.id}: stand-in data, never compared with the paper.")
        if "ref" in anywhere:
            parts.append(
                f"{ref}: the committed reference aggregate ({profile.reference_dir}), n/a where "
                "there is none."
            )
        if "delta" in anywhere:
            parts.append(f"{delta} = ours − ref.")
    if "base" in anywhere:
        text = (
            f"{names['base']}: ours − the baseline row of the same setting, with its 95 % "
            f"Student-t interval (paired by seed) and whether it lies above 0 ({ABOVE}), below "
            f"0 ({BELOW}) or covers 0 ({UNCLEAR}); {EQUAL}: the same value in every seed"
        )
        if any(e.welch for e in entries.values()):
            text += f"; {WELCH_MARK}: Welch's interval, the two cells ran different seeds"
        parts.append(text + ".")
    if layout.bold != "none" and any(e.bold for e in entries.values()):
        side, word = ("above", "highest") if layout.bold == "max" else ("below", "lowest")
        parts.append(
            f"Bold: significantly {word} in its column (the paired 95 % interval of its "
            f"difference to every other row with finished runs lies {side} 0)."
        )
    elif layout.bold != "none" and sum(1 for e in entries.values() if e.seeds) >= 2:
        parts.append(
            "No row is bold: none is significantly best in its column (the paired 95 % interval "
            "of its difference to every other row with finished runs would lie "
            f"{'above' if layout.bold == 'max' else 'below'} 0)."
        )
    if any(e.ref_bold for e in entries.values()):
        word = "highest" if layout.bold == "max" else "lowest"
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
        if lacking and len(lacking) < len(shown):
            left.append(f"{names[k]} under {', '.join(lacking)} ({why[k]})")
        elif lacking:
            left.append(f"{names[k]} ({why[k]})")
    if left:
        parts.append("Left out, having no value in any row: " + "; ".join(left) + ".")
    note = stand_in_note(layout, profile)
    if note:
        parts.append(f"Stand-ins: {note}.")
    if layout.caption:
        parts.append(layout.caption)
    return " ".join(parts)


def render_latex(layout: Layout, profile: Profile, agg: Frame, runs: Frame | None = None) -> str:
    """The booktabs table (needs only :data:`PREAMBLE`, said in its header comment)."""
    return to_latex(
        build_table(layout, profile, agg, runs),
        latex_label("tab", f"{layout.id}-{profile.id}"),
        [
            f"generated by `python -m bench render {layout.id} --profile {profile.id}`; "
            "do not edit",
            f"needs {PREAMBLE} in the preamble",
        ],
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
    out += to_markdown(t)
    if claims:
        rows = [
            [
                f"{r.claim.id}: {r.claim.text}",
                r.claim.source + (" (gating)" if r.claim.gate else ""),
                r.verdict,
                r.summary,
            ]
            for r in claims
        ]
        out += ["", *to_markdown(Table(["claim", "source", "verdict", "detail"], rows))]
    return "\n".join(out) + "\n"


def macro_name(*parts: str) -> str:
    """A LaTeX macro name from free text (letters only: digits become words)."""
    out = []
    for part in parts:
        for tok in re.split(r"[^A-Za-z0-9.]+", part):
            if not tok:
                continue
            word = "".join(WORDS[int(c)] if c.isdigit() else "Pt" if c == "." else c for c in tok)
            out.append(word[:1].upper() + word[1:])
    return "".join(out)


AGGREGATE_KEYS = {"cell", "metric", "mean", "std", "status"}
"""The columns that make a CSV an aggregate (the other CSVs beside it have other headers)."""


def render_macros(profile: Profile, results_dir: Path) -> str:
    """``macros.tex``: every accuracy mean and std and every claim verdict of the profile."""
    lines = [
        f"% generated by `python -m bench render` for profile {profile.id}; do not edit",
        "% \\<profile><experiment><cell><metric>{Mean,Std} and \\<profile><experiment>Claim<id>",
    ]
    seen: set[str] = set()
    for path in sorted(results_dir.glob("*.csv")):
        stem = path.stem
        if not set(frames.header_of(path)) >= AGGREGATE_KEYS:
            continue  # runs, claims, curves, figure data: not an aggregate
        for r in frames.records(frames.read(path, AGGREGATE)):
            if r["metric"] != "test_acc" or r["status"] not in ("ok", "partial"):
                continue
            base = macro_name(profile.id, stem, r["cell"], r["metric"])
            for suffix, key in (("Mean", "mean"), ("Std", "std")):
                name = base + suffix
                if name in seen or math.isnan(r[key]):
                    continue
                seen.add(name)
                lines.append(rf"\newcommand{{\{name}}}{{{number(r[key], r['metric'], 2)}}}")
        for res in frames.read_claims(results_dir / f"{stem}_claims.csv"):
            name = macro_name(profile.id, stem, "claim", res.claim.id)
            if name not in seen:
                seen.add(name)
                lines.append(rf"\newcommand{{\{name}}}{{{latex_escape(res.verdict)}}}")
    return "\n".join(lines) + "\n"


def render_table(
    layout: Layout, profile: Profile, results_dir: Path, name: str | None = None
) -> list[Path]:
    """Write ``<name>.tex`` and ``<name>.md`` from ``<name>.csv`` (and the claims and runs CSVs:
    the runs' per-seed values give the differences to the baseline and the bold); ``name`` is the
    experiment's id (default: the layout's, the same for every shipped experiment)."""
    name = name or layout.id
    agg = frames.read(results_dir / f"{name}.csv", AGGREGATE)
    claims = frames.read_claims(results_dir / f"{name}_claims.csv")
    runs = frames.read(results_dir / f"{name}_runs.csv", RUNS, missing_ok=True)
    tex, md = results_dir / f"{name}.tex", results_dir / f"{name}.md"
    atomic_write_text(tex, render_latex(layout, profile, agg, runs))
    atomic_write_text(md, render_markdown(layout, profile, agg, claims, runs))
    return [tex, md]
