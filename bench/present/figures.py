"""Aggregate CSVs -> the paper's figures: the plotted numbers as CSV, then PDF and PNG from them.

Each figure computes every number it draws into ``<id>_figdata.csv`` (one row per drawn element,
:data:`FIGDATA_COLUMNS`) and draws only from those rows: the CSV is the figure's reviewable,
byte-stable content (a PNG's bytes change with the font renderer). ``plot.type`` in
``paper_tables/<id>.yaml`` picks ``sweep`` (figure 3: means against an axis, the paired difference
to the baseline below), ``grid`` (figure 4: heatmap of the difference to the baseline), ``curves``
(figure 5: accuracy per epoch) or ``bars`` (figure 6: per-layer metrics). Bands and error bars are
the tables' 95 % Student-t intervals clipped to the metric's range, drawn with matplotlib because
seaborn would recompute them from raw values. How figures look: :func:`load_style`.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench import BENCH_DIR
from bench.analyse import frames
from bench.analyse.frames import AGGREGATE, CURVES, FIGDATA, RUNS
from bench.plan.schema import FigureStyle, Layout, Profile, SpecError, read_yaml, rel
from tssd.api import Builder, atomic_write_text

STYLE_FILE = BENCH_DIR / "style.yaml"
STYLE_ENV = "TSSD_FIGURE_STYLE"
"""Environment variable naming a style YAML file laid over the profile's style."""

FIGDATA_COLUMNS = FIGDATA.header()
"""``element`` is what a row draws (``mean``, ``baseline``, ``diff``, ``cell``, ``bar``,
``dropped`` (not drawn), ``axis`` (limits in lo/hi), ``colour`` (centre in y, limits in lo/hi),
``caption``); ``lo``/``hi`` are the interval as drawn (clipped, ``flag`` says where)."""

MEAN_CI = "95% Student-t of the mean"
BAND = "shaded: 95 % Student-t interval"


# ------------------------------------------------------------------------------------------------
# Style: bench/style.yaml < the profile's style: < $TSSD_FIGURE_STYLE
# ------------------------------------------------------------------------------------------------


def _layer(base: FigureStyle, top: FigureStyle) -> FigureStyle:
    """``base`` with every field ``top`` sets; dataset labels merged name by name."""
    changes = {
        f.name: getattr(top, f.name)
        for f in dataclasses.fields(FigureStyle)
        if getattr(top, f.name) is not None
    }
    if top.dataset_labels is not None:
        changes["dataset_labels"] = {**(base.dataset_labels or {}), **top.dataset_labels}
    return dataclasses.replace(base, **changes)


def _read_style(path: Path) -> FigureStyle:
    return Builder(rel(path), SpecError, strict_strings=True).build(FigureStyle, read_yaml(path))


def load_style(profile: Profile | None = None, env: dict[str, str] | None = None) -> FigureStyle:
    """``bench/style.yaml``, then the profile's ``style:``, then the file named by
    ``$TSSD_FIGURE_STYLE`` (in ``env``, default ``os.environ``), each overriding what it sets."""
    env = os.environ if env is None else env
    style = _read_style(STYLE_FILE)
    unset = [f.name for f in dataclasses.fields(FigureStyle) if getattr(style, f.name) is None]
    if unset:
        raise SpecError(f"{rel(STYLE_FILE)}: keys {', '.join(unset)} are required (the defaults)")
    if profile is not None:
        style = _layer(style, profile.style)
    if env.get(STYLE_ENV):
        path = Path(env[STYLE_ENV]).expanduser()
        if not path.is_file():
            raise SpecError(f"${STYLE_ENV}={env[STYLE_ENV]}: file not found")
        style = _layer(style, _read_style(path))
    import matplotlib

    if style.diverging_cmap not in matplotlib.colormaps:
        raise SpecError(
            f"figure style: key 'diverging_cmap': got {style.diverging_cmap!r}, expected a "
            "matplotlib colour map name (e.g. RdBu, PuOr, vlag)"
        )
    return style


def apply_theme(style: FigureStyle) -> None:
    """Set seaborn's theme from the style (call inside ``plt.rc_context()``: it sets rcParams)."""
    import seaborn as sns

    sns.set_theme(
        context=style.context,
        style=style.theme,
        palette=list(style.palette),
        font=style.font_family,
        font_scale=style.font_scale,
    )


# ------------------------------------------------------------------------------------------------
# The plotted data and the helpers every kind shares
# ------------------------------------------------------------------------------------------------


