"""Aggregate CSVs -> LaTeX (booktabs) tables, their Markdown twins and ``macros.tex``.

Each table shows, per column, ``ours (mean ± std) | reference | delta``. The reference is the
paper's value under the ``paper`` profile and the committed quick reference under ``quick`` (whose
stand-in numbers are never compared with the paper's). Columns (and rows) whose paper datasets or
architectures map to the same stand-in are one column, labelled with the stand-in and the names it
stands for. Missing values render as ``n/a``, failed cells as ``failed``, cells without a finished
run as ``not run``; the best of our numbers per column is bold (the layout's ``bold`` rule).
Rendering reads only the CSVs, the layout and the profile.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from bench.aggregate import num, read_csv, unit_of
from bench.compare import mapped_match
from bench.expand import fmt_value
from bench.schema import MAPPED_AXES, Layout, Profile, Row, Scalar

COUNTS = ("params", "train_params", "weak_head_params", "macs_per_sample")
"""Metrics that are counts: shown as k/M/G, and without a spread when every seed agrees."""
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
    rows: list[dict[str, str]], match: dict[str, Scalar], metric: str
) -> dict[str, str] | None:
    """The aggregate row of the cell selected by ``match`` (first if several) for ``metric``."""
    for r in rows:
        if r["metric"] == metric and all(r.get(k, "") == fmt_value(v) for k, v in match.items()):
            return r
    return None


def fmt_number(x: float, metric: str, digits: int) -> str:
    """A metric value for display (accuracies with ``digits`` decimals, counts as k/M/G)."""
    if math.isnan(x):
        return "n/a"
    if metric in COUNTS:
        for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(x) >= div:
                return f"{x / div:.3g}{suffix}"
        return f"{x:.0f}"
    unit = unit_of(metric)
    if unit == "%":
        return f"{x:.{digits}f}"
    if unit == "MB":
        return f"{x:.0f}"
    if unit == "s":
        return f"{x:.1f}" if abs(x) < 100 else f"{x:.0f}"
    return f"{x:.3g}"


@dataclass
class Entry:
    """What one (row, column) of a rendered table shows."""

    ours: str
    ref: str
    delta: str
    mean: float
    verdict: str


def table_entries(
    layout: Layout, profile: Profile, rows: list[dict[str, str]]
) -> tuple[list[DisplayRow], list[DisplayColumn], dict[tuple[int, int], Entry]]:
    """Everything a table shows, independent of the output format."""
    drows, dcols = display_rows(layout, profile), display_columns(layout, profile)
    entries: dict[tuple[int, int], Entry] = {}
    for i, dr in enumerate(drows):
        for j, dc in enumerate(dcols):
            rep = dr.rows[0].reported(dc.ids[0])
            paper = rep.value if rep.value is not None else math.nan
            agg = None if dr.match is None else find_row(rows, {**dr.match, **dc.match}, dc.metric)
            if agg is None:  # a reported-only row, or no aggregate: the paper's value at most
                ref_v = paper if dr.match is None or profile.compare == "paper" else math.nan
                entries[(i, j)] = Entry(
                    "--", fmt_number(ref_v, dc.metric, layout.digits), "--", math.nan, ""
                )
                continue
            mean, std = num(agg["mean"]), num(agg["std"])
            if agg["status"] == "failed":
                ours = "failed"
            elif agg["status"] == "not-run" or math.isnan(mean):
                ours = "not run"
            else:
                ours = fmt_number(mean, dc.metric, layout.digits)
                if not math.isnan(std) and not (std == 0 and dc.metric in COUNTS):
                    ours += " ± " + fmt_number(std, dc.metric, layout.digits)
            ref_v = num(agg["reported"])
            if math.isnan(ref_v) and profile.compare == "paper":
                ref_v = paper
            d = num(agg["delta"])
            entries[(i, j)] = Entry(
                ours,
                fmt_number(ref_v, dc.metric, layout.digits),
                "--" if math.isnan(d) else f"{d:+.{layout.digits}f}",
                mean if agg["status"] in ("ok", "partial") else math.nan,
                agg["verdict"],
            )
    return drows, dcols, entries


def _best(entries: dict[tuple[int, int], Entry], n_rows: int, j: int, rule: str) -> int | None:
    if rule == "none":
        return None
    cands = [
        (entries[(i, j)].mean, i)
        for i in range(n_rows)
        if (i, j) in entries and not math.isnan(entries[(i, j)].mean)
    ]
    if len(cands) < 2:
        return None
    return (max(cands) if rule == "max" else min(cands))[1]


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters in a label."""
    repl = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "±": r"$\pm$",
        "Δ": r"$\Delta$",
        "α": r"$\alpha$",
        "β": r"$\beta$",
    }
    return "".join(repl.get(ch, ch) for ch in text)


