"""The reconstruction study's forest output, the per-profile report and the claims table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench import cli
from bench.analyse.frames import claims_from
from bench.plan.schema import SpecError, load_experiment
from bench.present.report import README_END, README_START, claims_table, update_readme

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
    # every shipped experiment is regenerated from the records: table1 has none, so not run
    assert "- table1: method=baseline" in report and "not-run (not run" in report

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
    from bench.plan.schema import experiment_path

    claims = load_experiment(experiment_path("reconstruction")).claims
    text = next(c.text for c in claims if c.id == "default_beats_baseline")
    line = next(ln for ln in table.splitlines() if f"| {text} |" in ln)
    assert line.endswith("| supported (fashion_mnist +0.47 [+0.04, +0.90]; 1 not run) |")


def test_a_claim_whose_runs_lack_its_metric_reads_not_measured_not_not_run(tmp_path):
    """Quick has no validation split: its reconstruction runs finished but record no val_acc,
    which the README must not call "not run"."""
    from bench.analyse.frames import read_claims
    from bench.present.report import verdict_phrase

    quick = tmp_path / "quick"
    quick.mkdir()
    path = quick / "reconstruction_claims.csv"

    def claims(note):
        head = "claim,group,metric,verdict,outcome,diff,ci_lo,ci_hi,note\n"
        rows = ["default_beats_baseline,all,val_acc,inconclusive,inconclusive,,,,"] + [
            f"default_beats_baseline,dataset={d},val_acc,inconclusive,missing,,,,{note}"
            for d in ("digits", "digits_dvs")
        ]
        path.write_text(head + "\n".join(rows) + "\n")
        return read_claims(path)[0]

    res = claims("a cell has runs that did not record val_acc")
    table = claims_table(["quick"], tmp_path).splitlines()
    line = next(ln for ln in table if "| TSSD with every choice at its default is above" in ln)
    assert line.endswith("| not measured (no val_acc) |")
    assert verdict_phrase(res, "quick") == "not measured (no val_acc) on quick"
    assert verdict_phrase(claims("a cell has no finished run"), "quick") == "not run on quick"


# ------------------------------------------------------------------------------------------------
# Prose from verdicts and the expected number of false verdicts (no training: CSV rows only)
# ------------------------------------------------------------------------------------------------


def _claim(rows):
    """The claim that claims CSV rows hold, as the one claims reader gives it."""
    return claims_from(rows)[0]


def _rows(claim, verdict, kind, groups, text="TSSD is above the baseline on every dataset"):
    """Claims CSV rows of one claim: its 'all' row and one row per (group, outcome, d, lo, hi)."""
    head = {
        "claim": claim,
        "kind": kind,
        "source": "paper",
        "metric": "test_acc",
        "text": text,
        "verdict": verdict,
    }
    out = [{**head, "group": "all", "outcome": verdict, "note": ""}]
    for group, outcome, d, lo, hi, *rest in groups:
        extra = rest[0] if rest else {}
        out.append(
            {
                **head,
                "group": group,
                "outcome": outcome,
                "diff": "" if d is None else str(d),
                "ci_lo": "" if lo is None else str(lo),
                "ci_hi": "" if hi is None else str(hi),
                "note": "",
                "margin": "0.5" if kind != "spread" else "1",
                **extra,
            }
        )
    return out


SUPPORTED_ROWS = _rows(
    "c",
    "supported",
    "greater",
    [
        ("dataset=fashion_mnist", "holds", 0.47, 0.23, 0.72),
        ("dataset=fashion_dvs", "holds", 0.58, 0.32, 0.83),
    ],
)
CONTRADICTED_ROWS = _rows(
    "c",
    "contradicted",
    "greater",
    [
        ("dataset=digits", "unclear", -0.25, -0.46, 0.04, {"p_holm": "0.08"}),
        ("dataset=digits_dvs", "reversed", -3.10, -3.72, -2.47, {"p_holm": "0.0004"}),
    ],
)
EQUIVALENT_ROWS = _rows(
    "c",
    "equivalent",
    "greater",
    [
        ("dataset=fashion_mnist", "within-margin", 0.02, -0.13, 0.17),
        ("dataset=fashion_dvs", "within-margin", -0.10, -0.42, 0.21),
    ],
)
SPREAD_ROWS = _rows(
    "s",
    "equivalent",
    "spread",
    [("dataset=fashion_mnist", "within-margin", 0.4, 0.1, 0.7)],
    text="accuracy varies by at most 1 point over the alpha x beta grid",
)
INCONCLUSIVE_ROWS = _rows(
    "c",
    "inconclusive",
    "greater",
    [
        ("dataset=fashion_mnist", "holds", 0.47, 0.23, 0.72),
        ("dataset=fashion_dvs", "unclear", 0.47, -0.01, 0.96),
        ("dataset=x", "missing", None, None, None),
    ],
)


@pytest.mark.unit
def test_each_verdict_becomes_one_sentence_and_only_equivalence_says_no_effect():
    from bench.present.report import claim_sentence

    text = "TSSD is above the baseline on every dataset"
    s = claim_sentence(text, {"small": _claim(SUPPORTED_ROWS)})
    assert s == (
        "TSSD is above the baseline on every dataset: supported on small "
        "(fashion_mnist +0.47 [+0.23, +0.72]; fashion_dvs +0.58 [+0.32, +0.83])."
    )
    s = claim_sentence(text, {"quick": _claim(CONTRADICTED_ROWS), "small": None})
    assert s == (
        "TSSD is above the baseline on every dataset: contradicted on quick: 1 of 2 comparisons "
        "reversed (digits_dvs -3.10 [-3.72, -2.47], Holm p 0.0004); not run on small."
    )
    s = claim_sentence(text, {"small": _claim(EQUIVALENT_ROWS)})
    assert "equivalent within ±0.5 points on small, i.e. no effect beyond ±0.5 points" in s
    s = claim_sentence(SPREAD_ROWS[0]["text"], {"small": _claim(SPREAD_ROWS)})
    assert s.startswith("Accuracy varies by at most 1 point over the alpha x beta grid: ")
    assert "equivalent within ±1 point on small, i.e. insensitive beyond ±1 point" in s
    s = claim_sentence(text, {"small": _claim(INCONCLUSIVE_ROWS)})
    assert s.endswith(
        "inconclusive on small (1 holds, 1 unclear, 1 missing: fashion_mnist +0.47 "
        "[+0.23, +0.72]; fashion_dvs +0.47 [-0.01, +0.96]; 1 not run)."
    )
    for rows in (SUPPORTED_ROWS, CONTRADICTED_ROWS, INCONCLUSIVE_ROWS):
        phrase = claim_sentence("x", {"p": _claim(rows)})
        assert "no effect" not in phrase and "insensitive" not in phrase
    # a spread claim that is not equivalent is not "insensitive" either
    spread_open = [{**r, "verdict": "inconclusive"} for r in SPREAD_ROWS]
    assert "insensitive" not in claim_sentence("x", {"p": _claim(spread_open)})


@pytest.mark.unit
def test_a_verdict_outside_the_vocabulary_is_an_error_naming_the_claim():
    from bench.present.report import claim_sentence

    old = [{**r, "verdict": "not supported"} for r in SUPPORTED_ROWS]
    with pytest.raises(ValueError, match="claim 'c' on small: verdict 'not supported' is not one"):
        claim_sentence("x", {"small": _claim(old)})


@pytest.mark.unit
def test_the_expected_false_verdicts_count_claims_by_what_they_could_be_called():
    from bench.present.report import decided_section, false_verdicts

    equal = _rows("e", "supported", "equal", [("dataset=x", "holds", 0.0, None, None)])
    not_run = _rows("n", "inconclusive", "greater", [("dataset=x", "missing", None, None, None)])
    claims = [SUPPORTED_ROWS, CONTRADICTED_ROWS, EQUIVALENT_ROWS, SPREAD_ROWS, equal, not_run]
    fv = false_verdicts([_claim(rows) for rows in claims], 0.5)
    assert fv.claims == 5  # the claim with nothing run is not decided
    assert fv.comparisons == 2 + 2 + 2 + 1  # intervals only (the equal claim is exact)
    assert dict(fv.issued) == {"supported": 2, "contradicted": 1, "equivalent": 2}
    # greater claims with a margin: supported, contradicted or equivalent; spread: the latter two;
    # equal: exact, never wrong by chance
    assert dict(fv.at_risk) == {"supported": 3, "contradicted": 4, "equivalent": 4}
    assert fv.total == pytest.approx(0.025 * (3 + 4 + 4))
    # without a margin anywhere (no column, no profile margin) equivalence is not at risk
    bare = [[{k: v for k, v in r.items() if k != "margin"} for r in rows] for rows in claims[:3]]
    assert dict(false_verdicts([_claim(rows) for rows in bare], None).at_risk) == {
        "supported": 3,
        "contradicted": 3,
    }
    # a claim on a firing rate has no margin (the profile's is in accuracy points): never
    # equivalent, whatever margin the profile declares
    rates = [{**r, "metric": "mean_firing_rate", "margin": ""} for r in SUPPORTED_ROWS]
    assert dict(false_verdicts([_claim(rates)], 0.5).at_risk) == {
        "supported": 1,
        "contradicted": 1,
    }
    text = "\n".join(_decided_section_from_csvs(claims, decided_section))
    assert "Decided: 5 claims" in text and "over 7 comparisons with an interval" in text
    assert "= 0.025 x 3 + 0.025 x 4 + 0.025 x 4 = **0.28**" in text


def _decided_section_from_csvs(tmp_rows, fn):
    import tempfile

    d = Path(tempfile.mkdtemp())
    cols = sorted({k for rows in tmp_rows for r in rows for k in r})
    for i, rows in enumerate(tmp_rows):
        with open(d / f"e{i}_claims.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(rows)
    return fn(d, [f"e{i}" for i in range(len(tmp_rows))], 0.5)


@pytest.mark.unit
def test_the_bound_on_false_verdicts_is_met_where_it_is_tightest():
    """Single-comparison claims whose true difference is exactly 0 and no margin: each is wrongly
    supported with probability 2.5 % and wrongly contradicted with 2.5 %, so the bound of 5 % per
    claim is reached. Simulated, the false verdicts come out at the bound, not above it."""

    import numpy as np

    from bench.analyse.claims import CONTRADICTED, SUPPORTED, evaluate_claim
    from bench.plan.expand import Cell, cell_id
    from bench.plan.schema import Claim
    from bench.present.report import false_verdicts

    a_key, b_key = {"method": "tssd", "dataset": "x"}, {"method": "baseline", "dataset": "x"}
    cells = [Cell(cell_id(k), k, {}, [0, 1, 2, 3, 4], []) for k in (a_key, b_key)]
    claim = Claim(
        "c", "greater", "t", a={"method": "tssd"}, b={"method": "baseline"}, per=("dataset",)
    )
    rng = np.random.default_rng(5)
    sims, wrong, results = 3000, 0, []
    for _ in range(sims):
        a, b = rng.normal(0, 1, 5), rng.normal(0, 1, 5)
        vals = {
            cells[0].id: {"test_acc": dict(enumerate(a))},
            cells[1].id: {"test_acc": dict(enumerate(b))},
        }
        res = evaluate_claim(claim, cells, vals)
        wrong += res.verdict in (SUPPORTED, CONTRADICTED)
        results.append(res)
    bound = false_verdicts(results, None).total
    assert bound == pytest.approx(0.05 * sims)
    # Monte-Carlo standard error of 3000 draws at 5 %: 12 verdicts
    assert 0.85 * bound <= wrong <= bound + 25


@pytest.mark.unit
def test_the_readme_gets_both_generated_blocks_and_the_report_its_findings(tmp_path):
    from bench.present.report import FINDINGS_END, FINDINGS_START, findings_text, write_report

    small = tmp_path / "small"
    small.mkdir()
    cols = sorted({k for r in SUPPORTED_ROWS for k in r})
    with open(small / "table1_claims.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows([{**r, "claim": "tssd_beats_baseline"} for r in SUPPORTED_ROWS])
    block = findings_text(["quick", "small"], tmp_path)
    assert block == (
        "- table1: TSSD is above the baseline on every dataset: not run on quick; supported on "
        "small (fashion_mnist +0.47 [+0.23, +0.72]; fashion_dvs +0.58 [+0.32, +0.83]).\n"
    )
    readme = tmp_path / "README.md"
    readme.write_text(
        f"a\n{README_START}\nold\n{README_END}\nb\n{FINDINGS_START}\nold words\n{FINDINGS_END}\nc\n"
    )
    update_readme(readme, "table\n", block)
    text = readme.read_text()
    assert "old" not in text and f"{FINDINGS_START}\n{block}{FINDINGS_END}\nc\n" in text
    readme.write_text(f"{README_START}\n{README_END}\n")
    with pytest.raises(FileNotFoundError, match="no findings markers"):
        update_readme(readme, "table\n", block)
    update_readme(readme, "table\n")  # the claims block alone needs no findings markers

    report = write_report("small", tmp_path).read_text()
    assert "Decided: 1 claims (those with at least one comparison" in report
    assert "verdicts: 1 supported, 0 contradicted, 0 equivalent, 0 inconclusive" in report
    assert "- table1: TSSD is above the baseline on every dataset: supported on small" in report


def test_verbose_verdicts_print_intervals_like_the_tables(capsys):
    """``bench check --verbose``: a difference that rounds to zero has no sign (never -0.00)."""
    from bench.analyse.claims import ClaimResult, Comparison
    from bench.plan.schema import Claim
    from bench.present.verdicts import print_summary

    claim = Claim(id="c", kind="greater", text="t", a={"method": "tssd"}, b={"method": "x"})
    comps = [
        Comparison("dataset=d", "unclear", diff=-0.001, ci_lo=-0.004, ci_hi=0.3),
        Comparison("dataset=e", "missing"),
    ]
    ok = print_summary("e", "quick", [], [ClaimResult(claim, "inconclusive", comps)], True)
    out = capsys.readouterr().out
    assert ok and "-0.00" not in out
    assert "dataset=d: unclear diff +0.00 [+0.00, +0.30]" in out
    assert "dataset=e: missing diff n/a" in out
