"""Rendering from aggregate CSV rows: merged stand-in columns, paper values, failures, the paired
difference to the baseline, the bold rule, left-out columns, determinism, figures."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.analyse import frames
from bench.analyse.frames import AGGREGATE, RUNS
from bench.plan.schema import SpecError, load_layout, load_profile
from bench.present.render import (
    ABOVE,
    BELOW,
    UNCLEAR,
    WELCH_MARK,
    build_table,
    display_columns,
    macro_name,
    render_latex,
    render_macros,
    render_markdown,
    stand_in_note,
)
from bench.present.table import latex_escape

pytestmark = pytest.mark.unit


def agg(
    method,
    dataset,
    mean,
    std="0.5",
    status="ok",
    verdict="no-reference",
    reported="",
    delta="",
    t_s="5",
    arch="vgg9",
):
    return {
        "cell": f"method={method},dataset={dataset},t_s={t_s}",
        "method": method,
        "dataset": dataset,
        "arch": arch,
        "t_s": t_s,
        "metric": "test_acc",
        "mean": mean,
        "std": std,
        "status": status,
        "verdict": verdict,
        "reported": reported,
        "delta": delta,
        "n": "3",
        "n_planned": "3",
        "reason": "",
    }


def seeds(method, dataset, values, t_s="5", status="finished"):
    """Rows of ``<id>_runs.csv`` for the cell :func:`agg` names: one per ``{seed: value}``."""
    return [
        {
            "cell": f"method={method},dataset={dataset},t_s={t_s}",
            "seed": str(seed),
            "role": "cell",
            "status": status,
            "test_acc": str(v),
        }
        for seed, v in values.items()
    ]


def test_quick_columns_merge_and_are_labelled_with_the_stand_in():
    cols = display_columns(load_layout("paper_tables/table1.yaml"), load_profile("quick"))
    assert [c.label for c in cols] == [
        "digits (for CIFAR10, CIFAR100)",
        "digits-DVS (for CIFAR10-DVS, DVS-Gesture)",
    ]
    note = stand_in_note(load_layout("paper_tables/table1.yaml"), load_profile("quick"))
    assert note == "digits for cifar10, cifar100; digits-DVS for cifar10_dvs, dvs_gesture"
    assert stand_in_note(load_layout("paper_tables/table1.yaml"), load_profile("paper")) == ""
    paper = display_columns(load_layout("paper_tables/table1.yaml"), load_profile("paper"))
    assert [c.label for c in paper] == ["CIFAR10", "CIFAR100", "CIFAR10-DVS", "DVS-Gesture"]


def test_paper_table_shows_cited_values_deltas_and_failures():
    layout, paper = load_layout("paper_tables/table4.yaml"), load_profile("paper")
    rows = [
        agg("baseline", "cifar10_dvs", "70.1"),
        agg("baseline", "dvs_gesture", "", "", status="failed", verdict="fail"),
        agg("tssd", "cifar10_dvs", "72.5", reported="72.9", delta="-0.4", verdict="pass"),
        agg("tssd", "dvs_gesture", "88.0", reported="86.69", delta="1.31", verdict="pass"),
    ]
    tex = render_latex(layout, paper, rows)
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\cmidrule(lr){2-4}" in tex
    # no per-seed values: nothing can be shown significantly best, so nothing is bold
    assert r"TSSD (VGG-9, T=5) & 72.50 $\pm$ 0.50 & 72.90 & -0.40" in tex
    assert r"\textbf" not in tex
    assert r"Baseline (VGG-9, T=5) & 70.10 $\pm$ 0.50 & n/a & --" in tex
    assert "& failed & n/a & --" in tex
    md = render_markdown(layout, paper, rows)
    assert "| TSSD (VGG-9, T=5) | 72.50 ± 0.50 | 72.90 | -0.40 |" in md
    assert "failed" in md
    # the difference to the baseline needs the runs: its absence is said once, in the caption
    assert "Left out, having no value in any row: vs. baseline (" in md
    assert md.count("vs. baseline") == 1


def table2_small(tssd_t2, base_t2, tssd_t4=None, base_t4=None):
    """Table 2 under the small profile: aggregates and runs of T_s 1, 2 (and 4) on
    Fashion-MNIST; the T_s=1 baseline is far below every other cell, so a row compared with the
    wrong baseline shows a difference of about +10."""
    layout, small = load_layout("paper_tables/table2.yaml"), load_profile("small")
    cells = {("baseline", "1"): {0: 70.0, 1: 71.0, 2: 72.0}, ("tssd", "1"): {0: 70.5, 1: 71.0}}
    cells |= {("baseline", "2"): base_t2, ("tssd", "2"): tssd_t2}
    if tssd_t4 is not None:
        cells |= {("baseline", "4"): base_t4, ("tssd", "4"): tssd_t4}
    rows, runs = [], []
    for (method, t_s), values in cells.items():
        mean = sum(values.values()) / len(values)
        rows.append(agg(method, "fashion_mnist", str(mean), t_s=t_s, arch="vgg9"))
        runs += seeds(method, "fashion_mnist", values, t_s=t_s)
    return layout, small, rows, runs


def test_difference_to_the_baseline_of_the_same_setting_paired_by_seed():
    layout, small, rows, runs = table2_small(
        tssd_t2={0: 81.0, 1: 82.5, 2: 83.0},
        base_t2={0: 80.0, 1: 81.0, 2: 82.0},
        tssd_t4={0: 79.0, 1: 80.0, 2: 81.0},
        base_t4={0: 81.0, 1: 82.0},  # seed 2 of the baseline did not finish: not paired
    )
    md = render_markdown(layout, small, rows, runs=runs)
    # per-seed differences 1, 1.5, 1: mean 7/6, sd 1/sqrt(12), t(2, 0.975) = 4.3027, so the
    # interval is 7/6 -+ 4.3027 / 6 = [0.450, 1.884] (computed by hand)
    assert f"| TSSD (T=2) | 82.17 ± 0.50 | +1.17 [+0.45, +1.88] {ABOVE} |" in md
    # T_s=1: TSSD finished seeds 0 and 1, its baseline 0, 1 and 2, so the seeds do not pair
    # and the interval is Welch's, marked
    t1 = next(ln for ln in md.splitlines() if ln.startswith("| TSSD (T=1)"))
    assert t1.endswith(f"{WELCH_MARK} |") and "| -0.25 [" in t1
    t4 = next(ln for ln in md.splitlines() if ln.startswith("| TSSD (T=4)"))
    assert "-1.50 [" in t4 and t4.endswith(f"{WELCH_MARK} |")  # seeds differ: Welch
    assert "Welch's interval" in md.split("\n")[2]  # the caption says what the mark means
    for base in ("Baseline (T=1)", "Baseline (T=2)", "Baseline (T=4)"):
        assert f"| {base} | " in md and next(
            ln for ln in md.splitlines() if ln.startswith(f"| {base} |")
        ).endswith("| -- |")
    tex = render_latex(layout, small, rows, runs)
    assert rf"TSSD (T=2) & 82.17 $\pm$ 0.50 & +1.17 [+0.45, +1.88] {ABOVE} \\" in tex
    assert r"-1.50 [" in tex and r"\dag{}" in tex


def test_the_verdict_of_a_difference_says_where_its_interval_lies():
    def verdict(tssd):
        layout, small, rows, runs = table2_small(tssd_t2=tssd, base_t2={0: 80.0, 1: 81.0, 2: 82.0})
        md = render_markdown(layout, small, rows, runs=runs)
        return next(ln for ln in md.splitlines() if ln.startswith("| TSSD (T=2)")).split()[-2]

    assert verdict({0: 81.0, 1: 82.5, 2: 83.0}) == ABOVE
    assert verdict({0: 79.0, 1: 79.5, 2: 81.0}) == BELOW  # differences -1, -1.5, -1
    assert verdict({0: 81.0, 1: 80.0, 2: 82.5}) == UNCLEAR  # differences +1, -1, +0.5


def table1_small(values):
    """Table 1 under the small profile on Fashion-MNIST: ``{method: {seed: value}}``."""
    layout, small = load_layout("paper_tables/table1.yaml"), load_profile("small")
    rows, runs = [], []
    for method, by_seed in values.items():
        mean = sum(by_seed.values()) / len(by_seed)
        rows.append(agg(method, "fashion_mnist", str(mean), t_s="2", arch="vgg9"))
        runs += seeds(method, "fashion_mnist", by_seed, t_s="2")
    return layout, small, rows, runs


def test_bold_marks_only_a_row_significantly_above_every_other():
    base = {0: 80.0, 1: 81.0, 2: 82.0}
    # TSSD has the highest mean, but only 0.1 above TSD with seed-to-seed noise: not bold
    close = {"baseline": base, "tsd": {0: 81.0, 1: 82.5, 2: 83.0}}
    close["tssd"] = {0: 81.5, 1: 82.0, 2: 83.3}
    layout, small, rows, runs = table1_small(close)
    tex = render_latex(layout, small, rows, runs)
    assert r"\textbf" not in tex
    assert "No row is bold: none is significantly best" in tex
    # TSSD 2 points above TSD at every seed: bold, and only it
    far = {**close, "tssd": {0: 83.0, 1: 84.6, 2: 85.0}}
    layout, small, rows, runs = table1_small(far)
    tex = render_latex(layout, small, rows, runs)
    assert tex.count(r"\textbf") == 1
    assert r"TSSD (TSD + SSD) & \textbf{84.20 $\pm$ 0.50}" in tex
    assert "Bold: significantly highest in its column" in tex
    md = render_markdown(layout, small, rows, runs=runs)
    assert "| TSSD (TSD + SSD) | **84.20 ± 0.50** |" in md
    # a failed row never takes part (and a row with one seed can never be shown best)
    one = {**far, "tssd": {0: 90.0}}
    layout, small, rows, runs = table1_small(one)
    assert "**" not in render_markdown(layout, small, rows, runs=runs)


def test_the_paper_bolds_its_best_reported_value_as_the_paper_does(tmp_path):
    (tmp_path / "tiny.yaml").write_text(
        """\
