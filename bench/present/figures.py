"""Aggregate CSVs -> the paper's figures: every drawn number to ``<id>_figdata.csv`` first, PDF
and PNG drawn from those rows only; bands are the tables' 95 % Student-t intervals clipped to the
metric's range (not seaborn's, which it would recompute from raw values)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from bench import BENCH_DIR
from bench.analyse import frames
from bench.analyse.frames import AGGREGATE, CURVES, FIGDATA, RUNS
from bench.plan.expand import fmt_value
from bench.plan.schema import FigureStyle, Layout, Profile, SpecError, read_yaml, rel
from bench.stats import diff_ci, t_interval
from tssd.api import Builder

STYLE_FILE = BENCH_DIR / "style.yaml"
STYLE_ENV = "TSSD_FIGURE_STYLE"  # names a style YAML file laid over the profile's style
FIGDATA_COLUMNS = FIGDATA.header()
"""``element`` is what a row draws (``mean``, ``baseline``, ``diff``, ``cell``, ``bar``,
``dropped`` (not drawn), ``axis`` (limits in lo/hi), ``colour`` (centre in y, limits in lo/hi),
``caption``); ``lo``/``hi`` are the interval as drawn (clipped, ``flag`` says where)."""
MEAN_CI = "95% Student-t of the mean"
BAND = "shaded: 95 % Student-t interval"
Row = dict[str, Any]
Range = tuple[float, float]


def _read_style(path: Path) -> FigureStyle:
    return Builder(rel(path), SpecError, strict_strings=True).build(FigureStyle, read_yaml(path))


def load_style(profile: Profile) -> FigureStyle:
    """``bench/style.yaml`` < the profile's ``style:`` < the file ``$TSSD_FIGURE_STYLE`` names."""
    style = _read_style(STYLE_FILE)
    unset = [f.name for f in fields(style) if getattr(style, f.name) is None]
    if unset:
        raise SpecError(f"{rel(STYLE_FILE)}: keys {', '.join(unset)} are required (the defaults)")
    layers = [profile.style]
    if os.environ.get(STYLE_ENV):
        path = Path(os.environ[STYLE_ENV]).expanduser()
        if not path.is_file():
            raise SpecError(f"${STYLE_ENV}={os.environ[STYLE_ENV]}: file not found")
        layers.append(_read_style(path))
    for top in layers:  # each sets the fields it gives; dataset labels merge name by name
        changes = {f.name: v for f in fields(top) if (v := getattr(top, f.name)) is not None}
        if top.dataset_labels is not None:
            changes["dataset_labels"] = {**(style.dataset_labels or {}), **top.dataset_labels}
        style = replace(style, **changes)
    import matplotlib

    if style.diverging_cmap not in matplotlib.colormaps:
        raise SpecError(
            f"figure style: key 'diverging_cmap': got {style.diverging_cmap!r}, expected a "
            "matplotlib colour map name (e.g. RdBu, PuOr, vlag)"
        )
    return style