class FigData:
    """The rows of ``<id>_figdata.csv``, collected in drawing order."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, panel: str, label: str, element: str, series: str = "", **kw: Any) -> dict:
        """Append one row (unknown keys are an error: the columns are the file's contract)."""
        extra = set(kw) - set(FIGDATA_COLUMNS)
        if extra:
            raise KeyError(f"not figdata columns: {sorted(extra)}")
        row = {"panel": panel, "panel_label": label, "element": element, "series": series, **kw}
        self.rows.append(row)
        return row

    def select(self, panel: str, element: str) -> list[dict[str, Any]]:
        """The rows of one panel and element, in the order they were added."""
        return [r for r in self.rows if r["panel"] == panel and r["element"] == element]

    def text(self) -> str:
        """CSV text (:data:`bench.analyse.frames.FIGDATA`)."""
        return frames.text(self.rows, FIGDATA, FIGDATA_COLUMNS)


def metric_range(metric: str) -> tuple[float, float] | None:
    """The values a metric can take: accuracies 0-100 %, firing rates and sparsities 0-1,
    synaptic operation counts >= 0, else unbounded."""
    if metric.endswith("_acc") or metric.startswith(("test_acc", "val_acc", "train_acc")):
        return 0.0, 100.0
    if "firing_rate" in metric or "sparsity" in metric:
        return 0.0, 1.0
    if metric.startswith("nb_synops"):
        return 0.0, math.inf
    return None


def clip_interval(
    lo: float, hi: float, rng: tuple[float, float] | None
) -> tuple[float, float, str]:
    """``(lo, hi)`` inside ``rng`` and a flag naming the ends that were cut (empty if none)."""
    if rng is None:
        return lo, hi, ""
    cut = []
    if lo < rng[0]:
        lo, cut = rng[0], [*cut, f"lo clipped at {rng[0]:g}"]
    if hi > rng[1]:
        hi, cut = rng[1], [*cut, f"hi clipped at {rng[1]:g}"]
    return lo, hi, "; ".join(cut)


def t_interval(mean: float, std: float, n: int) -> tuple[float, float]:
    """The 95 % Student-t interval of a mean from its std and n (NaN below two values)."""
    from bench.stats import LEVEL, t_quantile

    if n < 2 or math.isnan(std):
        return math.nan, math.nan
    h = t_quantile(0.5 + LEVEL / 2.0, n - 1) * std / math.sqrt(n)
    return mean - h, mean + h


def _n(v: int | None) -> int:
    return 0 if v is None else v


def _ok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] in ("ok", "partial")]


def _spans(rows: list[dict[str, Any]]) -> list[float]:
    return [v for r in rows for v in (r["y"], r["lo"], r["hi"])]


def _range_note(rng: tuple[float, float] | None) -> str:
    return f", clipped to [{rng[0]:g}, {rng[1]:g}]" if rng else ""


def _mean_curves(ax, rows, labels, colors: dict, marker: str | None) -> None:
    """One mean line per series (its legend entry names the seeds behind it) with its interval
    as a band: Figure 3's sweep and Figure 5's curves."""
    import pandas as pd
    import seaborn as sns

    means = pd.DataFrame(rows)
    legend = {
        lab: _with_n(lab, means.loc[means["series"] == lab, "n"])
        for lab in labels
        if lab in set(means["series"])
    }
    means["legend"] = means["series"].map(legend)
    palette = {legend[lab]: colors[lab] for lab in legend}
    sns.lineplot(
        data=means,
        x="x",
        y="y",
        hue="legend",
        hue_order=list(legend.values()),
        palette=palette,
        marker=marker,
        errorbar=None,
        ax=ax,
    )
    for lab in legend:
        d = means[means["series"] == lab]
        ax.fill_between(d["x"], d["lo"], d["hi"], color=colors[lab], alpha=0.2, lw=0)


def _with_n(label: str, ns: Iterable[int]) -> str:
    """A legend entry: ``TSSD (n = 3 seeds)``, ``baseline (T_s only), n = 3 seeds``."""
    return f"{label}, {_n_text(ns)}" if label.endswith(")") else f"{label} ({_n_text(ns)})"


def _n_text(ns: Iterable[int]) -> str:
    """``n = 3 seeds`` (``n = 2-3 seeds`` when the points differ)."""
    vals = sorted({n for n in ns if n})
    if not vals:
        return "n = 0"
    span = f"{vals[0]}" if len(vals) == 1 else f"{vals[0]}\u2013{vals[-1]}"
    return f"n = {span} seed" + ("" if vals == [1] else "s")


