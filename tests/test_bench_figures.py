"""Figures from synthetic aggregate CSVs: checked on the data each figure is drawn from.

Every figure writes ``<id>_figdata.csv`` (the numbers it draws) before drawing; these tests assert
on those rows (clipping, paired differences, common epochs, marks, the style's effect) and on the
figure's text (labels, legends), never on pixels.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats as sps

from bench.plan.schema import FigureStyle, SpecError, load_experiment, load_layout, load_profile
from bench.present import figures
from bench.present.figures import load_style, render_figure
from bench.stats import diff_ci, mean_ci, mean_std

pytestmark = pytest.mark.unit

QUICK = load_profile("quick")


# ------------------------------------------------------------------------------------------------
# Synthetic CSVs, in the aggregate's formats
# ------------------------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[dict]) -> None:
    header = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, header)
        w.writeheader()
        w.writerows(rows)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def agg_row(cell: str, seeds: dict[int, float], metric: str = "test_acc", **keys) -> dict:
    """One aggregate row of ``cell`` from its seeds' values (mean, std, Student-t interval)."""
    v = list(seeds.values())
    lo, hi = mean_ci(v)
    return {
        "cell": cell,
        **{k: str(x) for k, x in keys.items()},
        "stands_for": f"dataset={keys.get('dataset', '')}",
        "metric": metric,
        "n": str(len(v)),
        "mean": repr(mean_std(v)[0]),
        "std": repr(mean_std(v)[1]),
        "ci_lo": repr(lo),
        "ci_hi": repr(hi),
        "status": "ok",
        "reason": "",
    }


def run_rows(cell: str, seeds: dict[int, float]) -> list[dict]:
    return [
        {"cell": cell, "seed": str(s), "role": "cell", "status": "finished", "test_acc": repr(v)}
        for s, v in seeds.items()
    ]


def paired_t(a: dict[int, float], b: dict[int, float]) -> tuple[float, float, float]:
    """The 95 % t-interval of the per-seed differences, computed here without bench.stats."""
    d = [a[s] - b[s] for s in sorted(a)]
    n = len(d)
    m = sum(d) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in d) / (n - 1))
    h = sps.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return m, m - h, m + h


def fnum(text: str) -> float:
    return float(text) if text != "" else math.nan


@pytest.fixture
def drawn(monkeypatch):
    """The figures' text as drawn (labels, legends, annotations), captured before saving."""
    seen: dict[str, dict] = {}
    save = figures.save

    def capture(fig, base, dpi=150):
        seen[base.name] = {
            "xlabels": [ax.get_xlabel() for ax in fig.axes],
            "ylabels": [ax.get_ylabel() for ax in fig.axes],
            "legends": [
                t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().texts
            ],
            "titles": [ax.get_title() for ax in fig.axes],
            "texts": [t.get_text() for ax in fig.axes for t in ax.texts]
            + [t.get_text() for t in fig.texts],
        }
        return save(fig, base, dpi)

    monkeypatch.setattr(figures, "save", capture)
    return seen


def png_size(path: Path) -> tuple[int, int]:
    """Width and height in pixels from the PNG header."""
    return struct.unpack(">II", path.read_bytes()[16:24])


# ------------------------------------------------------------------------------------------------
# Figure 3: bands clipped to the metric's range, the paired difference per T_t
# ------------------------------------------------------------------------------------------------

# digits: a baseline near 100 % whose Student-t interval runs past 100 (must be clipped)
BASE_HIGH = {0: 98.6, 1: 99.7, 2: 100.0}
TSSD_HIGH = {3: {0: 98.9, 1: 99.8, 2: 100.0}, 4: {0: 99.2, 1: 100.0, 2: 100.0}}
# digits_dvs: seeds that agree on the gain: paired, it excludes 0; Welch's interval would not
BASE_DVS = {0: 95.0, 1: 97.0, 2: 99.0}
TSSD_DVS = {4: {0: 95.5, 1: 97.6, 2: 99.4}, 6: {0: 95.2, 1: 97.1}}  # t_t=6: a seed short


