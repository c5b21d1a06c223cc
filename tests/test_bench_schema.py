"""The harness's data files: the shipped ones validate, malformed ones name file and key."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from bench import ROOT, cli
from bench.plan.schema import (
    SpecError,
    check_expression,
    evaluate,
    experiment_ids,
    load_experiment,
    load_index,
    load_layout,
    load_profile,
)

pytestmark = pytest.mark.unit

MINIMAL_EXPERIMENT = """\
id: {id}
kind: table
title: t
layout: {layout}
grid:
  method: [baseline, tssd]
  dataset: [cifar10]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_shipped_files_validate(capsys):
    assert cli.main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "13 experiments" in out and "3 profiles" in out
    ids = experiment_ids()
    assert ids[:8] == [f"table{i}" for i in range(1, 9)]
    assert ids[8:] == [f"figure{i}" for i in range(3, 7)] + ["reconstruction"]


def test_index_lists_every_table_and_figure():
    index = load_index()
    for i in range(1, 9):
        assert index[f"table{i}"].kind == "table"
        assert index[f"table{i}"].status == "inferred"
    for i in range(3, 7):
        assert index[f"figure{i}"].kind == "figure"


def test_cited_values_of_table4():
    layout = load_layout("paper_tables/table4.yaml")
    row = next(r for r in layout.rows if r.id == "tssd_vgg9_t5")
    assert row.reported("cifar10_dvs").value == 72.9
    assert row.reported("dvs_gesture").value == 86.69
    assert row.reported("dvs_gesture").status == "cited"
    assert "2510.07924" in row.reported("cifar10_dvs").source
    base = next(r for r in layout.rows if r.id == "baseline_vgg9_t5")
    assert base.reported("cifar10_dvs").status == "missing"
    assert base.reported("cifar10_dvs").value is None


def assert_refused(tmp_path, extra: str, pattern: str) -> None:
    """The minimal experiment plus the YAML ``extra`` is refused by a SpecError matching
    ``pattern``."""
    text = MINIMAL_EXPERIMENT.format(id="exp", layout="x") + extra
    with pytest.raises(SpecError, match=pattern):
        load_experiment(write(tmp_path, "exp.yaml", text))


def test_unknown_experiment_key_names_file_and_key(tmp_path):
    assert_refused(tmp_path, "epochs: 3\n", r"exp\.yaml: unknown key 'epochs'; allowed keys here")


def test_experiment_id_must_match_file_name(tmp_path):
    p = write(tmp_path, "exp.yaml", MINIMAL_EXPERIMENT.format(id="other", layout="x"))
    with pytest.raises(SpecError, match=r"exp\.yaml: key 'id': got 'other'"):
        load_experiment(p)


@pytest.mark.parametrize(
    ("extra", "pattern"),
    [
        ("  colour: [red]\n", r"key 'grid\[0\]\.colour': unknown axis"),
        ("  t_s: []\n", r"key 'grid\[0\]\.t_s': expected a non-empty list"),
        ("  t_s: [1, 1]\n", r"key 'grid\[0\]\.t_s': duplicate values"),
        ("  alpha: [fast]\n", r"key 'grid\[0\]\.alpha\[0\]': got 'fast', expected a number"),
    ],
)
def test_bad_grid_names_the_key(tmp_path, extra, pattern):
    assert_refused(tmp_path, extra, pattern)


@pytest.mark.parametrize(
    ("claim", "pattern"),
    [
        (
            "{id: c, kind: better, text: t, a: {method: tssd}}",
            r"key 'claims\[0\]\.kind': got 'better'",
        ),
        # an 'equal' claim needs b; a 'greater' claim without b tests its metric against 0
        ("{id: c, kind: equal, text: t, a: {method: tssd}}", r"key 'claims\[0\]\.b'"),
        (
            "{id: c, kind: greater, text: t, a: {t_t: 4}, b: {method: x}}",
            r"key 'claims\[0\]\.a\.t_t': not an axis",
        ),
        ("{id: c, kind: spread, text: t, a: {}, over: [method]}", r"key 'claims\[0\]\.bound'"),
    ],
    ids=["bad-kind", "no-b", "not-an-axis", "no-bound"],
)
def test_bad_claims_name_the_key(tmp_path, claim, pattern):
    assert_refused(tmp_path, f"claims:\n  - {claim}\n", pattern)


def test_derive_expressions_are_arithmetic_only(tmp_path):
    assert evaluate("2 * t_s", {"t_s": 3}) == 6
    assert evaluate("t_s + 2 - 1", {"t_s": 3}) == 4
    check_expression("t_s // 2", "f", "k")
    with pytest.raises(SpecError, match="may only use numbers"):
        check_expression("__import__('os')", "f.yaml", "derive.x")
    with pytest.raises(SpecError, match="not an expression"):
        check_expression("2 *", "f.yaml", "derive.x")