def _axis_limits(values: Iterable[float], rng: tuple[float, float] | None) -> tuple[float, float]:
    """Limits that show every value with a margin and never pass the metric's range."""
    v = [x for x in values if not math.isnan(x)]
    if not v:
        return rng if rng else (0.0, 1.0)
    lo, hi = min(v), max(v)
    pad = 0.08 * (hi - lo) or 0.5 * (abs(hi) * 0.01 or 1.0)
    lo, hi = lo - pad, hi + pad
    if rng is not None:
        lo, hi = max(lo, rng[0]), min(hi, rng[1])
    return lo, hi


def _band_legend(ax, text: str, loc: str = "best") -> None:
    """The axis's legend with one more entry naming what the shaded bands are."""
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(facecolor="#808080", alpha=0.25, linewidth=0))
    ax.legend(handles, [*labels, text], fontsize="x-small", loc=loc, title=None)


def _select(rows: list[dict[str, Any]], match: dict[str, Any]) -> list[dict[str, Any]]:
    from bench.plan.expand import fmt_value

    return [r for r in rows if all(r.get(k, "") == fmt_value(v) for k, v in match.items())]


def _panels(rows: list[dict[str, Any]], axis: str | None) -> list[str]:
    if not axis:
        return [""]
    return list(dict.fromkeys(v for r in rows if (v := r.get(axis, "")))) or [""]


def display_name(name: str, profile: Profile, style: FigureStyle) -> str:
    """A dataset's display name: the style's, else the profile's label of that stand-in."""
    labels = style.dataset_labels or {}
    if name in labels:
        return labels[name]
    for m in profile.datasets.values():
        if m.stand_in == name and m.label:
            return m.label
    return name


def _panel_title(
    rows: list[dict[str, Any]], axis: str | None, value: str, profile: Profile, style: FigureStyle
) -> str:
    """``digits (for CIFAR-10, CIFAR-100)``: the panel's value and the names it stands for."""
    if not axis:
        return ""
    shown = display_name(value, profile, style) if axis == "dataset" else value
    stands = next((r.get("stands_for", "") for r in rows if r.get(axis) == value), "")
    names = [
        part.split("=", 1)[1].split("|")
        for part in stands.split(";")
        if part.startswith(f"{axis}=")
    ]
    if names and names[0] != [value]:
        display = [display_name(n, profile, style) if axis == "dataset" else n for n in names[0]]
        return f"{shown} (for {', '.join(display)})"
    return shown


def _not_run_note(ax, rows: list[dict[str, Any]], why: str = "no finished runs") -> None:
    reasons = sorted(
        {r.get("reason", "") for r in rows if r.get("status") in ("not-run", "failed")}
    )
    text = why + (f":\n{reasons[0][:90]}" if reasons and reasons[0] else "")
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize="small")
    ax.set_xticks([])
    ax.set_yticks([])


def _diff(
    a: dict[int, float] | None, b: dict[int, float] | None, a_mean: float, b_mean: float
) -> tuple[float, float, float, str, str]:
    """``(diff, lo, hi, n, interval)`` of cell a minus cell b: the paired (or Welch) 95 %
    Student-t interval from their seeds, or the bare difference of means without seeds; ``n``
    is the seeds as text (``3``, or ``3 vs 2`` for Welch), as the forest plot writes it."""
    from bench.stats import diff_ci

    if not a or not b:
        return a_mean - b_mean, math.nan, math.nan, "", "none (no per-seed values)"
    d, lo, hi, how = diff_ci(a, b)
    n = str(len(a)) if how.startswith("paired") else f"{len(a)} vs {len(b)}"
    return d, lo, hi, n, f"95% {how}"


def _series_label(match: dict[str, Any], labels: dict[str, str]) -> str:
    key = ",".join(f"{k}={v}" for k, v in match.items())
    return labels.get(key, " ".join(str(v) for v in match.values()))