def figure3_csvs(out: Path) -> None:
    rows, runs = [], []
    for ds, base, cells in (("digits", BASE_HIGH, TSSD_HIGH), ("digits_dvs", BASE_DVS, TSSD_DVS)):
        rows.append(agg_row(f"b-{ds}", base, method="baseline", dataset=ds, t_s=2, t_t=""))
        runs += run_rows(f"b-{ds}", base)
        for t_t, seeds in cells.items():
            rows.append(agg_row(f"t-{ds}-{t_t}", seeds, method="tssd", dataset=ds, t_s=2, t_t=t_t))
            runs += run_rows(f"t-{ds}-{t_t}", seeds)
    write_csv(out / "figure3.csv", rows)
    write_csv(out / "figure3_runs.csv", runs)


def test_sweep_bands_stay_in_range_and_the_panel_below_pairs_by_seed(tmp_path, drawn):
    figure3_csvs(tmp_path)
    paths = render_figure(load_layout("paper_tables/figure3.yaml"), QUICK, tmp_path)
    assert [p.name for p in paths] == ["figure3_figdata.csv", "figure3.pdf", "figure3.png"]
    fd = read_rows(tmp_path / "figure3_figdata.csv")
    assert list(fd[0]) == figures.FIGDATA_COLUMNS

    # the baseline's own interval passes 100 %; drawn, it stops there and says so
    assert mean_ci(list(BASE_HIGH.values()))[1] > 100.0
    (base,) = [r for r in fd if r["element"] == "baseline" and r["panel"] == "digits"]
    assert fnum(base["hi"]) == 100.0 and "hi clipped at 100" in base["flag"]
    assert fnum(base["lo"]) == pytest.approx(mean_ci(list(BASE_HIGH.values()))[0])
    for r in fd:
        if r["element"] in ("mean", "baseline") or r["series"] == "y":
            assert 0.0 <= fnum(r["lo"]) <= fnum(r["hi"]) <= 100.0, r
        if r["element"] in ("mean", "baseline"):
            assert r["interval"] == figures.MEAN_CI and r["n"] in ("2", "3")

    # the difference to the baseline per T_t, paired by seed
    diffs = {(r["panel"], r["x"]): r for r in fd if r["element"] == "diff"}
    assert set(diffs) == {
        ("digits", "3"),
        ("digits", "4"),
        ("digits_dvs", "4"),
        ("digits_dvs", "6"),
    }
    d = diffs[("digits_dvs", "4")]
    m, lo, hi = paired_t(TSSD_DVS[4], BASE_DVS)
    assert (fnum(d["y"]), fnum(d["lo"]), fnum(d["hi"])) == pytest.approx((m, lo, hi))
    assert d["interval"] == "95% paired t, 3 seeds" and d["n"] == "3"
    assert d["flag"] == "excludes 0"
    # the same seeds unpaired would not exclude 0: the pairing is what the panel shows
    welch = diff_ci({k + 10: v for k, v in TSSD_DVS[4].items()}, BASE_DVS)
    assert welch[1] < 0.0 < welch[2] and welch[3].startswith("Welch")
    # a cell that ran fewer seeds than its baseline cannot be paired: Welch, and it says so
    welch_row = diffs[("digits_dvs", "6")]
    assert (welch_row["interval"], welch_row["n"]) == ("95% Welch t, 2 vs 3 seeds", "2 vs 3")

    # the figure says what its bands are and how many seeds are behind each line
    caption = " ".join(r["note"] for r in fd if r["element"] == "caption")
    assert "95 % Student-t interval" in caption and "clipped to [0, 100]" in caption
    fig = drawn["figure3"]
    assert "TSSD (n = 3 seeds)" in fig["legends"]
    assert "TSSD (n = 2\u20133 seeds)" in fig["legends"]  # digits_dvs: t_t=6 has two
    assert "baseline (T_s only), n = 3 seeds" in fig["legends"]
    assert "shaded: 95 % Student-t interval" in fig["legends"]
    assert "TSSD \u2212 baseline (T_s only): paired 95 % t-interval (n = 3 seeds)" in fig["legends"]
    assert "teacher timesteps T_t" in fig["xlabels"]


