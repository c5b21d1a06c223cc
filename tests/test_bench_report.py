"""The reconstruction study's forest output, the per-profile report and the claims table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench import cli
from bench.report import README_END, README_START, claims_table, update_readme
from bench.schema import SpecError, load_experiment

pytestmark = pytest.mark.smoke

LAYOUT = """\
id: tinyrec
kind: table
title: tiny reconstruction
status: inferred
columns:
  - {id: c10, label: CIFAR10, match: {dataset: cifar10}}
rows:
  - {id: b, label: Baseline, match: {method: baseline}}
  - {id: d, label: default, match: {method: tssd, variant: default}}
  - {id: s, label: short teacher, match: {method: tssd, variant: short}}
"""

EXPERIMENT = """\
id: tinyrec
kind: table
title: tiny reconstruction
layout: {layout}
set: {{model.width: 8, optim.epochs: 2}}
variants:
  variant:
    default: {{label: every choice at its default, set: {{}}}}
    short: {{label: shorter teacher, derive: {{method.t_t: "t_s + 1"}}}}
grid:
  - method: [tssd]
    dataset: [cifar10]
    t_s: [2]
    variant: [default, short]
  - method: [baseline]
    dataset: [cifar10]
    t_s: [2]
derive: {{method.t_t: "2 * t_s"}}
claims:
  - {{id: beats, kind: greater, text: above the baseline, a: {{method: tssd}},
      b: {{method: baseline}}, per: [dataset, variant]}}
forest: {{claim: beats, axis: variant}}
"""


def _experiment(tmp_path: Path, forest_claim: str = "beats") -> str:
    (tmp_path / "layouts").mkdir(exist_ok=True)
    layout = tmp_path / "layouts" / "tinyrec.yaml"
    layout.write_text(LAYOUT)
    exp = tmp_path / "tinyrec.yaml"
    exp.write_text(
        EXPERIMENT.format(layout=layout).replace("claim: beats", f"claim: {forest_claim}")
    )
    return str(exp)


def test_forest_report_and_claims_table(tmp_path, capsys):
    exp = _experiment(tmp_path)
    res = tmp_path / "results"
    assert cli.main(["run", exp, "--results", str(res), "--seeds", "0,1,2"]) == 0
    out = res / "quick"
    with open(out / "tinyrec_forest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # one line per variant, labelled, with a paired difference and its interval
    assert [r["value"] for r in rows] == ["default", "short"]
    assert [r["label"] for r in rows] == ["every choice at its default", "shorter teacher"]
    for r in rows:
        lo, d, hi = float(r["ci_lo"]), float(r["diff"]), float(r["ci_hi"])
        assert lo <= d <= hi and r["note"] == "paired t, 3 seeds"
        assert d == pytest.approx(float(r["a_mean"]) - float(r["b_mean"]))
    for suffix in ("md", "tex", "pdf", "png"):
        assert (out / f"tinyrec_forest.{suffix}").stat().st_size > 0
    md = (out / "tinyrec_forest.md").read_text()
    assert "shorter teacher" in md and "[" in md

    assert cli.main(["report", "--profile", "quick", "--results", str(res)]) == 0
    report = (out / "REPORT.md").read_text()
    assert "## Provenance" in report
    assert "9 distinct finished runs; seeds 0, 1, 2" in report
    assert "| tinyrec | beats: above the baseline |" in report  # a custom experiment too
    assert "![tinyrec](tinyrec_forest.png)" in report and "shorter teacher" in report
    assert "table1: " in report and "Not run yet: `python -m bench run table1" in report

    table = claims_table(["quick", "small"], res)
    assert "| table1 | TSSD is above the baseline on every dataset | not run | not run |" in table

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\noutro\n")
    update_readme(readme, table)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    readme.write_text("no markers\n")
    with pytest.raises(FileNotFoundError, match="no claims markers"):
        update_readme(readme, table)


def test_forest_must_name_a_claim_and_an_axis(tmp_path):
    with pytest.raises(SpecError, match="forest.claim.*no claim 'nope'"):
        load_experiment(_experiment(tmp_path, "nope"))


def test_curves_are_means_over_seeds_of_the_measured_epochs(tmp_path):
    """Figure 5's CSV: per cell, metric and epoch the mean over seeds of epochs.csv, and only the
    epochs every seed measured (test accuracy every eval.every epochs and after the last)."""
    import statistics

    from tssd.rundir import RunDir

    exp = tmp_path / "tinycurves.yaml"
    exp.write_text(
        _experiment(tmp_path)
        and (tmp_path / "tinyrec.yaml")
        .read_text()
        .replace("id: tinyrec\n", "id: tinycurves\n")
        .replace("forest: {claim: beats, axis: variant}\n", "curves: true\n")
        .replace("optim.epochs: 2}", "optim.epochs: 3, eval.every: 2}")
    )
    res = tmp_path / "results"
    assert cli.main(["run", str(exp), "--results", str(res), "--seeds", "0,1"]) == 0
    with open(res / "quick" / "tinycurves_curves.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    base = [r for r in rows if r["method"] == "baseline"]
    assert [int(r["epoch"]) for r in base if r["metric"] == "test_acc"] == [2, 3]
    assert [int(r["epoch"]) for r in base if r["metric"] == "train_acc"] == [1, 2, 3]
    with open(res / "quick" / "tinycurves_runs.csv", newline="") as f:
        runs = list(csv.DictReader(f))
    ids = [r["run_id"] for r in runs if r["cell"] == base[0]["cell"]]
    epochs = [RunDir(res / "runs" / rid).read_epochs() for rid in ids]
    for r in base:
        e, m = int(r["epoch"]), r["metric"]
        want = [(100.0 if m != "loss" else 1.0) * ep[e - 1][m] for ep in epochs]
        assert int(r["n"]) == 2 and float(r["mean"]) == pytest.approx(statistics.mean(want))


def test_claims_table_counts_the_comparisons_that_did_not_run(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    head = "claim,group,verdict,outcome,diff,ci_lo,ci_hi,note\n"
    rows = [
        "default_beats_baseline,all,supported,supported,,,,",
        "default_beats_baseline,dataset=fashion_mnist,supported,holds,0.47,0.04,0.9,paired t",
        "default_beats_baseline,dataset=fashion_dvs,supported,missing,,,,no finished run",
    ]
    (small / "reconstruction_claims.csv").write_text(head + "\n".join(rows) + "\n")
    table = claims_table(["small"], tmp_path)
    line = next(ln for ln in table.splitlines() if "every choice at its default" in ln)
    assert line.endswith("| supported (fashion_mnist +0.47 [+0.04, +0.90]; 1 not run) |")