class _Ctx:
    """What every plot function needs: the aggregate rows, the layout's plot block, the profile,
    the style, the runs CSV and the figdata being written."""

    def __init__(self, rows, plot, profile, style, runs, fd):
        self.rows, self.plot, self.profile, self.style = rows, plot, profile, style
        self.runs, self.fd = runs, fd
        self.seeds = frames.seed_values(runs, plot.get("metric", "test_acc"))
        self.labels = [_series_label(s, plot.get("labels", {})) for s in plot.get("series", ())]

    def panels(self, rows: list[dict[str, Any]]) -> list[str]:
        return _panels(rows, self.plot.get("panels"))

    def title(self, rows: list[dict[str, Any]], panel: str) -> str:
        return _panel_title(rows, self.plot.get("panels"), panel, self.profile, self.style)

    def in_panel(self, rows: list[dict[str, Any]], panel: str) -> list[dict[str, Any]]:
        return _select(rows, {self.plot["panels"]: panel}) if self.plot.get("panels") else rows

    def open(self, ax, rows: list[dict[str, Any]], panel: str) -> tuple[list, tuple[str, str]]:
        """The rows of one panel and its ``(panel, title)``; the title set on ``ax``."""
        title = self.title(rows, panel)
        ax.set_title(title, fontsize="medium")
        return self.in_panel(rows, panel), (panel, title)

    def colors(self, baseline_first: bool) -> dict[str, str]:
        pal = list(self.style.palette)
        cols = [self.style.baseline_color, *pal] if baseline_first else pal
        return {lab: cols[i % len(cols)] for i, lab in enumerate(self.labels)}

    def point(self, where, element, series, r, rng, ci=None, **kw) -> dict[str, Any]:
        """A mean of aggregate row ``r`` with its interval (``ci``, else the row's) clipped."""
        lo, hi, flag = clip_interval(*(ci or (r["ci_lo"], r["ci_hi"])), rng)
        kw.update(lo=lo, hi=hi, n=_n(r["n"]), interval=MEAN_CI, flag=flag)
        return self.fd.add(*where, element, series, y=r["mean"], **kw)

    def diff(self, where, series: str, r, b, **kw) -> dict[str, Any]:
        """Row ``r`` minus baseline row ``b``, paired by seed (:func:`_diff`)."""
        a_seeds, b_seeds = self.seeds.get(r["cell"]), self.seeds.get(b["cell"])
        d, lo, hi, n, how = _diff(a_seeds, b_seeds, r["mean"], b["mean"])
        return self.fd.add(*where, "diff", series, y=d, lo=lo, hi=hi, n=n, interval=how, **kw)

    def ylim(self, ax, where, values, rng, name: str = "y", lo: float | None = None) -> None:
        """Set y limits that show ``values`` (from ``lo`` when given) and record them."""
        low, hi = _axis_limits(values, rng)
        lo = low if lo is None else lo
        ax.set_ylim(lo, hi)
        self.fd.add(*where, "axis", name, lo=lo, hi=hi)


# ------------------------------------------------------------------------------------------------
# The four kinds
# ------------------------------------------------------------------------------------------------


def _sweep(c: _Ctx, fig, axes) -> list[str]:
    """Means against x with their bands, the baseline line; the paired differences below."""
    plot, fd = c.plot, c.fd
    metric, x = plot.get("metric", "test_acc"), plot["x"]
    x_label = plot.get("x_label", x)
    rng = metric_range(metric)
    rows = [r for r in c.rows if r["metric"] == metric]
    blabel = plot.get("baseline_label", "baseline")
    colors = c.colors(baseline_first=False)
    with_diff = len(axes) > 1
    for j, panel in enumerate(c.panels(rows)):
        ax, dax = axes[0][j], axes[1][j] if with_diff else None
        prow, where = c.open(ax, rows, panel)
        ok = _ok(prow)
        if not ok:
            for a in (ax, dax) if with_diff else (ax,):
                _not_run_note(a, prow)
            continue
        base = _select(ok, plot["baseline"])[:1] if "baseline" in plot else []
        for series, label in zip(plot["series"], c.labels, strict=True):
            at_x = [r for r in _select(ok, series) if r.get(x)]
            for r in sorted(at_x, key=lambda r: float(r[x])):
                c.point(where, "mean", label, r, rng, x=float(r[x]))
                if base and with_diff:
                    d = c.diff(where, f"{label} \u2212 {blabel}", r, base[0], x=float(r[x]))
                    d["flag"] = "excludes 0" if d["lo"] > 0 or d["hi"] < 0 else ""
        if base:
            c.point(where, "baseline", blabel, base[0], rng)
        means = fd.select(panel, "mean")
        if means:
            _mean_curves(ax, means, c.labels, colors, "o")
            ax.set_xticks(sorted({r["x"] for r in means}))
        for b in fd.select(panel, "baseline"):
            color = c.style.baseline_color
            ax.axhline(b["y"], color=color, ls="--", label=_with_n(blabel, [b["n"]]))
            ax.axhspan(b["lo"], b["hi"], color=color, alpha=0.08, lw=0)
        c.ylim(ax, where, _spans(means + fd.select(panel, "baseline")), rng)
        ax.set_ylabel(plot.get("y_label", metric))
        ax.set_xlabel("" if with_diff else x_label)
        _band_legend(ax, BAND)
        if with_diff:
            _diff_panel(c, dax, where, x_label, colors)
    caption = [f"Shaded: 95 % Student-t interval of the mean over seeds{_range_note(rng)}."]
    if with_diff:
        caption.append(
            f"Lower panels: difference to the baseline per {x_label}, 95 % Student-t interval "
            "of the per-seed differences (paired by seed; Welch where the seeds differ); filled "
            "markers: excludes 0."
        )
    return caption