@contextmanager
def themed(style: FigureStyle) -> Iterator[Any]:
    """``matplotlib.pyplot`` (Agg) with seaborn's theme from ``style`` until the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    with plt.rc_context():
        look = {"context": style.context, "style": style.theme, "font": style.font_family}
        sns.set_theme(palette=list(style.palette), font_scale=style.font_scale, **look)
        yield plt


class FigData(list):
    """The rows of ``<id>_figdata.csv``, collected in drawing order."""

    def add(self, panel: str, label: str, element: str, series: str = "", **kw: Any) -> Row:
        """Append one row (unknown keys are an error: the columns are the file's contract)."""
        extra = set(kw) - set(FIGDATA_COLUMNS)
        if extra:
            raise KeyError(f"not figdata columns: {sorted(extra)}")
        row = {"panel": panel, "panel_label": label, "element": element, "series": series, **kw}
        self.append(row)
        return row

    def select(self, panel: str, element: str) -> list[Row]:
        """The rows of one panel and element, in the order they were added."""
        return [r for r in self if r["panel"] == panel and r["element"] == element]

    def write(self, base: Path) -> Path:
        """Write the rows to ``<base>_figdata.csv`` (:data:`bench.analyse.frames.FIGDATA`)."""
        path = base.with_name(f"{base.name}_figdata.csv")
        return frames.write(path, self, FIGDATA, FIGDATA_COLUMNS)


def metric_range(metric: str) -> Range | None:
    """The values a metric can take (accuracies in %, fractions, counts); None: unbounded."""
    if metric.endswith("_acc") or metric.startswith(("test_acc", "val_acc", "train_acc")):
        return 0.0, 100.0
    if "firing_rate" in metric or "sparsity" in metric:
        return 0.0, 1.0
    return (0.0, math.inf) if metric.startswith("nb_synops") else None


def clip_interval(lo: float, hi: float, rng: Range | None) -> tuple[float, float, str]:
    """``(lo, hi)`` inside ``rng`` and a flag naming the ends that were cut (empty if none)."""
    if rng is None:
        return lo, hi, ""
    cut = []
    if lo < rng[0]:
        lo, cut = rng[0], [f"lo clipped at {rng[0]:g}"]
    if hi > rng[1]:
        hi, cut = rng[1], [*cut, f"hi clipped at {rng[1]:g}"]
    return lo, hi, "; ".join(cut)


def _ok(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r["status"] in ("ok", "partial")]


def _spans(rows: list[Row]) -> list[float]:
    return [v for r in rows for v in (r["y"], r["lo"], r["hi"])]


def _select(rows: list[Row], match: dict[str, Any]) -> list[Row]:
    return [r for r in rows if all(r.get(k, "") == fmt_value(v) for k, v in match.items())]


def _panels(rows: list[Row], axis: str | None) -> list[str]:
    if not axis:
        return [""]
    return list(dict.fromkeys(v for r in rows if (v := r.get(axis, "")))) or [""]


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


def _mean_curves(ax, rows: list[Row], labels, colors: dict, marker: str | None) -> None:
    """One mean line per series (its legend names the seeds behind it), its interval a band."""
    import pandas as pd
    import seaborn as sns

    means = pd.DataFrame(rows)
    shown = [lab for lab in labels if lab in set(means["series"])]
    legend = {lab: _with_n(lab, means.loc[means["series"] == lab, "n"]) for lab in shown}
    means["legend"] = means["series"].map(legend)
    hue = {"hue": "legend", "hue_order": list(legend.values())}
    palette = {legend[lab]: colors[lab] for lab in legend}
    sns.lineplot(means, x="x", y="y", palette=palette, marker=marker, errorbar=None, ax=ax, **hue)
    for lab in legend:
        d = means[means["series"] == lab]
        ax.fill_between(d["x"], d["lo"], d["hi"], color=colors[lab], alpha=0.2, lw=0)


def _band_legend(ax, loc: str = "best") -> None:
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(facecolor="#808080", alpha=0.25, linewidth=0))
    ax.legend(handles, [*labels, BAND], fontsize="x-small", loc=loc, title=None)


def _not_run_note(ax, rows: list[Row], why: str = "no finished runs") -> None:
    failed = [r for r in rows if r.get("status") in ("not-run", "failed")]
    reason = min((r.get("reason", "") for r in failed), default="")
    text = why + (f":\n{reason[:90]}" if reason else "")
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize="small")
    ax.set(xticks=[], yticks=[])


def display_name(name: str, profile: Profile, style: FigureStyle) -> str:
    """A dataset's display name: the style's, else the profile's label of that stand-in."""
    stand_ins = {m.stand_in: m.label for m in reversed(profile.datasets.values()) if m.label}
    return {**stand_ins, **(style.dataset_labels or {})}.get(name, name)