def caption(layout: Layout, profile: Profile, rows: list[dict[str, str]]) -> str:
    """The caption: title, the statistic shown and what the reference column is."""
    ns = sorted({r["n_planned"] for r in rows if r.get("n_planned")})
    seeds = f"{'/'.join(ns)} seeds" if ns else "seeds"
    if profile.compare == "paper":
        ref = "Paper: the reported value (n/a where not transcribed); $\\Delta$ = ours $-$ paper."
    elif profile.compare == "none":
        ref = (
            f"Profile {profile.id}: stand-in data, never compared with the paper; the claims "
            "(differences between rows, with their 95 % intervals) are its verdicts."
        )
    else:
        ref = (
            f"Profile {profile.id}: stand-in data, never compared with the paper; Ref.: the "
            f"committed reference aggregate ({profile.reference_dir}), n/a where there is "
            "none; $\\Delta$ = ours $-$ ref."
        )
    text = f"{latex_escape(layout.title)}. Ours: mean $\\pm$ std over {seeds}. {ref}"
    note = stand_in_note(layout, profile)
    if note:
        text += f" Stand-ins: {latex_escape(note)}."
    if layout.caption:
        text += " " + latex_escape(layout.caption)
    return text


def render_latex(layout: Layout, profile: Profile, rows: list[dict[str, str]]) -> str:
    """The booktabs table."""
    drows, dcols, entries = table_entries(layout, profile, rows)
    ref_name = "Paper" if profile.compare == "paper" else "Ref."
    k = 1 if profile.compare == "none" else 3  # columns per dataset: ours (, ref, delta)
    spec = "l" + "r" * k * len(dcols)
    lines = [
        f"% generated by `python -m bench render {layout.id} --profile {profile.id}`; do not edit",
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{caption(layout, profile, rows)}}}",
        rf"\label{{tab:{layout.id}-{profile.id}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
    ]
    if k == 1:
        lines.append(" & ".join(["Method"] + [latex_escape(c.label) for c in dcols]) + r" \\")
    else:
        head = [""] + [rf"\multicolumn{{3}}{{c}}{{{latex_escape(c.label)}}}" for c in dcols]
        lines.append(" & ".join(head) + r" \\")
        lines.append(
            " ".join(rf"\cmidrule(lr){{{2 + 3 * j}-{4 + 3 * j}}}" for j in range(len(dcols)))
        )
        sub = ["Method"] + ["Ours", ref_name, r"$\Delta$"] * len(dcols)
        lines.append(" & ".join(sub) + r" \\")
    lines.append(r"\midrule")
    best = {j: _best(entries, len(drows), j, layout.bold) for j in range(len(dcols))}
    for i, dr in enumerate(drows):
        cells = [latex_escape(dr.label)]
        for j in range(len(dcols)):
            e = entries[(i, j)]
            ours = latex_escape(e.ours)
            if best[j] == i:
                ours = rf"\textbf{{{ours}}}"
            cells += [ours] + ([latex_escape(e.ref), latex_escape(e.delta)] if k == 3 else [])
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(lines)