def _diff_panel(c: _Ctx, ax, where: tuple[str, str], x_label: str, colors) -> None:
    """Paired differences to the baseline with their intervals, a line at 0."""
    rows = c.fd.select(where[0], "diff")
    ax.axhline(0.0, color=c.style.baseline_color, lw=0.8, ls="--")
    if not rows:
        _not_run_note(ax, [], "no baseline to pair with")
        return
    for k, lab in enumerate(dict.fromkeys(r["series"] for r in rows)):
        rs = [r for r in rows if r["series"] == lab]
        color = colors[c.labels[k % len(c.labels)]]
        kinds = sorted({r["interval"].split()[1] for r in rs if r["interval"].startswith("95%")})
        ns = ", ".join(dict.fromkeys(r["n"] for r in rs if r["n"]))
        legend = f"{lab}: {'/'.join(kinds) or 'no'} 95 % t-interval (n = {ns or 0} seeds)"
        for i, r in enumerate(rs):
            err = [[r["y"] - r["lo"]], [r["hi"] - r["y"]]] if not math.isnan(r["lo"]) else None
            mfc = color if r["flag"] else "white"
            label = legend if i == 0 else None
            ax.errorbar(
                r["x"], r["y"], yerr=err, fmt="o", color=color, mfc=mfc, capsize=3, label=label
            )
    c.ylim(ax, where, [*_spans(rows), 0.0], None, "y (difference)")
    ax.set_xlabel(x_label)
    ax.set_ylabel("\u0394 to baseline (points)")
    ax.legend(fontsize="x-small", loc="best")