class _Ctx:
    """What every kind of plot needs, and the rows of figure data they all write."""

    def __init__(self, rows, plot, profile, style, runs, fd):
        self.rows, self.plot, self.profile, self.style = rows, plot, profile, style
        self.runs, self.fd, self.axis = runs, fd, plot.get("panels")
        self.metric = plot.get("metric", "test_acc")
        self.seeds = frames.seed_values(runs, self.metric)
        names = plot.get("labels", {})
        self.labels = [
            names.get(",".join(f"{k}={v}" for k, v in s.items()), " ".join(map(str, s.values())))
            for s in plot.get("series", ())
        ]

    def metric_rows(self) -> tuple[list[Row], Range | None]:
        return [r for r in self.rows if r["metric"] == self.metric], metric_range(self.metric)

    def title(self, rows: list[Row], value: str) -> str:
        """``digits (for CIFAR-10, CIFAR-100)``: the panel's value and the names it stands for."""
        if not self.axis:
            return ""
        stands = next((r.get("stands_for", "") for r in rows if r.get(self.axis) == value), "")
        key = f"{self.axis}="
        names = [p.split("=", 1)[1].split("|") for p in stands.split(";") if p.startswith(key)]
        names = names[0] if names and names[0] != [value] else []
        if self.axis == "dataset":
            value, *names = (display_name(n, self.profile, self.style) for n in (value, *names))
        return f"{value} (for {', '.join(names)})" if names else value

    def panels(self, axes, rows: list[Row], titled=None, values=None) -> Iterator[tuple]:
        """Per panel: its axes (titled), its rows and ``(panel, title)``."""
        for ax, panel in zip(axes, values or _panels(rows, self.axis), strict=False):
            title = self.title(rows if titled is None else titled, panel)
            ax.set_title(title, fontsize="medium")
            yield ax, _select(rows, {self.axis: panel}) if self.axis else rows, (panel, title)

    def colors(self, baseline_first: bool) -> dict[str, str]:
        cols = [self.style.baseline_color] * baseline_first + list(self.style.palette)
        return {lab: cols[i % len(cols)] for i, lab in enumerate(self.labels)}

    def point(self, where, element: str, series: str, r: Row, rng, ci=None, **kw) -> Row:
        """A mean of aggregate row ``r`` with its interval (``ci``, else the row's) clipped."""
        lo, hi, flag = clip_interval(*(ci or (r["ci_lo"], r["ci_hi"])), rng)
        kw.update(lo=lo, hi=hi, n=r["n"] or 0, interval=MEAN_CI, flag=flag)
        return self.fd.add(*where, element, series, y=r["mean"], **kw)

    def diff(self, where, series: str, r: Row, b: Row, excludes: str, **kw) -> Row:
        """Row ``r`` minus baseline row ``b``, the 95 % interval paired by seed (Welch's where the
        seeds differ; none without seeds), flagged ``excludes`` when the interval excludes 0."""
        a, z = self.seeds.get(r["cell"]), self.seeds.get(b["cell"])
        d, lo, hi, how = r["mean"] - b["mean"], math.nan, math.nan, ""
        if a and z:
            d, lo, hi, how = diff_ci(a, z)
        n = "" if not how else str(len(a)) if how.startswith("paired") else f"{len(a)} vs {len(z)}"
        how = f"95% {how}" if how else "none (no per-seed values)"
        kw.update(lo=lo, hi=hi, n=n, interval=how, flag=excludes if lo > 0 or hi < 0 else "")
        return self.fd.add(*where, "diff", series, y=d, **kw)

    def ylim(self, ax, where, values, rng, name: str = "y", lo: float | None = None) -> None:
        """Set and record y limits: ``values`` with a margin (from ``lo``), inside ``rng``."""
        v = [x for x in values if not math.isnan(x)]
        low, hi = rng or (0.0, 1.0)
        if v:
            pad = 0.08 * (max(v) - min(v)) or 0.5 * (abs(max(v)) * 0.01 or 1.0)
            low, hi = min(v) - pad, max(v) + pad
            if rng is not None:
                low, hi = max(low, rng[0]), min(hi, rng[1])
        lo = low if lo is None else lo
        ax.set_ylim(lo, hi)
        self.fd.add(*where, "axis", name, lo=lo, hi=hi)