id: tiny
kind: table
title: tiny
status: inferred
bold: max
baseline: {method: baseline}
columns: [{id: c10, label: CIFAR10, match: {dataset: cifar10}}]
rows:
  - {id: tet, label: TET, values: {c10: {value: 94.5, status: cited, source: "x"}}}
  - {id: baseline, label: Baseline, match: {method: baseline}}
  - id: tssd
    label: TSSD
    match: {method: tssd}
    values: {c10: {value: 95.1, status: transcribed, source: "y"}}
"""
    )
    layout = load_layout(tmp_path / "tiny.yaml")
    md = render_markdown(layout, load_profile("paper"), [])
    assert "| TSSD | -- | **95.10** |" in md and "| TET | -- | 94.50 |" in md
    assert "Bold paper value: the highest reported, as the paper marks it." in md


def test_a_baseline_no_row_matches_is_an_error(tmp_path):
    text = (Path("paper_tables/table1.yaml")).read_text()
    bad = text.replace("baseline: {method: baseline}", "baseline: {method: nothere}")
    assert bad != text
    (tmp_path / "table1.yaml").write_text(bad)
    with pytest.raises(SpecError, match="baseline"):
        load_layout(tmp_path / "table1.yaml")


def test_columns_without_values_are_left_out_and_said_once():
    layout, small, rows, runs = table1_small(
        {"baseline": {0: 80.0, 1: 81.0}, "tssd": {0: 81.0, 1: 82.5}}
    )
    tex = render_latex(layout, small, rows, runs)
    header = next(ln for ln in tex.splitlines() if ln.startswith("Method &"))
    # no event cells ran: that column shows "--" under Ours, with no difference column
    assert header == r"Method & Ours & vs. baseline & Ours \\"
    assert "vs. baseline under Fashion-DVS (emulated) (for CIFAR10-DVS, DVS-Gesture) (" in tex
    assert tex.count("Ref.") == 1 and "Left out, having no value in any row: Ref." in tex
    # the paper's Table 2 has no transcribed value: its Paper and difference columns go
    paper = load_profile("paper")
    t2 = render_latex(load_layout("paper_tables/table2.yaml"), paper, [])
    assert r"Method & CIFAR10 & CIFAR100 \\" in t2
    assert t2.count("Paper") == 1 and "Paper (no transcribed or cited value)" in t2
    # Table 4's cited values keep its Paper column, with n/a where nothing is reported
    t4 = build_table(load_layout("paper_tables/table4.yaml"), paper, [])
    assert t4.head[1:] == ["Ours", "Paper"] * 2 and [w for _, w in t4.groups] == [2, 2]
    assert "Paper (" not in t4.caption and "Δ (nothing is compared)" in t4.caption


def test_markdown_shows_what_latex_shows():
    layout, small, rows, runs = table2_small(
        tssd_t2={0: 81.0, 1: 82.5, 2: 83.0}, base_t2={0: 80.0, 1: 81.0, 2: 82.0}
    )
    tex = render_latex(layout, small, rows, runs)
    md = render_markdown(layout, small, rows, runs=runs)
    tex_rows = [ln.removesuffix(r" \\").split(" & ") for ln in tex.splitlines() if "(T=" in ln]
    md_rows = [
        ln.strip("| ").split(" | ") for ln in md.splitlines() if ln.startswith("| ") and "(T=" in ln
    ]
    assert len(tex_rows) == len(md_rows) == 6

    def as_tex(cell: str) -> str:
        if cell.startswith("**"):
            return rf"\textbf{{{latex_escape(cell.strip('*'))}}}"
        return latex_escape(cell)

    for t, m in zip(tex_rows, md_rows, strict=True):
        assert t == [as_tex(x) for x in m]
    assert sum(r"\textbf" in c for r in tex_rows for c in r) == 1  # T=2's TSSD, in both
    cap_md = md.splitlines()[2]
    assert rf"\caption{{{latex_escape(cap_md)}}}" in tex


def test_rendering_is_byte_identical_in_any_process(tmp_path):
    layout, small, rows, runs = table2_small(
        tssd_t2={0: 81.0, 1: 82.5, 2: 83.0},
        base_t2={0: 80.0, 1: 81.0, 2: 82.0},
        tssd_t4={0: 79.0, 1: 80.0, 2: 81.0},
        base_t4={0: 81.0, 1: 82.0},
    )
    axes = ["method", "dataset", "arch", "t_s"]
    frames.write(tmp_path / "table2.csv", rows, AGGREGATE, AGGREGATE.header(axes))
    frames.write(tmp_path / "table2_runs.csv", runs, RUNS, RUNS.header())
    script = (
        "import sys; from pathlib import Path; from bench.analyse.frames import read, AGGREGATE, "
        "RUNS; from bench.present.render import render_latex, render_markdown; "
        "from bench.plan.schema import load_layout, load_profile; "
        "d = Path(sys.argv[1]); lay = load_layout('paper_tables/table2.yaml'); "
        "prof = load_profile('small'); rows = read(d / 'table2.csv', AGGREGATE); "
        "runs = read(d / 'table2_runs.csv', RUNS); "
        "out = render_latex(lay, prof, rows, runs) + render_markdown(lay, prof, rows, [], runs); "
        "print(out, 'torch' in sys.modules)"
    )
    # this process's string hashes differ from the child's: set and dict orders of strings too
    hash_seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    res = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
        check=True,
    )
    here = render_latex(layout, small, rows, runs) + render_markdown(layout, small, rows, [], runs)
    outs = [res.stdout, f"{here} False\n"]
    assert outs[0] == outs[1]
    assert "+1.17 [+0.45, +1.88]" in outs[0]
    # rendering never imports torch: tables regenerate from the CSVs on any machine
    assert outs[0].endswith(" False\n")


def test_quick_table_compares_with_the_reference_not_the_paper():
    layout, quick = load_layout("paper_tables/table4.yaml"), load_profile("quick")
    rows = [
        agg("baseline", "digits_dvs", "99.0", arch="micro_cnn"),
        agg(
            "tssd",
            "digits_dvs",
            "96.0",
            reported="97.5",
            delta="-1.5",
            verdict="fail",
            arch="micro_cnn",
        ),
    ]
    md = render_markdown(layout, quick, rows)
    assert "72.90" not in md  # the paper's CIFAR10-DVS number is never shown beside digits
    assert "| TSSD (VGG-9, T=5) [micro_cnn] | 96.00 ± 0.50 (fail) | 97.50 | -1.50 |" in md
    assert "never compared with the paper" in md


def test_reported_only_rows_render_under_paper_only():
    layout = load_layout("paper_tables/table2.yaml")
    assert "TET (ResNet-19, T=2)" in render_latex(layout, load_profile("paper"), [])
    assert "TET" not in render_latex(layout, load_profile("quick"), [])


def test_latex_escape_and_macro_names():
    assert latex_escape("a_b & 5% ± Δ") == r"a\_b \& 5\% $\pm$ $\Delta$"
    assert latex_escape("T<2 | x>1") == r"T$<$2 $|$ x$>$1"  # OT1 would print other glyphs
    name = macro_name("quick", "table2", "method=tssd,dataset=digits,t_s=2", "test_acc")
    assert re.fullmatch(r"[A-Za-z]+", name)
    assert name == "QuickTableTwoMethodTssdDatasetDigitsTSTwoTestAcc"
    assert macro_name("alpha=0.5") == "AlphaZeroPtFive"


def test_macros_from_csvs(tmp_path):
    cols = ["cell", "metric", "mean", "std", "status"]
    with open(tmp_path / "table9.csv", "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerow(
            {
                "cell": "method=tssd",
                "metric": "test_acc",
                "mean": "97.123",
                "std": "0.4",
                "status": "ok",
            }
        )
        w.writerow(
            {"cell": "method=kd", "metric": "test_acc", "mean": "", "std": "", "status": "failed"}
        )
    with open(tmp_path / "table9_claims.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["claim", "group", "verdict"])
        w.writeheader()
        w.writerow({"claim": "tssd_wins", "group": "all", "verdict": "inconclusive"})
    tex = render_macros(load_profile("quick"), tmp_path)
    assert r"\newcommand{\QuickTableNineMethodTssdTestAccMean}{97.12}" in tex
    assert "Kd" not in tex  # a failed cell never becomes a number
    assert r"\newcommand{\QuickTableNineClaimTssdWins}{inconclusive}" in tex


@pytest.mark.parametrize("figure", ["figure3", "figure4", "figure6"])
def test_figures_render_from_csv(tmp_path, figure):
    from bench.present.figures import render_figure

    header = [
        "cell",
        "method",
        "dataset",
        "t_s",
        "t_t",
        "alpha",
        "beta",
        "stands_for",
        "metric",
        "mean",
        "std",
        "ci_lo",
        "ci_hi",
        "status",
        "reason",
    ]
    rows = []
    for ds in ("digits", "digits_dvs"):
        base = {
            "dataset": ds,
            "t_s": "2",
            "stands_for": f"dataset={ds}",
            "std": "0.3",
            "status": "ok",
            "reason": "",
        }
        rows.append(
            {
                **base,
                "cell": f"b{ds}",
                "method": "baseline",
                "metric": "test_acc",
                "mean": "97",
                "ci_lo": "96.8",
                "ci_hi": "97.2",
            }
        )
        for t_t in (3, 4, 6):
            rows.append(
                {
                    **base,
                    "cell": f"t{ds}{t_t}",
                    "method": "tssd",
                    "t_t": str(t_t),
                    "metric": "test_acc",
                    "mean": str(95 + t_t / 2),
                    "ci_lo": "95",
                    "ci_hi": "99",
                }
            )
        for a in ("0.5", "1", "2"):
            for b in ("0.5", "1", "2"):
                rows.append(
                    {
                        **base,
                        "cell": f"g{ds}{a}{b}",
                        "method": "tssd",
                        "alpha": a,
                        "beta": b,
                        "metric": "test_acc",
                        "mean": str(96 + float(a)),
                        "ci_lo": "",
                        "ci_hi": "",
                    }
                )
        for m in ("baseline", "tssd"):
            for layer in ("stages.0", "stages.1"):
                rows.append(
                    {
                        **base,
                        "cell": f"f{ds}{m}",
                        "method": m,
                        "metric": f"firing_rate:{layer}",
                        "mean": "0.1",
                        "ci_lo": "",
                        "ci_hi": "",
                    }
                )
    if figure == "figure3":
        rows = [r for r in rows if r["metric"] == "test_acc" and not r.get("alpha")]
    elif figure == "figure4":
        rows = [r for r in rows if r["metric"] == "test_acc" and not r.get("t_t")]
    with open(tmp_path / f"{figure}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, header, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    paths = render_figure(
        load_layout(f"paper_tables/{figure}.yaml"), load_profile("quick"), tmp_path
    )
    assert [p.name for p in paths] == [f"{figure}_figdata.csv", f"{figure}.pdf", f"{figure}.png"]
    assert all(p.stat().st_size > 5000 for p in paths[1:])  # tests/test_bench_figures.py: data


def test_a_count_identical_in_every_seed_is_equal_not_unclear():
    """Parameter counts of the deployed TSSD and baseline networks: the same in every seed, so
    the row says equal rather than an interval of zero width called unclear."""
    from bench.present.render import EQUAL, UNCLEAR, fmt_difference

    same = {0: 15418.0, 1: 15418.0, 2: 15418.0}
    assert fmt_difference(same, dict(same), 2) == (f"+0.00 {EQUAL}", False)
    close = {0: 15418.0, 1: 15418.0, 2: 15419.0}
    text, welch = fmt_difference(close, same, 2)
    assert text.endswith(UNCLEAR) and not welch
