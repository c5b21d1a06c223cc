"""Every number a reader sees, each formatter once (missing: ``n/a``, ``-`` in printed columns;
never ``-0.00``)."""

from __future__ import annotations

import math

from bench.analyse.units import unit_of

_COUNTS = (
    "params train_params weak_head_params macs_per_sample nb_params nb_footprint nb_dense "
    "nb_effective_acs nb_effective_macs nb_effective_synops energy_pj"
)
COUNTS = frozenset(_COUNTS.split())
"""Metrics that are counts: shown as k/M/G, and without a spread when every seed agrees."""


def missing(x: float | None) -> bool:
    """Whether ``x`` has no value (None or NaN)."""
    return x is None or math.isnan(x)


def number(x: float, metric: str, digits: int) -> str:
    """A metric value: accuracies with ``digits`` decimals, counts as k/M/G, seconds, MB."""
    if missing(x):
        return "n/a"
    if metric in COUNTS:
        for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(x) >= div:
                return f"{x / div:.3g}{suffix}"
        return f"{x:.0f}"
    spec = {"%": f".{digits}f", "MB": ".0f", "s": ".1f" if abs(x) < 100 else ".0f"}
    return format(x, spec.get(unit_of(metric), ".3g"))


def signed(x: float, digits: int = 2) -> str:
    """``+0.52``; never ``-0.00`` (a difference that rounds to zero has no sign); ``n/a``."""
    if missing(x):
        return "n/a"
    text = f"{x:+.{digits}f}"
    return "+" + text[1:] if float(text) == 0.0 else text


def interval(d: float, lo: float, hi: float, digits: int = 2) -> str:
    """``+1.23 [+0.40, +2.06]`` (the difference alone where the interval is missing)."""
    ci = "" if missing(lo) else f" [{signed(lo, digits)}, {signed(hi, digits)}]"
    return signed(d, digits) + ci


def plain(x: float | None, spec: str) -> str:
    """``format(x, spec)``, ``-`` where missing: printed columns."""
    return "-" if missing(x) else format(x, spec)


def duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` (``0m00s`` for nothing)."""
    h, rem = divmod(int(round(seconds)), 3600)
    return f"{h}h{rem // 60:02d}m" if h else f"{rem // 60}m{rem % 60:02d}s"