def _sweep(c: _Ctx, axes) -> list[str]:
    """Means against x with their bands, the baseline line; the paired differences below."""
    plot, fd, x = c.plot, c.fd, c.plot["x"]
    x_label, blabel = plot.get("x_label", x), plot.get("baseline_label", "baseline")
    rows, rng = c.metric_rows()
    colors = c.colors(baseline_first=False)
    with_diff = len(axes) > 1
    for j, (ax, prow, where) in enumerate(c.panels(axes[0], rows)):
        if not (ok := _ok(prow)):
            for a in (row[j] for row in axes):
                _not_run_note(a, prow)
            continue
        base = _select(ok, plot["baseline"])[:1] if "baseline" in plot else []
        for series, label in zip(plot["series"], c.labels, strict=True):
            # a series naming its own metric draws another quantity of the same runs (figure 3:
            # the network at T_t, the teacher); only the plot's metric is compared with the baseline
            own = series.get("metric", c.metric) != c.metric
            pool = _ok(_select(c.rows, {c.axis: where[0]} if c.axis else {})) if own else ok
            at_x = [r for r in _select(pool, series) if r.get(x)]
            s_rng = metric_range(series["metric"]) if own else rng
            for r in sorted(at_x, key=lambda r: float(r[x])):
                c.point(where, "mean", label, r, s_rng, x=float(r[x]))
                if base and not own:  # a baseline gives the sweep its difference row
                    name = f"{label} \u2212 {blabel}"
                    c.diff(where, name, r, base[0], "excludes 0", x=float(r[x]))
        if base:
            c.point(where, "baseline", blabel, base[0], rng)
        means, bases = fd.select(where[0], "mean"), fd.select(where[0], "baseline")
        if means:
            _mean_curves(ax, means, c.labels, colors, "o")
            ax.set_xticks(sorted({r["x"] for r in means}))
        for b in bases:
            color = c.style.baseline_color
            ax.axhline(b["y"], color=color, ls="--", label=_with_n(blabel, [b["n"]]))
            ax.axhspan(b["lo"], b["hi"], color=color, alpha=0.08, lw=0)
        c.ylim(ax, where, _spans(means + bases), rng)
        ax.set(ylabel=plot.get("y_label", c.metric), xlabel="" if with_diff else x_label)
        _band_legend(ax)
        if with_diff:
            _diff_panel(c, axes[1][j], where, x_label, colors)
    note = f", clipped to [{rng[0]:g}, {rng[1]:g}]" if rng else ""
    caption = [f"Shaded: 95 % Student-t interval of the mean over seeds{note}."]
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
            mfc, label = color if r["flag"] else "white", legend if i == 0 else None
            ax.errorbar(r["x"], r["y"], err, fmt="o", color=color, mfc=mfc, capsize=3, label=label)
    c.ylim(ax, where, [*_spans(rows), 0.0], None, "y (difference)")
    ax.set(xlabel=x_label, ylabel="\u0394 to baseline (points)")
    ax.legend(fontsize="x-small", loc="best")