def _grid(c: _Ctx, fig, axes) -> list[str]:
    """A heatmap of each cell's difference to the baseline, the significant cells marked."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.patches import Rectangle

    plot, fd, style = c.plot, c.fd, c.style
    metric = plot.get("metric", "test_acc")
    rng = metric_range(metric)
    xk, yk = plot["x"], plot["y"]
    xs, ys = plot.get("x_symbol", xk), plot.get("y_symbol", yk)
    rows = [r for r in c.rows if r["metric"] == metric]
    big = style.heatmap_range
    for j, panel in enumerate(c.panels(rows)):
        ax = axes[0][j]
        prow, where = c.open(ax, rows, panel)
        ok = _ok(_select(prow, plot["series"][0]))
        base = _ok(_select(prow, plot.get("baseline", {})))
        if not ok or not base or "baseline" not in plot:
            _not_run_note(ax, prow, "no finished runs" if not ok else "no finished baseline run")
            continue
        b = base[0]
        c.point(where, "baseline", plot.get("baseline_label", "baseline"), b, rng)
        scale = f"{style.diverging_cmap}, centred on the baseline"
        fd.add(
            *where,
            "colour",
            "difference to the baseline (points)",
            y=0.0,
            lo=-big,
            hi=big,
            note=scale,
        )
        for r in sorted(ok, key=lambda r: (-float(r[yk]), float(r[xk]))):
            xv, yv = float(r[xk]), float(r[yk])
            series, note = f"{ys}={yv:g}", f"{xs}={xv:g}, {ys}={yv:g}"
            c.point(where, "cell", series, r, rng, x=xv, note=note)
            d = c.diff(where, series, r, b, x=xv, note=note)
            flags = ["excludes baseline"] if d["lo"] > 0 or d["hi"] < 0 else []
            if abs(d["y"]) > big:
                flags.append(f"colour saturated at {math.copysign(big, d['y']):+g}")
            d["flag"] = "; ".join(flags)
        cells = pd.DataFrame(fd.select(panel, "cell"))
        diffs = pd.DataFrame(fd.select(panel, "diff"))
        cells["d"] = diffs["y"].to_numpy()
        cells["mark"] = diffs["flag"].str.contains("excludes baseline").to_numpy()
        cells["yv"] = [float(s.split("=", 1)[1]) for s in cells["series"]]
        cells["t"] = [
            f"{m:.1f}\n{d:+.1f}{'*' if mk else ''}"
            for m, d, mk in zip(cells["y"], cells["d"], cells["mark"], strict=True)
        ]
        z = cells.pivot(index="yv", columns="x", values="d").sort_index(ascending=False)
        text = cells.pivot(index="yv", columns="x", values="t")
        text = text.reindex(index=z.index, columns=z.columns).fillna("")
        over = z.to_numpy()
        extend = ("neither", "min", "max", "both")[(over < -big).any() + 2 * (over > big).any()]
        sns.heatmap(
            z,
            ax=ax,
            cmap=style.diverging_cmap,
            center=0.0,
            vmin=-big,
            vmax=big,
            annot=text,
            fmt="",
            annot_kws={"fontsize": "x-small"},
            xticklabels=[f"{v:g}" for v in z.columns],
            yticklabels=[f"{v:g}" for v in z.index],
            cbar_kws={"label": "\u0394 to baseline (points)", "extend": extend},
        )
        for _, r in cells[cells["mark"]].iterrows():
            i, k = list(z.index).index(r["yv"]), list(z.columns).index(r["x"])
            ax.add_patch(Rectangle((k, i), 1, 1, fill=False, edgecolor="#000000", lw=2))
        ax.set_xlabel(plot.get("x_label", xk))
        ax.set_ylabel(plot.get("y_label", yk))
        ax.set_title(
            f"{where[1]}\nbaseline {b['mean']:.2f} (white; {_n_text([_n(b['n'])])}); "
            f"cells: {_n_text(cells['n'])}",
            fontsize="small",
        )
    return [
        f"Colour: cell mean \u2212 baseline mean (points) on a fixed scale of \u00b1{big:g}, "
        "white at the baseline. Numbers: the cell's mean and its difference.",
        "Outlined, *: the 95 % Student-t interval of the difference (paired by seed; Welch "
        "where the seeds differ) excludes 0.",
    ]


CURVE_LABELS = {"val_acc": "validation accuracy (%)", "test_acc": "test accuracy (%)"}


def _curves(c: _Ctx, fig, axes) -> list[str]:
    """Mean over seeds per epoch with its interval, only at epochs every seed evaluated."""
    plot, fd = c.plot, c.fd
    # validation accuracy when the runs have a validation split: the curve a choice may look at
    has_val = "val_acc" in {r["metric"] for r in c.rows}
    metric = "val_acc" if has_val else plot.get("metric", "test_acc")
    y_label = CURVE_LABELS["val_acc"] if metric == "val_acc" else plot.get("y_label", metric)
    rng = metric_range(metric)
    rows = [r for r in c.rows if r["metric"] == metric]
    colors = c.colors(baseline_first=True)  # the first series (the baseline) in black
    done = c.runs[(c.runs["role"] == "cell") & (c.runs["status"] == "finished")]
    finished = {cell: int(n) for cell, n in done["cell"].value_counts().items()}
    dropped_total = 0
    for j, panel in enumerate(plot["panel_values"]):
        ax = axes[0][j]
        prow = c.in_panel(rows, panel)
        where = (panel, c.title(c.rows, panel) or panel)
        ax.set_title(where[1], fontsize="medium")
        for series, label in zip(plot["series"], c.labels, strict=True):
            sel = _select(prow, series)
            seeds = {
                cell: finished.get(cell) or max(_n(r["n"]) for r in sel if r["cell"] == cell)
                for cell in dict.fromkeys(r["cell"] for r in sel)
            }
            for r in sorted(sel, key=lambda r: (r["cell"], _n(r["epoch"]))):
                m, n, epoch, want = r["mean"], _n(r["n"]), _n(r["epoch"]), seeds[r["cell"]]
                if n < want or math.isnan(m):
                    note = f"evaluated by {n} of {want} seeds"
                    fd.add(*where, "dropped", label, x=epoch, y=m, n=n, note=note)
                else:
                    ci = t_interval(m, r["std"], n)
                    c.point(where, "mean", label, r, rng, ci, x=epoch, note=metric)
        means, dropped = fd.select(panel, "mean"), fd.select(panel, "dropped")
        dropped_total += len(dropped)
        if not means:
            _not_run_note(ax, prow, "no epoch evaluated by every seed" if dropped else "no runs")
            continue
        _mean_curves(ax, means, c.labels, colors, "o" if len(means) < 40 else None)
        c.ylim(ax, where, _spans(means), rng)
        if dropped:  # under the panel's title, where no curve or legend can cover it
            note = f"{len(dropped)} point(s) not drawn: not evaluated by every seed"
            ax.set_title(f"{where[1]}\n{note}", fontsize="small")
        ax.set_xlabel("epoch")
        ax.set_ylabel(y_label)
        _band_legend(ax, BAND, loc="lower right")
    caption = [
        f"{y_label[:1].upper()}{y_label[1:]} per epoch: mean over seeds, shaded 95 % Student-t "
        f"interval{_range_note(rng)}; only epochs that every seed of a curve evaluated."
    ]
    if dropped_total:
        caption.append(f"{dropped_total} point(s) evaluated by only some seeds are not drawn.")
    return caption


def bar_metrics(plot: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-layer metrics a ``bars`` plot draws, one row of panels each: its ``rows`` (each
    ``{prefix: 'nb_sparsity:', y_label: ...}``), else the firing rates."""
    return list(plot.get("rows") or ({"prefix": "firing_rate:"},))