def test_the_teacher_at_t_t_is_drawn_beside_tssd_and_never_compared(tmp_path, drawn):
    """Figure 3's second series is the same TSSD runs' network at T_t (``teacher_acc``): a mean
    line with its band, but no difference to the baseline (only the plot's metric has one)."""
    figure3_csvs(tmp_path)
    rows = read_rows(tmp_path / "figure3.csv")
    teacher = {4: {0: 96.5, 1: 98.0, 2: 99.6}, 6: {0: 95.9, 1: 97.3}}
    rows += [
        agg_row(
            f"t-digits_dvs-{t}", s, "teacher_acc", method="tssd", dataset="digits_dvs", t_s=2, t_t=t
        )
        for t, s in teacher.items()
    ]
    write_csv(tmp_path / "figure3.csv", rows)
    render_figure(load_layout("paper_tables/figure3.yaml"), QUICK, tmp_path)
    fd = read_rows(tmp_path / "figure3_figdata.csv")
    label = "its network at T_t (the teacher)"
    got = {r["x"]: r for r in fd if r["series"] == label}
    assert {(r["panel"], r["element"]) for r in got.values()} == {("digits_dvs", "mean")}
    for t, seeds in teacher.items():
        lo, hi = mean_ci(list(seeds.values()))
        row = got[str(t)]
        assert (fnum(row["y"]), fnum(row["lo"]), fnum(row["hi"])) == pytest.approx(
            (mean_std(list(seeds.values()))[0], lo, min(hi, 100.0))
        )
    assert not [r for r in fd if r["element"] == "diff" and label in r["series"]]
    assert len([r for r in fd if r["element"] == "diff"]) == 4  # TSSD's, as without the teacher
    assert f"{label}, n = 2\u20133 seeds" in drawn["figure3"]["legends"]


def test_differences_never_pair_another_metrics_seeds(tmp_path):
    figure3_csvs(tmp_path)  # its runs CSV holds test accuracy only
    rows = read_rows(tmp_path / "figure3.csv")
    write_csv(tmp_path / "figure3.csv", [{**r, "metric": "train_acc"} for r in rows])
    layout = load_layout("paper_tables/figure3.yaml")
    layout = dataclasses.replace(layout, plot={**layout.plot, "metric": "train_acc"})
    render_figure(layout, QUICK, tmp_path)
    diffs = [r for r in read_rows(tmp_path / "figure3_figdata.csv") if r["element"] == "diff"]
    assert len(diffs) == 4
    for r in diffs:
        assert r["interval"] == "none (no per-seed values)" and r["lo"] == r["hi"] == ""
        assert r["flag"] == ""  # no interval, so no claim that it excludes 0


# ------------------------------------------------------------------------------------------------
# Figure 4: diverging scale centred on the baseline, fixed range, marks on significant cells
# ------------------------------------------------------------------------------------------------

GRID_BASE = {0: 95.0, 1: 97.0, 2: 99.0}
GRID_GAIN = {  # (alpha, beta) -> per-seed change from the baseline
    (0.5, 0.5): (0.5, 0.6, 0.4),  # consistent gain: marked
    (1.0, 0.5): (-1.0, 1.0, 0.2),  # noise: not marked
    (0.5, 1.0): (3.0, 3.1, 2.9),  # beyond the +-2 colour range: marked and saturated
    (1.0, 1.0): (-0.5, -0.6, -0.4),  # consistent loss: marked too (the interval excludes 0)
}


def figure4_csvs(out: Path, gains: dict | None = None) -> None:
    rows = [agg_row("b", GRID_BASE, method="baseline", dataset="digits", alpha="", beta="")]
    runs = run_rows("b", GRID_BASE)
    for (a, b), gain in (gains or GRID_GAIN).items():
        seeds = {s: GRID_BASE[s] + g for s, g in zip(GRID_BASE, gain, strict=True)}
        cell = f"t-{a}-{b}"
        rows.append(agg_row(cell, seeds, method="tssd", dataset="digits", alpha=a, beta=b))
        runs += run_rows(cell, seeds)
    write_csv(out / "figure4.csv", rows)
    write_csv(out / "figure4_runs.csv", runs)


