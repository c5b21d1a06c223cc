"""Rendering from aggregate CSV rows: merged stand-in columns, paper values, failures, figures."""

from __future__ import annotations

import csv
import re

import pytest

from bench.render import (
    display_columns,
    latex_escape,
    macro_name,
    render_latex,
    render_macros,
    render_markdown,
    stand_in_note,
)
from bench.schema import load_layout, load_profile

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
        "cell": f"method={method},dataset={dataset}",
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


def test_paper_table_shows_cited_values_deltas_failures_and_bold_best():
    layout, paper = load_layout("paper_tables/table4.yaml"), load_profile("paper")
    rows = [
        agg("baseline", "cifar10_dvs", "70.1"),
        agg("baseline", "dvs_gesture", "", "", status="failed", verdict="fail"),
        agg("tssd", "cifar10_dvs", "72.5", reported="72.9", delta="-0.4", verdict="pass"),
        agg("tssd", "dvs_gesture", "88.0", reported="86.69", delta="1.31", verdict="pass"),
    ]
    tex = render_latex(layout, paper, rows)
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\cmidrule(lr){2-4}" in tex
    assert r"TSSD (VGG-9, T=5) & \textbf{72.50 $\pm$ 0.50} & 72.90 & -0.40" in tex
    assert "Baseline (VGG-9, T=5) & 70.10 $\\pm$ 0.50 & n/a & --" in tex
    assert "& failed & n/a & --" in tex
    md = render_markdown(layout, paper, rows)
    assert "| TSSD (VGG-9, T=5) | **72.50 ± 0.50** | 72.90 | -0.40 |" in md
    assert "failed" in md


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
    from bench.figures import render_figure

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
