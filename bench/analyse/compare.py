"""References and verdicts: what an aggregate is compared with (the profile's ``compare``:
``paper``, ``reference`` or ``none``) and whether it passes."""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import math
from dataclasses import dataclass
from pathlib import Path

from bench import ROOT
from bench.analyse.frames import REFERENCE
from bench.plan.expand import Cell
from bench.plan.schema import MAPPED_AXES, Layout, Profile, Row, Scalar, SpecError, Tolerance, rel

PASS, FAIL, NO_REFERENCE, NOT_RUN = "pass", "fail", "no-reference", "not-run"


@dataclass(frozen=True)
class Reference:
    """The value a cell is compared with (``values``: every seed's, in a regression reference)."""

    value: float
    source: str
    values: tuple[float, ...] = ()


Refs = dict[tuple[str, str], Reference]  # (cell id, metric) -> its reference


@dataclass(frozen=True)
class Position:
    """Where a cell sits in a table layout."""

    row: Row
    column_id: str
    metric: str
    cell: Cell


def mapped_match(match: dict[str, Scalar], profile: Profile) -> dict[str, Scalar]:
    """A layout's ``match`` with paper datasets and architectures mapped by the profile."""
    return {k: profile.map_value(k, v) if k in MAPPED_AXES else v for k, v in match.items()}


def positions(layout: Layout, profile: Profile, cells: list[Cell]) -> list[Position]:
    """Every (row, column) of ``layout`` that holds one of ``cells`` (SpecError: several)."""
    out = []
    for row in layout.rows:
        if row.match is None:
            continue
        for col in layout.columns:
            want = {**mapped_match(row.match, profile), **mapped_match(col.match, profile)}
            found = [c for c in cells if c.matches(want)]
            if len(found) > 1:
                raise SpecError(
                    f"{rel(layout.path)}: row {row.id!r} x column {col.id!r} selects "
                    f"{len(found)} cells ({', '.join(c.id for c in found)}); make "
                    "the row or column match more specific"
                )
            if found:
                out.append(Position(row, col.id, col.metric or layout.metric, found[0]))
    return out


def in_points(metric: str) -> bool:
    """Whether ``metric`` is a test accuracy in points or a difference of two (the teacher gap):
    one test image is its resolution, so ``tolerance.floor_std`` applies (not to rates, losses)."""
    return metric in ("test_acc", "teacher_gap") or metric.startswith("test_acc_T")


def tolerance_of(profile: Profile, metric: str, dataset: Scalar | None) -> Tolerance:
    """The profile's tolerance of ``metric`` on ``dataset`` (no std floor off :func:`in_points`)."""
    tol = profile.tolerance_for(dataset)
    return tol if in_points(metric) else dataclasses.replace(tol, floor_std=0.0)


def compared(metric: str, profile: Profile) -> bool:
    """Whether ``profile`` compares ``metric`` (its ``compare_metrics`` patterns)."""
    return any(fnmatch.fnmatchcase(metric, p) for p in profile.compare_metrics)


def n_compared(refs: Refs, cells: list[Cell], profile: Profile) -> int:
    """How many (cell, metric) pairs of ``cells`` a check compares (they share its alarm rate)."""
    ids = {c.id for c in cells}
    return sum(1 for cid, met in refs if cid in ids and compared(met, profile))


def paper_references(layout: Layout | None, profile: Profile, cells: list[Cell]) -> Refs:
    """The paper's transcribed or cited values."""
    if layout is None or layout.kind != "table":
        return {}
    out: Refs = {}
    for pos in positions(layout, profile, cells):
        rep = pos.row.reported(pos.column_id)
        if rep.status in ("transcribed", "cited") and rep.value is not None:
            src = f"paper ({rep.status}: {rep.source})"
            out[(pos.cell.id, pos.metric)] = Reference(rep.value, src)
    return out


def reference_path(profile: Profile, experiment_id: str) -> Path:
    """The committed reference aggregate of ``experiment_id`` under ``profile``."""
    return ROOT / profile.reference_dir / f"{experiment_id}.csv"


def file_references(profile: Profile, experiment_id: str) -> Refs:
    """Every seed's value in the committed reference (none without one)."""
    path = reference_path(profile, experiment_id)
    if not path.is_file():
        return {}
    values: dict[tuple[str, str], list[float]] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        want = REFERENCE.header()  # the experiment's axes, after ``cell``, are not required
        missing = [c for c in want if c not in (reader.fieldnames or [])]
        if missing:
            raise SpecError(
                f"{rel(path)}: columns {missing} missing; expected one row per seed with "
                f"{', '.join(want)} (rewrite it with `python -m bench reference`)"
            )
        for i, row in enumerate(reader, start=2):
            try:
                v, _ = float(row["value"]), int(row["seed"])
            except (TypeError, ValueError):  # TypeError: a short (truncated) row
                raise SpecError(
                    f"{rel(path)}: line {i}: key 'value'/'seed': got {row['value']!r}/"
                    f"{row['seed']!r}, expected a number and an integer"
                ) from None
            if not math.isfinite(v):
                raise SpecError(f"{rel(path)}: line {i}: key 'value': got {v}, expected finite")
            values.setdefault((row["cell"], row["metric"]), []).append(v)
    src = f"reference {rel(path)}"
    return {
        k: Reference(sum(v) / len(v), f"{src} ({len(v)} seeds)", tuple(v))
        for k, v in values.items()
    }


def references(layout: Layout | None, profile: Profile, eid: str, cells: list[Cell]) -> Refs:
    """The references of the profile's kind for one experiment."""
    if profile.compare == "paper":
        return paper_references(layout, profile, cells)
    if profile.compare == "none":
        return {}
    return file_references(profile, eid)


def verdict(
    status: str,
    mean: float,
    n: int,
    metric: str,
    ref: Reference | None,
    profile: Profile,
    dataset: Scalar | None,
    k: int = 1,
) -> tuple[str, float, float, str]:
    """``(verdict, delta, tolerance, reason)`` of an aggregate of ``n`` seeds (``k`` compared)."""
    nan = math.nan
    if status == "failed":
        return FAIL, nan, nan, "a run failed"
    if status == "not-run" or n == 0:
        return NOT_RUN, nan, nan, "no finished run"
    if not compared(metric, profile):
        return NO_REFERENCE, nan, nan, f"{metric} is not compared by profile {profile.id}"
    if ref is None:
        return NO_REFERENCE, nan, nan, "no reference value"
    tolerance, alpha = tolerance_of(profile, metric, dataset).of(ref.values, n, k)
    delta = mean - ref.value
    if abs(delta) <= tolerance:
        return PASS, delta, tolerance, ""
    level = f" (two-sided t-test at alpha {alpha:.2g})" if math.isfinite(alpha) else ""
    return FAIL, delta, tolerance, f"|delta| {abs(delta):.3g} > tolerance {tolerance:.3g}{level}"