def test_grid_is_centred_on_the_baseline_and_marks_cells_whose_interval_excludes_it(
    tmp_path, drawn
):
    figure4_csvs(tmp_path)
    render_figure(load_layout("paper_tables/figure4.yaml"), QUICK, tmp_path)
    fd = read_rows(tmp_path / "figure4_figdata.csv")
    (colour,) = [r for r in fd if r["element"] == "colour"]
    big = load_style(QUICK).heatmap_range
    assert (fnum(colour["y"]), fnum(colour["lo"]), fnum(colour["hi"])) == (0.0, -big, big)
    (base,) = [r for r in fd if r["element"] == "baseline"]
    assert fnum(base["y"]) == pytest.approx(97.0)

    diffs = {(fnum(r["x"]), r["series"]): r for r in fd if r["element"] == "diff"}
    marked = {k for k, r in diffs.items() if "excludes baseline" in r["flag"]}
    assert marked == {(0.5, "β=0.5"), (0.5, "β=1"), (1, "β=1")}
    saturated = {k for k, r in diffs.items() if "saturated" in r["flag"]}
    assert saturated == {(0.5, "β=1")}
    seeds = {s: GRID_BASE[s] + g for s, g in zip(GRID_BASE, GRID_GAIN[(0.5, 0.5)], strict=True)}
    m, lo, hi = paired_t(seeds, GRID_BASE)
    r = diffs[(0.5, "β=0.5")]
    assert (fnum(r["y"]), fnum(r["lo"]), fnum(r["hi"])) == pytest.approx((m, lo, hi))
    assert r["interval"] == "95% paired t, 3 seeds"
    # every cell is named by both weights
    cells = [r for r in fd if r["element"] in ("cell", "diff")]
    assert len(cells) == 8 and all(
        r["note"].startswith("α=") and ", β=" in r["note"] for r in cells
    )

    fig = drawn["figure4"]
    stars = [t for t in fig["texts"] if t.endswith("*")]
    assert len(stars) == len(marked)
    assert any("95 % Student-t interval of the difference" in t for t in fig["texts"])


def test_a_grid_with_holes_says_what_a_blank_cell_means(tmp_path, drawn):
    """The small profile's plus-shaped alpha x beta grid leaves the corners blank."""
    blank = "Blank: no finished run there, or not in this profile's grid."
    figure4_csvs(tmp_path)
    render_figure(load_layout("paper_tables/figure4.yaml"), QUICK, tmp_path)
    assert not any(blank in t for t in drawn["figure4"]["texts"])  # the full grid: no hole
    corner = {k: v for k, v in GRID_GAIN.items() if k != (0.5, 0.5)}
    figure4_csvs(tmp_path, corner)
    render_figure(load_layout("paper_tables/figure4.yaml"), QUICK, tmp_path)
    assert any(blank in t for t in drawn["figure4"]["texts"])
    fd = read_rows(tmp_path / "figure4_figdata.csv")
    assert len([r for r in fd if r["element"] == "cell"]) == 3


def test_grid_colour_range_comes_from_the_style(tmp_path):
    figure4_csvs(tmp_path)
    profile = dataclasses.replace(QUICK, style=FigureStyle(heatmap_range=5.0))
    render_figure(load_layout("paper_tables/figure4.yaml"), profile, tmp_path)
    fd = read_rows(tmp_path / "figure4_figdata.csv")
    (colour,) = [r for r in fd if r["element"] == "colour"]
    assert (fnum(colour["lo"]), fnum(colour["hi"])) == (-5.0, 5.0)
    assert not any("saturated" in r["flag"] for r in fd)


# ------------------------------------------------------------------------------------------------
# Figure 5: validation curves when present, only epochs every seed evaluated
# ------------------------------------------------------------------------------------------------


def curve(cell: str, method: str, metric: str, epoch: int, n: int, mean: float, std: float):
    return {
        "cell": cell,
        "method": method,
        "dataset": "digits",
        "metric": metric,
        "epoch": str(epoch),
        "n": str(n),
        "mean": repr(mean),
        "std": repr(std),
    }


