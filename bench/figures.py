"""Aggregate CSVs -> the paper's figures as PDF and PNG (matplotlib, colour-blind-safe).

The figure's ``plot`` block in ``paper_tables/<id>.yaml`` names its type and axes:

* ``sweep`` (figure 3): metric vs an axis (``x``, e.g. t_t) for the ``series`` cells, with a
  95 % Student-t band, and the ``baseline`` cells as a horizontal line with its band; one panel
  per value of ``panels``.
* ``grid`` (figure 4): a heatmap of the metric over two axes (``x``, ``y``, e.g. alpha and beta)
  with each mean and its difference to the baseline written in its square, and the baseline
  marked on the colour bar.
* ``curves`` (figure 5): test accuracy per epoch (mean over seeds, std band) per ``series``.
* ``bars`` (figure 6): per-layer firing rates, grouped bars per ``series`` with std error bars.

Colours are the Okabe-Ito palette; the heatmap uses viridis. Panels without finished runs say why.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.aggregate import read_csv
from bench.schema import Layout, Profile, SpecError, rel

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
BASELINE_COLOR = "#000000"


def _f(s: str | None) -> float:
    try:
        return float(s) if s not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _select(rows: list[dict[str, str]], match: dict[str, Any]) -> list[dict[str, str]]:
    from bench.expand import fmt_value

    return [r for r in rows if all(r.get(k, "") == fmt_value(v) for k, v in match.items())]


def _panels(rows: list[dict[str, str]], axis: str | None) -> list[str]:
    if not axis:
        return [""]
    out: list[str] = []
    for r in rows:
        v = r.get(axis, "")
        if v and v not in out:
            out.append(v)
    return out or [""]


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


def _sweep(fig, axes, rows, plot, profile):
    metric = plot.get("metric", "test_acc")
    x = plot["x"]
    rows = [r for r in rows if r["metric"] == metric]
    for ax, panel in zip(axes, _panels(rows, plot.get("panels")), strict=False):
        prow = _select(rows, {plot["panels"]: panel}) if plot.get("panels") else rows
        ok = [r for r in prow if r["status"] in ("ok", "partial")]
        if not ok:
            _not_run_note(ax, prow)
            ax.set_title(_panel_title(rows, plot.get("panels"), panel), fontsize=9)
            continue
        for k, series in enumerate(plot["series"]):
            pts = sorted(
                (
                    (float(r[x]), _f(r["mean"]), _f(r["ci_lo"]), _f(r["ci_hi"]))
                    for r in _select(ok, series)
                    if r.get(x)
                ),
                key=lambda t: t[0],
            )
            if not pts:
                continue
            xs, ms, lo, hi = zip(*pts, strict=True)
            color = OKABE_ITO[k % len(OKABE_ITO)]
            ax.plot(xs, ms, "o-", color=color, label=_series_label(series, plot.get("labels", {})))
            ax.fill_between(xs, lo, hi, color=color, alpha=0.2, linewidth=0)
            ax.set_xticks(list(xs))
        if "baseline" in plot:
            base = _select(ok, plot["baseline"])
            if base:
                b = base[0]
                ax.axhline(
                    _f(b["mean"]),
                    color=BASELINE_COLOR,
                    linestyle="--",
                    label=plot.get("baseline_label", "baseline"),
                )
                ax.axhspan(_f(b["ci_lo"]), _f(b["ci_hi"]), color=BASELINE_COLOR, alpha=0.08)
        ax.set_xlabel(plot.get("x_label", x))
        ax.set_ylabel(plot.get("y_label", metric))
        ax.set_title(_panel_title(rows, plot.get("panels"), panel), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")


def _grid(fig, axes, rows, plot, profile):
    import numpy as np

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
        xs = sorted({float(r[xk]) for r in ok})
        ys = sorted({float(r[yk]) for r in ok})
        z = np.full((len(ys), len(xs)), np.nan)
        for r in ok:
            z[ys.index(float(r[yk])), xs.index(float(r[xk]))] = _f(r["mean"])
        base = (
            [r for r in _select(prow, plot["baseline"]) if r["status"] in ("ok", "partial")]
            if "baseline" in plot
            else []
        )
        bmean = _f(base[0]["mean"]) if base else math.nan
        lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
        if not math.isnan(bmean):
            lo, hi = min(lo, bmean), max(hi, bmean)
        pad = 0.05 * (hi - lo or 1.0)  # keeps a baseline at either end visible on the bar
        vmin, vmax = lo - pad, hi + pad
        im = ax.imshow(z, origin="lower", cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        for i in range(len(ys)):
            for j in range(len(xs)):
                if math.isnan(z[i, j]):
                    continue
                text = f"{z[i, j]:.1f}"
                if not math.isnan(bmean):
                    text += f"\n({z[i, j] - bmean:+.1f})"
                shade = (z[i, j] - vmin) / (vmax - vmin)
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="black" if shade > 0.5 else "white",
                )
        ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
        ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
        ax.set_xlabel(plot.get("x_label", xk))
        ax.set_ylabel(plot.get("y_label", yk))
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        cb.set_label(plot.get("z_label", metric), fontsize=8)
        if not math.isnan(bmean):
            cb.ax.axhline(bmean, color="#D55E00", linewidth=2.5)
            ax.set_title(
                f"{ax.get_title()}\nbaseline {bmean:.2f} (orange mark on the bar); "
                "brackets: vs baseline",
                fontsize=8,
            )


def _curves(fig, axes, rows, plot, profile):
    metric = plot.get("metric", "test_acc")
    rows = [r for r in rows if r["metric"] == metric]
    for ax, panel in zip(
        axes, plot.get("panel_values") or _panels(rows, plot.get("panels")), strict=False
    ):
        prow = _select(rows, {plot["panels"]: panel}) if plot.get("panels") else rows
        ax.set_title(_panel_title(rows, plot.get("panels"), panel) or panel, fontsize=9)
        if not prow:
            _not_run_note(ax, prow)
            continue
        for k, series in enumerate(plot["series"]):
            pts = sorted(
                ((int(r["epoch"]), _f(r["mean"]), _f(r["std"])) for r in _select(prow, series)),
                key=lambda t: t[0],
            )
            if not pts:
                continue
            es, ms, ss = zip(*pts, strict=True)
            ss = [0.0 if math.isnan(s) else s for s in ss]
            color = BASELINE_COLOR if k == 0 else OKABE_ITO[(k - 1) % len(OKABE_ITO)]
            ax.plot(es, ms, color=color, label=_series_label(series, plot.get("labels", {})))
            ax.fill_between(
                es,
                [m - s for m, s in zip(ms, ss, strict=True)],
                [m + s for m, s in zip(ms, ss, strict=True)],
                color=color,
                alpha=0.2,
                linewidth=0,
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(plot.get("y_label", metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")


def _bars(fig, axes, rows, plot, profile):
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
        layers: list[str] = []
        for r in rates:
            name = r["metric"].split(":", 1)[1]
            if name not in layers:
                layers.append(name)
        n = len(plot["series"])
        width = 0.8 / n
        xs = np.arange(len(layers))
        for k, series in enumerate(plot["series"]):
            sel = {r["metric"].split(":", 1)[1]: r for r in _select(rates, series)}
            ms = [_f(sel[lay]["mean"]) if lay in sel else math.nan for lay in layers]
            ss = [_f(sel[lay]["std"]) if lay in sel else 0.0 for lay in layers]
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
    PLOTS[kind](fig, list(axes[0]), rows, plot, profile)
    note = "" if profile.compare == "paper" else f" [{profile.id} profile: stand-in data]"
    fig.suptitle(f"{layout.title}{note}", fontsize=10)
    fig.tight_layout()
    out = [results_dir / f"{name}.pdf", results_dir / f"{name}.png"]
    for p in out:
        tmp = p.with_name(f".{p.stem}.tmp{p.suffix}")
        fig.savefig(tmp, dpi=150)
        tmp.replace(p)
    plt.close(fig)
    return out