def render_markdown(
    layout: Layout,
    profile: Profile,
    rows: list[dict[str, str]],
    claims: list[dict[str, str]] | None = None,
) -> str:
    """The Markdown twin of :func:`render_latex`, with verdicts and the claims."""
    drows, dcols, entries = table_entries(layout, profile, rows)
    ref_name = "paper" if profile.compare == "paper" else "ref."
    cap = (
        caption(layout, profile, rows)
        .replace("$\\pm$", "±")
        .replace("$\\Delta$", "Δ")
        .replace("$-$", "−")
        .replace("\\_", "_")
    )
    out = [f"### {layout.id}: {layout.title} ({profile.id} profile)", "", cap, ""]
    head = ["method"]
    for c in dcols:
        head += [c.label] if profile.compare == "none" else [f"{c.label}: ours", ref_name, "Δ"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    best = {j: _best(entries, len(drows), j, layout.bold) for j in range(len(dcols))}
    for i, dr in enumerate(drows):
        cells = [dr.label]
        for j in range(len(dcols)):
            e = entries[(i, j)]
            ours = f"**{e.ours}**" if best[j] == i else e.ours
            if e.verdict == "fail" and e.ours not in ("failed",):
                ours += " (fail)"
            cells += [ours] if profile.compare == "none" else [ours, e.ref, e.delta]
        out.append("| " + " | ".join(cells) + " |")
    if claims:
        out += ["", "| claim | source | verdict | detail |", "|---|---|---|---|"]
        for c in claims:
            if c["group"] == "all":
                gate = " (gating)" if c["gate"] == "True" else ""
                out.append(
                    f"| {c['claim']}: {c['text']} | {c['source']}{gate} | "
                    f"{c['verdict']} | {c['note']} |"
                )
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


def render_macros(profile: Profile, results_dir: Path) -> str:
    """``macros.tex``: every accuracy mean and std and every claim verdict of the profile."""
    lines = [
        f"% generated by `python -m bench render` for profile {profile.id}; do not edit",
        "% \\<profile><experiment><cell><metric>{Mean,Std} and \\<profile><experiment>Claim<id>",
    ]
    seen: set[str] = set()
    for path in sorted(results_dir.glob("*.csv")):
        stem = path.stem
        if stem.endswith(("_claims", "_runs", "_curves", "_forest")):
            continue
        for r in read_csv(path):
            if r["metric"] != "test_acc" or r["status"] not in ("ok", "partial"):
                continue
            base = macro_name(profile.id, stem, r["cell"], r["metric"])
            for suffix, key in (("Mean", "mean"), ("Std", "std")):
                name = base + suffix
                v = num(r[key])
                if name in seen or math.isnan(v):
                    continue
                seen.add(name)
                lines.append(rf"\newcommand{{\{name}}}{{{v:.2f}}}")
        cpath = results_dir / f"{stem}_claims.csv"
        if cpath.is_file():
            for c in read_csv(cpath):
                if c["group"] != "all":
                    continue
                name = macro_name(profile.id, stem, "claim", c["claim"])
                if name not in seen:
                    seen.add(name)
                    lines.append(rf"\newcommand{{\{name}}}{{{c['verdict']}}}")
    return "\n".join(lines) + "\n"


def render_table(
    layout: Layout, profile: Profile, results_dir: Path, name: str | None = None
) -> list[Path]:
    """Write ``<name>.tex`` and ``<name>.md`` from ``<name>.csv`` (and the claims CSV); ``name``
    is the experiment's id (default: the layout's, the same for every shipped experiment)."""
    name = name or layout.id
    from tssd.runtime import atomic_write_text

    rows = read_csv(results_dir / f"{name}.csv")
    cpath = results_dir / f"{name}_claims.csv"
    claims = read_csv(cpath) if cpath.is_file() else []
    tex, md = results_dir / f"{name}.tex", results_dir / f"{name}.md"
    atomic_write_text(tex, render_latex(layout, profile, rows))
    atomic_write_text(md, render_markdown(layout, profile, rows, claims))
    return [tex, md]