def figure5_csvs(out: Path, with_val: bool) -> None:
    rows = []
    for cell, method, acc in (("b", "baseline", 90.0), ("t", "tssd", 99.5)):
        if with_val:
            for epoch in (2, 4, 6):
                rows.append(curve(cell, method, "val_acc", epoch, 3, acc - 6 + epoch, 0.8))
            rows.append(curve(cell, method, "val_acc", 5, 2, acc, 0.8))  # one seed missed it
        for epoch in (1, 2, 3) if not with_val else (6,):
            rows.append(curve(cell, method, "test_acc", epoch, 3, acc - 3 + epoch, 0.5))
        rows.append(curve(cell, method, "train_acc", 6, 3, 99.9, 0.1))
    write_csv(out / "figure5_curves.csv", rows)
    write_csv(
        out / "figure5.csv",
        [
            agg_row("b", {0: 90.0, 1: 90.5, 2: 91.0}, method="baseline", dataset="digits"),
            agg_row("t", {0: 99.0, 1: 99.5, 2: 100.0}, method="tssd", dataset="digits"),
        ],
    )
    write_csv(
        out / "figure5_runs.csv",
        run_rows("b", {0: 90.0, 1: 90.5, 2: 91.0}) + run_rows("t", {0: 99.0, 1: 99.5, 2: 100.0}),
    )


def test_curves_prefer_validation_and_draw_only_epochs_every_seed_evaluated(tmp_path, drawn):
    figure5_csvs(tmp_path, with_val=True)
    render_figure(load_layout("paper_tables/figure5.yaml"), QUICK, tmp_path)
    fd = read_rows(tmp_path / "figure5_figdata.csv")
    means = [r for r in fd if r["element"] == "mean"]
    assert {r["note"] for r in means} == {"val_acc"}
    assert sorted({int(r["x"]) for r in means}) == [2, 4, 6]
    dropped = [r for r in fd if r["element"] == "dropped"]
    assert [(r["series"], r["x"], r["note"]) for r in dropped] == [
        ("baseline", "5", "evaluated by 2 of 3 seeds"),
        ("TSSD", "5", "evaluated by 2 of 3 seeds"),
    ]
    # the band is the Student-t interval of the mean from the curve's std and n, within 0-100
    r = next(r for r in means if r["series"] == "baseline" and r["x"] == "4")
    h = sps.t.ppf(0.975, 2) * 0.8 / math.sqrt(3)
    assert (fnum(r["lo"]), fnum(r["hi"])) == pytest.approx((88.0 - h, 88.0 + h))
    top = next(r for r in means if r["series"] == "TSSD" and r["x"] == "6")
    assert fnum(top["y"]) + h > 100.0 and fnum(top["hi"]) == 100.0 and "clipped" in top["flag"]
    caption = " ".join(r["note"] for r in fd if r["element"] == "caption")
    assert "2 point(s) evaluated by only some seeds are not drawn" in caption
    fig = drawn["figure5"]
    assert "validation accuracy (%)" in fig["ylabels"]
    assert any("2 point(s) not drawn: not evaluated by every seed" in t for t in fig["titles"])
    assert "TSSD (n = 3 seeds)" in fig["legends"]


def test_curves_fall_back_to_test_accuracy_and_say_nothing_was_dropped(tmp_path, drawn):
    figure5_csvs(tmp_path, with_val=False)
    render_figure(load_layout("paper_tables/figure5.yaml"), QUICK, tmp_path)
    fd = read_rows(tmp_path / "figure5_figdata.csv")
    means = [r for r in fd if r["element"] == "mean"]
    assert {r["note"] for r in means} == {"test_acc"} and len(means) == 6
    assert not [r for r in fd if r["element"] == "dropped"]
    assert "not drawn" not in " ".join(r["note"] for r in fd if r["element"] == "caption")
    assert "test accuracy (%)" in drawn["figure5"]["ylabels"]