def _grid(c: _Ctx, axes) -> list[str]:
    """A heatmap of each cell's difference to the baseline, the significant cells marked."""
    import pandas as pd
    import seaborn as sns
    from matplotlib.patches import Rectangle

    plot, fd, style, big = c.plot, c.fd, c.style, c.style.heatmap_range
    rows, rng = c.metric_rows()
    xk, yk = plot["x"], plot["y"]
    xs, ys = plot.get("x_symbol", xk), plot.get("y_symbol", yk)
    blank = False  # a panel with a hole: a cell not run, or not in this profile's grid
    for ax, prow, where in c.panels(axes[0], rows):
        ok = _ok(_select(prow, plot["series"][0]))
        base = _ok(_select(prow, plot.get("baseline", {})))
        if not ok or not base or "baseline" not in plot:
            _not_run_note(ax, prow, "no finished runs" if not ok else "no finished baseline run")
            continue
        b, centred = base[0], f"{style.diverging_cmap}, centred on the baseline"
        c.point(where, "baseline", plot.get("baseline_label", "baseline"), b, rng)
        colour = "difference to the baseline (points)"
        fd.add(*where, "colour", colour, y=0.0, lo=-big, hi=big, note=centred)
        grid = []
        for r in sorted(ok, key=lambda r: (-float(r[yk]), float(r[xk]))):
            xv, yv = float(r[xk]), float(r[yk])
            series, note = f"{ys}={yv:g}", f"{xs}={xv:g}, {ys}={yv:g}"
            c.point(where, "cell", series, r, rng, x=xv, note=note)
            d = c.diff(where, series, r, b, "excludes baseline", x=xv, note=note)
            if abs(d["y"]) > big:
                sat = f"colour saturated at {math.copysign(big, d['y']):+g}"
                d["flag"] = f"{d['flag']}; {sat}" if d["flag"] else sat
            star = "*" if d["lo"] > 0 or d["hi"] < 0 else ""
            grid.append({"x": xv, "yv": yv, "d": d["y"], "star": star})
            grid[-1]["t"] = f"{r['mean']:.1f}\n{d['y']:+.1f}{star}"
        cells = pd.DataFrame(grid)
        z = cells.pivot(index="yv", columns="x", values="d").sort_index(ascending=False)
        text = cells.pivot(index="yv", columns="x", values="t").reindex_like(z).fillna("")
        over = z.to_numpy()
        blank |= bool(z.isna().to_numpy().any())
        extend = ("neither", "min", "max", "both")[(over < -big).any() + 2 * (over > big).any()]
        scale = {"cmap": style.diverging_cmap, "center": 0.0, "vmin": -big, "vmax": big}
        annot = {"annot": text, "fmt": "", "annot_kws": {"fontsize": "x-small"}}
        cbar = {"label": "\u0394 to baseline (points)", "extend": extend}
        xt, yt = ([f"{v:g}" for v in vals] for vals in (z.columns, z.index))
        sns.heatmap(z, ax=ax, xticklabels=xt, yticklabels=yt, cbar_kws=cbar, **scale, **annot)
        for g in (g for g in grid if g["star"]):
            i, k = list(z.index).index(g["yv"]), list(z.columns).index(g["x"])
            ax.add_patch(Rectangle((k, i), 1, 1, fill=False, edgecolor="#000000", lw=2))
        ax.set(xlabel=plot.get("x_label", xk), ylabel=plot.get("y_label", yk))
        ns = _n_text(r["n"] for r in fd.select(where[0], "cell"))
        head = f"baseline {b['mean']:.2f} (white; {_n_text([b['n']])}); cells: {ns}"
        ax.set_title(f"{where[1]}\n{head}", fontsize="small")
    holes = ["Blank: no finished run there, or not in this profile's grid."] if blank else []
    return [
        f"Colour: cell mean \u2212 baseline mean (points) on a fixed scale of \u00b1{big:g}, "
        "white at the baseline. Numbers: the cell's mean and its difference.",
        "Outlined, *: the 95 % Student-t interval of the difference (paired by seed; Welch "
        "where the seeds differ) excludes 0.",
        *holes,
    ]


def _curves(c: _Ctx, axes) -> list[str]:
    """Mean over seeds per epoch with its interval, only at epochs every seed evaluated."""
    plot, fd = c.plot, c.fd
    # validation accuracy when the runs have a validation split: the curve a choice may look at
    if "val_acc" in {r["metric"] for r in c.rows}:
        c.metric = "val_acc"
    y_label = "validation accuracy (%)" if c.metric == "val_acc" else plot.get("y_label", c.metric)
    rows, rng = c.metric_rows()
    colors = c.colors(baseline_first=True)  # the first series (the baseline) in black
    done = c.runs[(c.runs["role"] == "cell") & (c.runs["status"] == "finished")]
    finished = {cell: int(n) for cell, n in done["cell"].value_counts().items()}
    dropped_total = 0
    for ax, prow, where in c.panels(axes[0], rows, c.rows, plot["panel_values"]):
        for series, label in zip(plot["series"], c.labels, strict=True):
            sel = _select(prow, series)
            seeds = {
                cell: finished.get(cell) or max(r["n"] or 0 for r in sel if r["cell"] == cell)
                for cell in dict.fromkeys(r["cell"] for r in sel)
            }
            for r in sorted(sel, key=lambda r: (r["cell"], r["epoch"] or 0)):
                m, n, epoch, want = r["mean"], r["n"] or 0, r["epoch"] or 0, seeds[r["cell"]]
                if n < want or math.isnan(m):
                    note = f"evaluated by {n} of {want} seeds"
                    fd.add(*where, "dropped", label, x=epoch, y=m, n=n, note=note)
                else:
                    ci = t_interval(m, r["std"], n)
                    c.point(where, "mean", label, r, rng, ci, x=epoch, note=c.metric)
        means, dropped = fd.select(where[0], "mean"), fd.select(where[0], "dropped")
        dropped_total += len(dropped)
        if not means:
            _not_run_note(ax, prow, "no epoch evaluated by every seed" if dropped else "no runs")
            continue
        _mean_curves(ax, means, c.labels, colors, "o" if len(means) < 40 else None)
        c.ylim(ax, where, _spans(means), rng)
        if dropped:  # under the panel's title, where no curve or legend can cover it
            note = f"{len(dropped)} point(s) not drawn: not evaluated by every seed"
            ax.set_title(f"{where[1]}\n{note}", fontsize="small")
        ax.set(xlabel="epoch", ylabel=y_label)
        _band_legend(ax, loc="lower right")
    note = f", clipped to [{rng[0]:g}, {rng[1]:g}]" if rng else ""
    caption = [
        f"{y_label[:1].upper()}{y_label[1:]} per epoch: mean over seeds, shaded 95 % Student-t "
        f"interval{note}; only epochs that every seed of a curve evaluated."
    ]
    if dropped_total:
        caption.append(f"{dropped_total} point(s) evaluated by only some seeds are not drawn.")
    return caption