def _bars(c: _Ctx, fig, axes) -> list[str]:
    """Grouped bars of per-layer metrics with their intervals, one row of panels per metric."""
    import numpy as np

    plot, fd = c.plot, c.fd
    colors = c.colors(baseline_first=True)
    specs = bar_metrics(plot)
    ranges = []
    for i, spec in enumerate(specs):
        prefix = spec["prefix"]
        rng = metric_range(prefix) or (0.0, math.inf)
        ranges.append(rng)
        for j, panel in enumerate(c.panels(c.rows)):
            ax = axes[i][j]
            prow, (_, title) = c.open(ax, c.rows, panel)
            # one row (the default) keeps the panel's name; more rows name the metric too
            where = (panel if len(specs) == 1 else f"{panel} {prefix.rstrip(':')}".strip(), title)
            rates = [r for r in _ok(prow) if r["metric"].startswith(prefix)]
            if not rates:
                _not_run_note(ax, prow)
                continue
            layers = list(dict.fromkeys(r["metric"].split(":", 1)[1] for r in rates))
            for series, label in zip(plot["series"], c.labels, strict=True):
                sel = {r["metric"].split(":", 1)[1]: r for r in _select(rates, series)}
                for layer in (lay for lay in layers if lay in sel):
                    c.point(where, "bar", label, sel[layer], rng, x=layer)
            bars = fd.select(where[0], "bar")
            shown = [lab for lab in c.labels if any(r["series"] == lab for r in bars)]
            width = 0.8 / max(1, len(shown))
            xs = np.arange(len(layers))
            for k, lab in enumerate(shown):
                by = {r["x"]: r for r in bars if r["series"] == lab}
                pos = [i for i, lay in enumerate(layers) if lay in by]
                rs = [by[layers[i]] for i in pos]
                err = [
                    [0.0 if math.isnan(r["lo"]) else r["y"] - r["lo"] for r in rs],
                    [0.0 if math.isnan(r["hi"]) else r["hi"] - r["y"] for r in rs],
                ]
                ax.bar(
                    xs[pos] + (k - (len(shown) - 1) / 2) * width,
                    [r["y"] for r in rs],
                    width,
                    yerr=err,
                    color=colors[lab],
                    alpha=0.6 if k == 0 else 0.85,
                    capsize=2,
                    label=_with_n(lab, [r["n"] for r in rs]),
                )
            c.ylim(ax, where, [0.0, *(v for r in bars for v in (r["y"], r["hi"]))], rng, lo=0.0)
            ax.set_xticks(xs, layers, rotation=30, ha="right", fontsize="x-small")
            ax.set_xlabel(plot.get("x_label", "layer"))
            ax.set_ylabel(spec.get("y_label") or plot.get("y_label", "firing rate"))
            ax.grid(alpha=0.3, axis="y")
            ax.legend(
                fontsize="x-small", title="error bars: 95 % Student-t", title_fontsize="x-small"
            )
    if ranges == [(0.0, 1.0)]:
        return ["Error bars: 95 % Student-t interval of the mean over seeds, clipped to [0, 1]."]
    caption = [
        "Error bars: 95 % Student-t interval of the mean over seeds, clipped to each "
        "metric's range (fractions to [0, 1], counts at 0)."
    ]
    return caption + [spec["note"] for spec in specs if spec.get("note")]


PLOTS = {"sweep": _sweep, "grid": _grid, "curves": _curves, "bars": _bars}