# ------------------------------------------------------------------------------------------------
# Figure 6: intervals within 0-1, an x-axis label
# ------------------------------------------------------------------------------------------------


def test_bars_have_intervals_within_range_and_an_x_label(tmp_path, drawn):
    rows = []
    for method, rates in (("baseline", (0.02, 0.9)), ("tssd", (0.01, 0.95))):
        for layer, rate in zip(("stages.0", "stages.1"), rates, strict=True):
            seeds = {0: rate - 0.01, 1: rate, 2: rate + 0.04}
            rows.append(
                agg_row(
                    f"f-{method}", seeds, f"nb_sparsity:{layer}", method=method, dataset="digits"
                )
            )
    write_csv(tmp_path / "figure6.csv", rows)
    render_figure(load_layout("paper_tables/figure6.yaml"), QUICK, tmp_path)
    fd = read_rows(tmp_path / "figure6_figdata.csv")
    bars = [r for r in fd if r["element"] == "bar"]
    assert len(bars) == 4
    assert all(0.0 <= fnum(r["lo"]) <= fnum(r["y"]) <= fnum(r["hi"]) <= 1.0 for r in bars)
    assert any("lo clipped at 0" in r["flag"] for r in bars)
    assert any("hi clipped at 1" in r["flag"] for r in bars)
    fig = drawn["figure6"]
    # the second row (effective SynOps per layer) has no rows here: only the first is drawn
    assert [x for x in fig["xlabels"] if x] == ["layer (input to output)"]
    assert "TSSD (n = 3 seeds)" in fig["legends"]


# ------------------------------------------------------------------------------------------------
# Style: bench/style.yaml < profile style: < $TSSD_FIGURE_STYLE
# ------------------------------------------------------------------------------------------------


def test_style_layers_restyle_without_code(tmp_path, monkeypatch):
    monkeypatch.delenv(figures.STYLE_ENV, raising=False)
    figure3_csvs(tmp_path)
    layout = load_layout("paper_tables/figure3.yaml")

    render_figure(layout, QUICK, tmp_path)
    default = load_style(QUICK)
    assert png_size(tmp_path / "figure3.png")[0] == round(2 * default.panel_width * default.dpi)
    labels = {r["panel_label"] for r in read_rows(tmp_path / "figure3_figdata.csv")} - {""}
    assert labels == {"digits", "digits-DVS"}  # the profile's labels of its stand-ins

    # a profile's style: section (as written in a profile YAML) overrides the defaults
    text = (Path(QUICK.path).read_text()) + (
        "style: {dpi: 50, panel_width: 3.0, dataset_labels: {digits: Digits 8x8}}\n"
    )
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "quick.yaml").write_text(text)
    styled = load_profile(tmp_path / "p" / "quick.yaml")
    render_figure(layout, styled, tmp_path)
    assert png_size(tmp_path / "figure3.png")[0] == round(2 * 3.0 * 50)
    rows = read_rows(tmp_path / "figure3_figdata.csv")
    assert {r["panel_label"] for r in rows} - {""} == {"Digits 8x8", "digits-DVS"}

    # $TSSD_FIGURE_STYLE overrides the profile; dataset labels merge name by name
    env_file = tmp_path / "mine.yaml"
    env_file.write_text("dpi: 40\ndataset_labels: {digits_dvs: Emulated DVS}\n")
    monkeypatch.setenv(figures.STYLE_ENV, str(env_file))
    render_figure(layout, styled, tmp_path)
    assert png_size(tmp_path / "figure3.png")[0] == round(2 * 3.0 * 40)
    labels = {r["panel_label"] for r in read_rows(tmp_path / "figure3_figdata.csv")} - {""}
    assert labels == {"Digits 8x8", "Emulated DVS"}


def test_style_changes_no_number(tmp_path, monkeypatch):
    monkeypatch.delenv(figures.STYLE_ENV, raising=False)
    layout = load_layout("paper_tables/figure3.yaml")
    out = []
    for name, profile in (
        ("a", QUICK),
        (
            "b",
            dataclasses.replace(QUICK, style=FigureStyle(dpi=30, font_scale=1.4, context="talk")),
        ),
    ):
        (tmp_path / name).mkdir()
        figure3_csvs(tmp_path / name)
        render_figure(layout, profile, tmp_path / name)
        out.append((tmp_path / name / "figure3_figdata.csv").read_bytes())
    assert out[0] == out[1]