def _bars(c: _Ctx, axes) -> list[str]:
    """Grouped bars of per-layer metrics with their intervals, one row of panels per metric."""
    import numpy as np

    plot, fd, specs = c.plot, c.fd, c.plot["rows"]
    colors = c.colors(baseline_first=True)
    ranges = [metric_range(spec["prefix"]) or (0.0, math.inf) for spec in specs]
    for spec, rng, row in zip(specs, ranges, axes, strict=False):
        prefix = spec["prefix"]
        for ax, prow, (panel, title) in c.panels(row, c.rows):
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
            width, xs = 0.8 / max(1, len(shown)), np.arange(len(layers))
            for k, lab in enumerate(shown):
                rs = [r for r in bars if r["series"] == lab]
                pos = [layers.index(r["x"]) for r in rs]
                err = [
                    [0.0 if math.isnan(r["lo"]) else r["y"] - r["lo"] for r in rs],
                    [0.0 if math.isnan(r["hi"]) else r["hi"] - r["y"] for r in rs],
                ]
                look = {"color": colors[lab], "alpha": 0.6 if k == 0 else 0.85, "capsize": 2}
                at = xs[pos] + (k - (len(shown) - 1) / 2) * width
                legend = _with_n(lab, [r["n"] for r in rs])
                ax.bar(at, [r["y"] for r in rs], width, yerr=err, label=legend, **look)
            c.ylim(ax, where, [0.0, *(v for r in bars for v in (r["y"], r["hi"]))], rng, lo=0.0)
            ax.set_xticks(xs, layers, rotation=30, ha="right", fontsize="x-small")
            y_label = spec.get("y_label") or plot.get("y_label", "firing rate")
            ax.set(xlabel=plot.get("x_label", "layer"), ylabel=y_label)
            ax.grid(alpha=0.3, axis="y")
            ebars = "error bars: 95 % Student-t"
            ax.legend(fontsize="x-small", title=ebars, title_fontsize="x-small")
    if ranges == [(0.0, 1.0)]:
        return ["Error bars: 95 % Student-t interval of the mean over seeds, clipped to [0, 1]."]
    caption = [
        "Error bars: 95 % Student-t interval of the mean over seeds, clipped to each "
        "metric's range (fractions to [0, 1], counts at 0)."
    ]
    return caption + [spec["note"] for spec in specs if spec.get("note")]


PLOTS = {"sweep": _sweep, "grid": _grid, "curves": _curves, "bars": _bars}
"""``plot.type`` -> how it is drawn: figure 3 (means against an axis, the paired difference to the
baseline below), 4 (a heatmap of that difference), 5 (accuracy per epoch), 6 (per-layer bars)."""


