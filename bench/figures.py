"""Aggregate CSVs -> the paper's figures as PDF and PNG (seaborn on matplotlib, colour-blind-safe).

The figure's ``plot`` block in ``paper_tables/<id>.yaml`` names its type and axes:

* ``sweep`` (figure 3): every seed's value against an axis (``x``, e.g. t_t) for the ``series``
  cells (the runs CSV), seaborn's line of their mean with the tables' 95 % Student-t band, and
  the ``baseline`` cells as a horizontal line with its band; one panel per value of ``panels``.
* ``grid`` (figure 4): a heatmap of the metric over two axes (``x``, ``y``, e.g. alpha and beta)
  with each mean and its difference to the baseline written in its square, and the baseline
  marked on the colour bar.
* ``curves`` (figure 5): test accuracy per epoch (mean over seeds, std band) per ``series``.
* ``bars`` (figure 6): per-layer firing rates, grouped bars per ``series`` with std error bars.

Colours are the Okabe-Ito palette (seaborn's theme on top of it); the heatmap uses viridis. Panels
without finished runs say why. The bars and the curves' std bands are drawn by hand: seaborn
computes its error bars from raw observations, and the CSVs hold per-layer and per-epoch
aggregates.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.aggregate import num, read_csv
from bench.schema import Layout, Profile, SpecError, rel

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
BASELINE_COLOR = "#000000"


def _select(rows: list[dict[str, str]], match: dict[str, Any]) -> list[dict[str, str]]:
    from bench.expand import fmt_value

    return [r for r in rows if all(r.get(k, "") == fmt_value(v) for k, v in match.items())]


def _panels(rows: list[dict[str, str]], axis: str | None) -> list[str]:
    if not axis:
        return [""]
    return list(dict.fromkeys(v for r in rows if (v := r.get(axis, "")))) or [""]


def _panel_title(rows: list[dict[str, str]], axis: str | None, value: str) -> str:
    if not axis:
        return ""
    stands = next((r.get("stands_for", "") for r in rows if r.get(axis) == value), "")
    names = [
        part.split("=", 1)[1].replace("|", ", ")
        for part in stands.split(";")
        if part.startswith(f"{axis}=")
    ]
    if names and names[0] != value:
        return f"{value} (for {names[0]})"
    return value


def _not_run_note(ax, rows: list[dict[str, str]]) -> None:
    reasons = sorted(
        {r.get("reason", "") for r in rows if r.get("status") in ("not-run", "failed")}
    )
    text = "no finished runs" + (f":\n{reasons[0][:90]}" if reasons and reasons[0] else "")
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _series_label(match: dict[str, Any], labels: dict[str, str]) -> str:
    key = ",".join(f"{k}={v}" for k, v in match.items())
    return labels.get(key, " ".join(str(v) for v in match.values()))


def _seed_values(runs: list[dict[str, str]], cell: str) -> list[float]:
    """Every finished seed's test accuracy of ``cell`` (the experiment's runs CSV)."""
    return [
        num(r["test_acc"])
        for r in runs
        if r["cell"] == cell and r["role"] == "cell" and r["status"] == "finished"
    ]


def _sweep(fig, axes, rows, plot, profile, runs):
    """Each series' seeds against the x axis (seaborn; the band is the Student-t 95 % interval
    of the tables, :func:`bench.stats.mean_ci`), the baseline as a line with its interval."""
    import pandas as pd
    import seaborn as sns

    from bench.stats import mean_ci

    metric = plot.get("metric", "test_acc")
    x = plot["x"]
    rows = [r for r in rows if r["metric"] == metric]
    labels = [_series_label(s, plot.get("labels", {})) for s in plot["series"]]
    for ax, panel in zip(axes, _panels(rows, plot.get("panels")), strict=False):
        prow = _select(rows, {plot["panels"]: panel}) if plot.get("panels") else rows
        ok = [r for r in prow if r["status"] in ("ok", "partial")]
        ax.set_title(_panel_title(rows, plot.get("panels"), panel), fontsize=9)
        if not ok:
            _not_run_note(ax, prow)
            continue
        points = [
            {"x": float(r[x]), "value": v, "series": label}
            for series, label in zip(plot["series"], labels, strict=True)
            for r in _select(ok, series)
            if r.get(x)
            # every seed when the runs CSV has them, else the cell's mean (no band)
            for v in (metric == "test_acc" and _seed_values(runs, r["cell"])) or [num(r["mean"])]
        ]
        if points:
            data = pd.DataFrame(points)
            sns.lineplot(
                data=data,
                x="x",
                y="value",
                hue="series",
                hue_order=[lab for lab in labels if lab in set(data["series"])],
                palette=OKABE_ITO,
                marker="o",
                errorbar=lambda v: mean_ci(list(v)),
                ax=ax,
            )
            ax.set_xticks(sorted(set(data["x"])))
        base = _select(ok, plot["baseline"]) if "baseline" in plot else []
        if base:
            b = base[0]
            ax.axhline(
                num(b["mean"]),
                color=BASELINE_COLOR,
                linestyle="--",
                label=plot.get("baseline_label", "baseline"),
            )
            ax.axhspan(num(b["ci_lo"]), num(b["ci_hi"]), color=BASELINE_COLOR, alpha=0.08)
        ax.set_xlabel(plot.get("x_label", x))
        ax.set_ylabel(plot.get("y_label", metric))
        ax.legend(fontsize=8, loc="best")


def _grid(fig, axes, rows, plot, profile, runs):
    """A seaborn heatmap of the cell means over two axes, each square annotated with its mean
    and its difference to the baseline, the baseline marked on the colour bar."""
    import numpy as np
    import pandas as pd
    import seaborn as sns

    metric = plot.get("metric", "test_acc")
    xk, yk = plot["x"], plot["y"]
    rows = [r for r in rows if r["metric"] == metric]
    for ax, panel in zip(axes, _panels(rows, plot.get("panels")), strict=False):
        prow = _select(rows, {plot["panels"]: panel}) if plot.get("panels") else rows
        ok = [r for r in _select(prow, plot["series"][0]) if r["status"] in ("ok", "partial")]
        ax.set_title(_panel_title(rows, plot.get("panels"), panel), fontsize=9)
        if not ok:
            _not_run_note(ax, prow)
            continue
        z = (
            pd.DataFrame([{"x": float(r[xk]), "y": float(r[yk]), "m": num(r["mean"])} for r in ok])
            .pivot(index="y", columns="x", values="m")
            .sort_index(ascending=False)
        )
        base = [
            r for r in _select(prow, plot.get("baseline", {})) if r["status"] in ("ok", "partial")
        ]
        bmean = num(base[0]["mean"]) if base and "baseline" in plot else math.nan
        lo, hi = float(np.nanmin(z.values)), float(np.nanmax(z.values))
        if not math.isnan(bmean):
            lo, hi = min(lo, bmean), max(hi, bmean)
        pad = 0.05 * (hi - lo or 1.0)  # keeps a baseline at either end visible on the bar

        def label(m: float, base: float = bmean) -> str:
            if math.isnan(m):
                return ""
            return f"{m:.1f}" + (f"\n({m - base:+.1f})" if not math.isnan(base) else "")

        annot = z.map(label)
        sns.heatmap(
            z,
            ax=ax,
            cmap="viridis",
            vmin=lo - pad,
            vmax=hi + pad,
            annot=annot,
            fmt="",
            annot_kws={"fontsize": 8},
            xticklabels=[f"{v:g}" for v in z.columns],
            yticklabels=[f"{v:g}" for v in z.index],
            cbar_kws={"label": plot.get("z_label", metric)},
        )
        ax.set_xlabel(plot.get("x_label", xk))
        ax.set_ylabel(plot.get("y_label", yk))
        if not math.isnan(bmean):
            ax.collections[0].colorbar.ax.axhline(bmean, color="#D55E00", linewidth=2.5)
            ax.set_title(
                f"{ax.get_title()}\nbaseline {bmean:.2f} (orange mark on the bar); "
                "brackets: vs baseline",
                fontsize=8,
            )


def _curves(fig, axes, rows, plot, profile, runs):
    """Mean over seeds per epoch (seaborn lines) with a band of one std, per series."""
    import pandas as pd
    import seaborn as sns

    metric = plot.get("metric", "test_acc")
    rows = [r for r in rows if r["metric"] == metric]
    labels = [_series_label(s, plot.get("labels", {})) for s in plot["series"]]
    colors = [BASELINE_COLOR, *OKABE_ITO]  # the first series (the baseline) in black
    for ax, panel in zip(
        axes, plot.get("panel_values") or _panels(rows, plot.get("panels")), strict=False
    ):
        prow = _select(rows, {plot["panels"]: panel}) if plot.get("panels") else rows
        ax.set_title(_panel_title(rows, plot.get("panels"), panel) or panel, fontsize=9)
        if not prow:
            _not_run_note(ax, prow)
            continue
        data = pd.DataFrame(
            [
                {"epoch": int(r["epoch"]), "mean": num(r["mean"]), "std": num(r["std"]), "s": lab}
                for series, lab in zip(plot["series"], labels, strict=True)
                for r in _select(prow, series)
            ]
        )
        if data.empty:
            _not_run_note(ax, prow)
            continue
        order = [lab for lab in labels if lab in set(data["s"])]
        palette = dict(zip(labels, colors, strict=False))
        sns.lineplot(
            data=data,
            x="epoch",
            y="mean",
            hue="s",
            hue_order=order,
            palette=palette,
            errorbar=None,
            ax=ax,
        )
        for lab in order:
            d = data[data["s"] == lab].sort_values("epoch")
            sd = d["std"].fillna(0.0)
            ax.fill_between(
                d["epoch"],
                d["mean"] - sd,
                d["mean"] + sd,
                color=palette[lab],
                alpha=0.2,
                linewidth=0,
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(plot.get("y_label", metric))
        ax.legend(fontsize=8, loc="lower right", title=None)


def _bars(fig, axes, rows, plot, profile, runs):
    import numpy as np

    for ax, panel in zip(axes, _panels(rows, plot.get("panels")), strict=False):
        prow = _select(rows, {plot["panels"]: panel}) if plot.get("panels") else rows
        ax.set_title(_panel_title(rows, plot.get("panels"), panel), fontsize=9)
        rates = [
            r
            for r in prow
            if r["metric"].startswith("firing_rate:") and r["status"] in ("ok", "partial")
        ]
        if not rates:
            _not_run_note(ax, prow)
            continue
        layers = list(dict.fromkeys(r["metric"].split(":", 1)[1] for r in rates))
        n = len(plot["series"])
        width = 0.8 / n
        xs = np.arange(len(layers))
        for k, series in enumerate(plot["series"]):
            sel = {r["metric"].split(":", 1)[1]: r for r in _select(rates, series)}
            ms = [num(sel[lay]["mean"]) if lay in sel else math.nan for lay in layers]
            ss = [num(sel[lay]["std"]) if lay in sel else 0.0 for lay in layers]
            ss = [0.0 if math.isnan(s) else s for s in ss]
            color = BASELINE_COLOR if k == 0 else OKABE_ITO[(k - 1) % len(OKABE_ITO)]
            ax.bar(
                xs + (k - (n - 1) / 2) * width,
                ms,
                width,
                yerr=ss,
                color=color,
                alpha=0.85 if k else 0.6,
                capsize=2,
                label=_series_label(series, plot.get("labels", {})),
            )
        ax.set_xticks(xs, layers, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(plot.get("y_label", "firing rate"))
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)


PLOTS = {"sweep": _sweep, "grid": _grid, "curves": _curves, "bars": _bars}


def render_figure(
    layout: Layout, profile: Profile, results_dir: Path, name: str | None = None
) -> list[Path]:
    """Write ``<name>.pdf`` and ``<name>.png`` from the CSVs of experiment ``name`` (default: the
    layout's id, the same for every shipped experiment)."""
    name = name or layout.id
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper", palette=OKABE_ITO)
    plot = layout.plot
    kind = plot.get("type")
    if kind not in PLOTS:
        raise SpecError(
            f"{rel(layout.path)}: key 'plot.type': got {kind!r}, expected one of {', '.join(PLOTS)}"
        )
    src = results_dir / (f"{name}_curves.csv" if kind == "curves" else f"{name}.csv")
    rows = read_csv(src)
    if kind == "curves":
        panels = _panels(read_csv(results_dir / f"{name}.csv"), plot.get("panels"))
        plot = {**plot, "panel_values": panels}
        summary = read_csv(results_dir / f"{name}.csv")
        for r in rows:  # carry stands_for into the curve rows for the panel titles
            r.setdefault(
                "stands_for", next((s["stands_for"] for s in summary if s["cell"] == r["cell"]), "")
            )
        n_panels = len(panels)
    else:
        n_panels = len(_panels(rows, plot.get("panels")))
    fig, axes = plt.subplots(1, n_panels, figsize=(4.2 * n_panels, 3.4), squeeze=False)
    runs_csv = results_dir / f"{name}_runs.csv"
    runs = read_csv(runs_csv) if runs_csv.is_file() else []
    PLOTS[kind](fig, list(axes[0]), rows, plot, profile, runs)
    note = "" if profile.compare == "paper" else f" [{profile.id} profile: stand-in data]"
    fig.suptitle(f"{layout.title}{note}", fontsize=10)
    fig.tight_layout()
    return save(fig, results_dir / name)


def save(fig, base: Path) -> list[Path]:
    """Write ``fig`` as ``<base>.pdf`` and ``<base>.png`` (each through a temporary file and a
    rename, so a reader never sees half a figure) and close it."""
    import matplotlib.pyplot as plt

    out = [base.with_suffix(".pdf"), base.with_suffix(".png")]
    for p in out:
        tmp = p.with_name(f".{p.stem}.tmp{p.suffix}")
        fig.savefig(tmp, dpi=150)
        tmp.replace(p)
    plt.close(fig)
    return out
