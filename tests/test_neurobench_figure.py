"""Figure 6 with NeuroBench's per-layer numbers: activation sparsity per spiking layer in the
first row of panels, effective synaptic operations per connection layer in the second."""

from __future__ import annotations

import pytest
from test_bench_figures import QUICK, agg_row, drawn, fnum, read_rows, write_csv  # noqa: F401

from bench.plan.schema import SpecError, load_layout
from bench.present.figures import render_figure

pytestmark = pytest.mark.unit


def test_figure6_draws_sparsity_and_synops_rows_each_in_its_range(tmp_path, drawn):  # noqa: F811
    rows = []
    for method, scale in (("baseline", 1.0), ("tssd", 0.8)):
        for layer, s in (("stages.0.1", 0.97), ("stages.1.0.1", 0.6)):
            seeds = {0: s - 0.02, 1: s, 2: min(1.0, s + 0.03)}
            rows.append(
                agg_row(
                    f"f-{method}", seeds, f"nb_sparsity:{layer}", method=method, dataset="digits"
                )
            )
        for layer, ops in (("stages.0.0.0.0", 1000.0), ("classifier.1", 3.0)):
            # a small count spread widely: its interval runs below 0 and must stop there
            seeds = {0: scale * ops, 1: scale * ops * 0.1, 2: scale * ops * 2.5}
            rows.append(
                agg_row(f"f-{method}", seeds, f"nb_synops:{layer}", method=method, dataset="digits")
            )
    write_csv(tmp_path / "figure6.csv", rows)
    render_figure(load_layout("paper_tables/figure6.yaml"), QUICK, tmp_path)
    fd = read_rows(tmp_path / "figure6_figdata.csv")
    sparsity = [r for r in fd if r["element"] == "bar" and r["panel"] == "digits nb_sparsity"]
    synops = [r for r in fd if r["element"] == "bar" and r["panel"] == "digits nb_synops"]
    assert len(sparsity) == 4 and len(synops) == 4
    assert {r["x"] for r in sparsity} == {"stages.0.1", "stages.1.0.1"}
    assert {r["x"] for r in synops} == {"stages.0.0.0.0", "classifier.1"}
    assert all(0.0 <= fnum(r["lo"]) <= fnum(r["hi"]) <= 1.0 for r in sparsity)
    assert any("hi clipped at 1" in r["flag"] for r in sparsity)
    assert all(fnum(r["lo"]) >= 0.0 for r in synops)
    assert any("lo clipped at 0" in r["flag"] for r in synops)
    assert not any("hi clipped" in r["flag"] for r in synops)  # counts have no upper bound
    axis = {r["panel"]: fnum(r["hi"]) for r in fd if r["element"] == "axis"}
    assert axis["digits nb_sparsity"] <= 1.0 and axis["digits nb_synops"] > 1000.0
    fig = drawn["figure6"]
    assert "activation sparsity (NeuroBench)" in fig["ylabels"]
    assert "effective SynOps / inference" in fig["ylabels"]
    caption = " ".join(r["note"] for r in fd if r["element"] == "caption")
    assert "effective synaptic operations" in caption
    assert "clipped to each metric's range" in caption


def test_a_bars_row_without_a_prefix_names_the_key(tmp_path):
    import dataclasses

    layout = load_layout("paper_tables/figure6.yaml")
    plot = {**layout.plot, "rows": [{"y_label": "no prefix"}]}
    write_csv(tmp_path / "figure6.csv", [])
    with pytest.raises(SpecError, match=r"figure6.yaml: key 'plot.rows\[0\].prefix': got None"):
        render_figure(dataclasses.replace(layout, plot=plot), QUICK, tmp_path)