def test_bad_style_is_one_line_naming_the_key(tmp_path, monkeypatch):
    text = Path(QUICK.path).read_text() + "style: {dpi: 300, colour: red}\n"
    (tmp_path / "quick.yaml").write_text(text)
    with pytest.raises(SpecError, match=r"unknown key 'style.colour'"):
        load_profile(tmp_path / "quick.yaml")
    (tmp_path / "quick.yaml").write_text(Path(QUICK.path).read_text() + "style: {dpi: 0}\n")
    with pytest.raises(SpecError, match=r"key 'style.dpi': got 0"):
        load_profile(tmp_path / "quick.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("diverging_cmap: NotAColourMap\n")
    monkeypatch.setenv(figures.STYLE_ENV, str(bad))
    with pytest.raises(SpecError, match="diverging_cmap.*NotAColourMap"):
        load_style(QUICK)
    monkeypatch.setenv(figures.STYLE_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(SpecError, match="TSSD_FIGURE_STYLE.*not found"):
        load_style(QUICK)


# ------------------------------------------------------------------------------------------------
# Determinism: the data and the PDF are the same bytes on a second render
# ------------------------------------------------------------------------------------------------


def test_rendering_twice_gives_identical_figdata_and_pdf(tmp_path, monkeypatch):
    monkeypatch.delenv(figures.STYLE_ENV, raising=False)
    got = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        figure4_csvs(tmp_path / name)
        render_figure(load_layout("paper_tables/figure4.yaml"), QUICK, tmp_path / name)
        got.append(
            [(tmp_path / name / f).read_bytes() for f in ("figure4_figdata.csv", "figure4.pdf")]
        )
    assert got[0] == got[1]
    assert b"CreationDate" not in got[0][1]


# ------------------------------------------------------------------------------------------------
# The forest plot: outliers clipped with an arrow and their value, n and interval type per row
# ------------------------------------------------------------------------------------------------

FOREST_EXPERIMENT = """\
id: tinyforest
kind: table
title: tiny forest
layout: paper_tables/table1.yaml  # never read: the forest draws from the claims CSV alone
variants:
  variant:
    default: {label: every choice at its default, set: {}}
    short: {label: shorter teacher, derive: {method.t_t: "t_s + 1"}}
    wild: {label: a wild reading, set: {}}
grid:
  - {method: [tssd], dataset: [cifar10], t_s: [2], variant: [default, short, wild]}
  - {method: [baseline], dataset: [cifar10], t_s: [2]}
claims:
  - {id: beats, kind: greater, text: above the baseline, a: {method: tssd},
     b: {method: baseline}, per: [dataset, variant]}
forest: {claim: beats, axis: variant}
"""


def forest_case(out: Path):
    """A three-reading forest experiment and its claims CSV under ``out``; one reading wild."""
    exp_path = out / "tinyforest.yaml"
    exp_path.write_text(FOREST_EXPERIMENT)
    claims = [
        {"claim": "beats", "group": "all", "outcome": "inconclusive", "note": "1/3 hold"},
        *(
            {
                "claim": "beats",
                "group": f"dataset=digits,variant={v}",
                "outcome": outcome,
                "a_mean": "97",
                "b_mean": "96.5",
                "diff": d,
                "ci_lo": lo,
                "ci_hi": hi,
                "note": note,
            }
            for v, d, lo, hi, outcome, note in (
                ("default", "0.5", "0.2", "0.8", "holds", "paired t, 8 seeds"),
                ("short", "-0.1", "-0.6", "0.4", "unclear", "Welch t, 3 vs 2 seeds"),
                ("wild", "9.0", "-15.0", "33.0", "unclear", "paired t, 3 seeds"),
            )
        ),
    ]
    write_csv(out / "tinyforest_claims.csv", claims)
    return load_experiment(exp_path)


def test_forest_clips_outliers_with_arrows_and_states_n_and_interval_per_row(tmp_path, drawn):
    from bench.present.forest import render_forest

    exp = forest_case(tmp_path)
    paths = render_forest(exp, QUICK, tmp_path)
    assert tmp_path / "tinyforest_forest_figdata.csv" in paths
    fd = read_rows(tmp_path / "tinyforest_forest_figdata.csv")
    (axis,) = [r for r in fd if r["element"] == "axis"]
    lo_x, hi_x = fnum(axis["lo"]), fnum(axis["hi"])
    rows = {r["x"]: r for r in fd if r["element"] == "diff"}
    # the ordinary rows fit; the wild one's ends and point are arrows at the edge with values
    assert lo_x < -0.6 and 0.8 < hi_x < 9.0
    assert rows["default"]["flag"] == "" and rows["short"]["flag"] == ""
    assert rows["wild"]["flag"].split("; ") == [
        f"diff +9.00 beyond the axis: arrow at {hi_x:+.2f}",
        f"lo -15.00 beyond the axis: arrow at {lo_x:+.2f}",
        f"hi +33.00 beyond the axis: arrow at {hi_x:+.2f}",
    ]
    assert (rows["default"]["interval"], rows["default"]["n"]) == ("95% paired t", "8")
    assert (rows["short"]["interval"], rows["short"]["n"]) == ("95% Welch t", "3 vs 2")
    fig = drawn["tinyforest_forest"]
    assert {"paired, n = 8", "Welch, n = 3 vs 2", "paired, n = 3"} <= set(fig["texts"])
    assert {"+9.0", "-15.0", "+33.0"} <= set(fig["texts"])  # the clipped values, written out


# ------------------------------------------------------------------------------------------------
# Panels without finished runs (the paper profile before any run) say why and draw no number
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("figure", ["figure3", "figure4", "figure5", "figure6"])
def test_panels_without_runs_say_why_and_draw_nothing(tmp_path, drawn, figure):
    reason = "dataset cifar10 not found under --data-root"
    rows = [
        {
            "cell": f"{m}-{ds}",
            "method": m,
            "dataset": ds,
            "t_t": "",
            "alpha": "",
            "beta": "",
            "stands_for": f"dataset={ds}",
            "metric": "test_acc",
            "n": "0",
            "mean": "",
            "std": "",
            "ci_lo": "",
            "ci_hi": "",
            "status": "not-run",
            "reason": reason,
        }
        for ds in ("cifar10", "cifar10_dvs")
        for m in ("baseline", "tssd")
    ]
    write_csv(tmp_path / f"{figure}.csv", rows)
    (tmp_path / f"{figure}_curves.csv").write_text("")  # aggregate writes no curve rows
    render_figure(load_layout(f"paper_tables/{figure}.yaml"), load_profile("paper"), tmp_path)
    fd = read_rows(tmp_path / f"{figure}_figdata.csv")
    assert {r["element"] for r in fd} == {"caption"}
    notes = [t for t in drawn[figure]["texts"] if t.startswith("no ")]
    assert len(notes) >= 2  # one per panel
    if figure != "figure5":  # the curves CSV holds no reason; the aggregate does
        assert all(reason in t for t in notes)
    assert {"CIFAR-10", "CIFAR10-DVS"} <= set(drawn[figure]["titles"])


def test_rendering_never_imports_torch(tmp_path):
    """DESIGN.md: everything after the run record regenerates without torch (a fresh clone's
    report must not pay torch's import, nor need it installed)."""
    script = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
import test_bench_figures as t
from bench.present.figures import render_figure
from bench.present.forest import render_forest
from bench.plan.schema import load_layout
out = Path({str(tmp_path)!r})
t.figure4_csvs(out)
render_figure(load_layout("paper_tables/figure4.yaml"), t.QUICK, out)
render_forest(t.forest_case(out), t.QUICK, out)
assert (out / "tinyforest_forest_figdata.csv").is_file()
print("torch" in sys.modules)
"""
    env = {k: v for k, v in os.environ.items() if k != figures.STYLE_ENV}
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "False"