LAYOUT = """\
id: lay
kind: table
title: t
status: inferred
columns:
  - {id: c10, label: C10, match: {dataset: cifar10}}
rows:
  - id: r
    label: R
    match: {method: tssd}
    values:
"""


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("      c10: {value: 95.0, status: cited}\n", r"key 'rows\[0\]\.values\.c10\.source'"),
        ("      c10: {value: 95.0, status: missing}\n", r"key 'rows\[0\]\.values\.c10\.value'"),
        ("      c10: {status: transcribed, source: p}\n", r"rows\[0\]\.values\.c10\.value"),
        ("      c10: {value: 95.0, status: guessed, source: p}\n", r"got 'guessed'"),
        ("      c99: {status: missing}\n", r"key 'rows\[0\]\.values\.c99': not a column"),
    ],
)
def test_bad_reported_values_name_the_key(tmp_path, value, pattern):
    p = write(tmp_path, "lay.yaml", LAYOUT + value)
    with pytest.raises(SpecError, match=r"lay\.yaml: .*" + pattern):
        load_layout(p)


def test_filling_one_line_makes_a_value_compared(tmp_path):
    p = write(
        tmp_path,
        "lay.yaml",
        LAYOUT + '      c10: {value: 95.1, status: transcribed, source: "paper, Table 1"}\n',
    )
    rep = load_layout(p).rows[0].reported("c10")
    assert (rep.value, rep.status, rep.source) == (95.1, "transcribed", "paper, Table 1")


def test_profiles_load_and_map():
    quick = load_profile("quick")
    assert quick.map_value("dataset", "cifar100") == "digits"
    assert quick.map_value("dataset", "dvs_gesture") == "digits_dvs"
    assert quick.map_value("arch", "sew_resnet34") == "micro_cnn"
    assert quick.compare == "reference" and quick.regression
    paper = load_profile("paper")
    assert paper.map_value("dataset", "cifar10") == "cifar10"
    assert paper.tolerance_for("cifar10_dvs").abs > paper.tolerance_for("cifar10").abs
    with pytest.raises(SpecError, match="no mapping for dataset 'mnist'"):
        quick.map_value("dataset", "mnist")
    with pytest.raises(SpecError, match="unknown profile 'fast'"):
        load_profile("fast")


@pytest.mark.parametrize("value", ["'0.5'", "[0.5]", "3"])
def test_tolerance_by_dataset_that_is_no_mapping_is_one_line(tmp_path, value):
    """Not a mapping: a SpecError naming the file and key, not an AttributeError."""
    text = (ROOT / "bench" / "profiles" / "quick.yaml").read_text()
    assert "tolerance_by_dataset" not in text
    prof = tmp_path / "quick.yaml"
    prof.write_text(text + f"\ntolerance_by_dataset: {value}\n")
    with pytest.raises(SpecError, match=r"quick\.yaml: key 'tolerance_by_dataset': expected a map"):
        load_profile(prof)


def test_tolerance_from_reference_spread():
    """Statistical tolerance: t-quantile x the reference std (floored) x sqrt(1/m + 1/n)."""
    from bench.stats import per_check_alpha, t_quantile

    tol = load_profile("quick").tolerance
    ref = tuple(90.0 + d for d in (-2.0, -1.0, 0.0, 1.0, 2.0) * 2)  # n = 10, std 1.49
    alpha = per_check_alpha(tol.false_alarm, 8)
    limit, a = tol.of(ref, 5, 8)
    std = float(np.std(ref, ddof=1))
    assert a == pytest.approx(alpha)
    assert limit == pytest.approx(t_quantile(1 - alpha / 2, 9) * std * (1 / 5 + 1 / 10) ** 0.5)
    flat = (90.0,) * 10  # seeds that agree exactly: the floor (one test image) keeps a tolerance
    assert tol.of(flat, 5, 8)[0] == pytest.approx(limit * tol.floor_std / std)
    assert tol.of(ref, 5, 1)[0] < limit  # fewer cells share the false-alarm rate: tighter
    paper = load_profile("paper").tolerance
    assert paper.of(ref, 3, 8)[0] == paper.abs and math.isnan(paper.of(ref, 3, 8)[1])


def test_regression_block_is_checked(tmp_path):
    text = (ROOT / "bench" / "profiles" / "quick.yaml").read_text()
    p = tmp_path / "quick.yaml"
    p.write_text(text.replace("seeds: [0, 1, 2, 3, 4]", "seeds: [0, 1, 2, 3, 40]"))
    with pytest.raises(SpecError, match=r"regression.seeds.*\[40\] are not in"):
        load_profile(p)
    p.write_text(re.sub(r"reference_seeds: \[[0-9, ]*\]", "reference_seeds: [0, 1, 2, 3, 4]", text))
    with pytest.raises(SpecError, match="at least 10"):
        load_profile(p)