def render_figure(
    layout: Layout, profile: Profile, results_dir: Path, name: str | None = None
) -> list[Path]:
    """Write ``<name>_figdata.csv``, then ``<name>.pdf`` and ``<name>.png`` drawn from it, from
    the CSVs of experiment ``name`` (default: the layout's id)."""
    name = name or layout.id
    plot = layout.plot
    kind = plot.get("type")
    if kind not in PLOTS:
        raise SpecError(
            f"{rel(layout.path)}: key 'plot.type': got {kind!r}, expected one of {', '.join(PLOTS)}"
        )
    style = load_style(profile)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    src = results_dir / (f"{name}_curves.csv" if kind == "curves" else f"{name}.csv")
    rows = frames.records(frames.read(src, CURVES if kind == "curves" else AGGREGATE))
    if kind == "curves":
        summary = frames.records(frames.read(results_dir / f"{name}.csv", AGGREGATE))
        plot = {**plot, "panel_values": _panels(summary, plot.get("panels"))}
        for r in rows:  # carry stands_for into the curve rows for the panel titles
            r.setdefault(
                "stands_for", next((s["stands_for"] for s in summary if s["cell"] == r["cell"]), "")
            )
        n_panels = len(plot["panel_values"])
    else:
        n_panels = len(_panels(rows, plot.get("panels")))
    n_rows = 2 if kind == "sweep" and "baseline" in plot else 1
    sweep_diff = n_rows > 1  # a sweep's difference row: shares its x axis, drawn lower
    grow = 0.6
    if kind == "bars":  # one row per per-layer metric, each with layers of its own
        for i, spec in enumerate(bar_metrics(plot)):
            prefix = spec.get("prefix") if isinstance(spec, dict) else None
            if not isinstance(prefix, str) or not prefix.endswith(":"):
                raise SpecError(
                    f"{rel(layout.path)}: key 'plot.rows[{i}].prefix': got {prefix!r}, expected "
                    "a per-layer metric prefix such as 'nb_sparsity:'"
                )
        n_rows, grow = len(bar_metrics(plot)), 1.0
    runs = frames.read(results_dir / f"{name}_runs.csv", RUNS, missing_ok=True)
    fd = FigData()
    with plt.rc_context():
        apply_theme(style)
        fig, axes = plt.subplots(
            n_rows,
            n_panels,
            figsize=(style.panel_width * n_panels, style.panel_height * (1 + grow * (n_rows - 1))),
            squeeze=False,
            sharex="col" if sweep_diff else False,
            gridspec_kw={"height_ratios": [5, 3]} if sweep_diff else None,
        )
        caption = PLOTS[kind](_Ctx(rows, plot, profile, style, runs, fd), fig, axes)
        note = "" if profile.compare == "paper" else f" [{profile.id} profile: stand-in data]"
        for line in caption:
            fd.add("", "", "caption", note=line)
        finish(fig, f"{layout.title}{note}", caption)
    data = results_dir / f"{name}_figdata.csv"
    atomic_write_text(data, fd.text())
    return [data, *save(fig, results_dir / name, style.dpi)]


def finish(fig, title: str, lines: list[str]) -> None:
    """Give ``fig`` its title and, under its panels, its caption, both wrapped to the figure's
    width; the figure grows by the caption's height so the panels keep theirs."""
    import textwrap

    from matplotlib.font_manager import FontProperties

    def wrap(text: str, size: str) -> tuple[str, float]:
        pt = FontProperties(size=size).get_size_in_points()
        width = max(30, int(fig.get_figwidth() * 72 / (0.52 * pt)))
        out = "\n".join(textwrap.fill(line, width) for line in text.split("\n"))
        return out, (out.count("\n") + 1) * pt * 1.35 / 72

    head, _ = wrap(title, "large")
    fig.suptitle(head, fontsize="large")
    text, extra = wrap("\n".join(lines), "x-small") if lines else ("", 0.0)
    height = fig.get_figheight() + extra + 0.1
    fig.set_figheight(height)
    if text:
        fig.text(0.01, 0.05 / height, text, ha="left", va="bottom", fontsize="x-small")
    fig.tight_layout(rect=(0, (extra + 0.1) / height, 1, 1))


def save(fig, base: Path, dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``<base>.pdf`` and ``<base>.png`` (each through a temporary file and a
    rename) and close it; the PDF gets no creation date, so the same figure gives the same bytes."""
    import matplotlib.pyplot as plt

    out = [base.with_suffix(".pdf"), base.with_suffix(".png")]
    for p in out:
        tmp = p.with_name(f".{p.stem}.tmp{p.suffix}")
        meta = {"CreationDate": None} if p.suffix == ".pdf" else {"Software": None}
        fig.savefig(tmp, dpi=dpi, metadata=meta)
        tmp.replace(p)
    plt.close(fig)
    return out