def render_figure(
    layout: Layout, profile: Profile, results_dir: Path, name: str | None = None
) -> list[Path]:
    """Write ``<name>_figdata.csv``, then ``<name>.pdf`` and ``<name>.png`` drawn from it, from
    the CSVs of experiment ``name`` (default: the layout's id)."""
    name, plot, kind = name or layout.id, layout.plot, layout.plot.get("type")
    if kind not in PLOTS:
        raise SpecError(
            f"{rel(layout.path)}: key 'plot.type': got {kind!r}, expected one of {', '.join(PLOTS)}"
        )
    style = load_style(profile)
    if kind == "curves":
        curves = frames.records(frames.read(results_dir / f"{name}_curves.csv", CURVES))
    rows = frames.records(frames.read(results_dir / f"{name}.csv", AGGREGATE))
    plot = {**plot, "panel_values": _panels(rows, plot.get("panels"))}
    if kind == "curves":  # each curve row carries its cell's stands_for, for the panel titles
        stands = {s["cell"]: s["stands_for"] for s in reversed(rows)}
        rows = [{"stands_for": stands.get(r["cell"], ""), **r} for r in curves]
    n_panels = len(plot["panel_values"])
    n_rows, grow = (2 if kind == "sweep" and "baseline" in plot else 1), 0.6
    # a sweep's difference row shares its x axis, drawn lower
    shared = {"sharex": "col", "gridspec_kw": {"height_ratios": [5, 3]}} if n_rows > 1 else {}
    if kind == "bars":  # a row of panels per per-layer metric ({prefix: "nb_sparsity:", ...})
        plot = {**plot, "rows": list(plot.get("rows") or ({"prefix": "firing_rate:"},))}
        for i, spec in enumerate(plot["rows"]):
            prefix = spec.get("prefix") if isinstance(spec, dict) else None
            if not isinstance(prefix, str) or not prefix.endswith(":"):
                raise SpecError(
                    f"{rel(layout.path)}: key 'plot.rows[{i}].prefix': got {prefix!r}, expected "
                    "a per-layer metric prefix such as 'nb_sparsity:'"
                )
        n_rows, grow = len(plot["rows"]), 1.0
    runs = frames.read(results_dir / f"{name}_runs.csv", RUNS, missing_ok=True)
    fd = FigData()
    size = (style.panel_width * n_panels, style.panel_height * (1 + grow * (n_rows - 1)))
    with themed(style) as plt:
        fig, axes = plt.subplots(n_rows, n_panels, figsize=size, squeeze=False, **shared)
        caption = PLOTS[kind](_Ctx(rows, plot, profile, style, runs, fd), axes)
        note = "" if profile.compare == "paper" else f" [{profile.id} profile: stand-in data]"
        for line in caption:
            fd.add("", "", "caption", note=line)
        finish(fig, f"{layout.title}{note}", caption)
    return [fd.write(results_dir / name), *save(fig, results_dir / name, style.dpi)]


def finish(fig, title: str, lines: list[str]) -> None:
    """Title ``fig`` and caption it under its panels, growing it so the panels keep their size."""
    import textwrap

    from matplotlib.font_manager import FontProperties

    def wrap(text: str, size: str) -> tuple[str, float]:
        pt = FontProperties(size=size).get_size_in_points()
        width = max(30, int(fig.get_figwidth() * 72 / (0.52 * pt)))
        out = "\n".join(textwrap.fill(line, width) for line in text.split("\n"))
        return out, (out.count("\n") + 1) * pt * 1.35 / 72

    fig.suptitle(wrap(title, "large")[0], fontsize="large")
    text, extra = wrap("\n".join(lines), "x-small") if lines else ("", 0.0)
    height = fig.get_figheight() + extra + 0.1
    fig.set_figheight(height)
    if text:
        fig.text(0.01, 0.05 / height, text, ha="left", va="bottom", fontsize="x-small")
    fig.tight_layout(rect=(0, (extra + 0.1) / height, 1, 1))


def save(fig, base: Path, dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``<base>.pdf`` and ``.png`` (atomically; no date, so the same figure gives
    the same bytes) and close it."""
    import matplotlib.pyplot as plt

    out = [base.with_suffix(".pdf"), base.with_suffix(".png")]
    for p in out:
        tmp = p.with_name(f".{p.stem}.tmp{p.suffix}")
        meta = {"CreationDate": None} if p.suffix == ".pdf" else {"Software": None}
        fig.savefig(tmp, dpi=dpi, metadata=meta)
        tmp.replace(p)
    plt.close(fig)
    return out
