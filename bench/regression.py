"""The CI regression check and its reference: every seed's value, a test sized from their spread.

``bench reference`` trains the profile's regression experiments with every reference seed and
writes, under the profile's ``reference_dir``:

* ``<id>.csv``: one row per cell, metric and seed (the values the check compares with);
* ``<id>_tolerance.csv``: per compared cell, the reference's mean and std, the tolerance the check
  applies to a mean of the CI's seeds, the per-cell level, the false-alarm rate of the whole check
  and the smallest shift of the cell mean it detects with 95 % power;
* ``provenance.json``: command, commit, machine (CPU model), torch, seeds and the test's settings.

``bench regression`` trains the CI subset of those seeds and passes when no cell's mean leaves
its tolerance. Another CPU or thread count reorders floating-point sums and moves a run like a
new seed, so the test treats the fresh runs as new draws from the reference's seed distribution
(:func:`bench.stats.shift_tolerance`); it never relies on bit-identity across machines.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.aggregate import csv_text
from bench.compare import REFERENCE_COLUMNS, compared, file_references, reference_path
from bench.expand import Plan, fmt_value
from bench.pipeline import RunOptions, Selection
from bench.schema import Profile, Regression, SpecError, rel

TOLERANCE_COLUMNS = [
    "cell",
    "metric",
    "n_ref",
    "ref_mean",
    "ref_std",
    "std_used",
    "ci_seeds",
    "cells_in_check",
    "alpha_cell",
    "tolerance",
    "false_alarm_check",
    "detectable_shift_95",
]
POWER = 0.95


def regression_of(profile: Profile) -> Regression:
    """The profile's regression block (an error naming the file when it has none)."""
    if profile.regression is None or not profile.regression.experiments:
        raise SpecError(f"{rel(profile.path)}: key 'regression': absent; nothing to check")
    if profile.compare != "reference":
        raise SpecError(
            f"{rel(profile.path)}: key 'compare': profile {profile.id} compares with the paper; "
            "a regression reference needs compare: reference"
        )
    return profile.regression


def seed_rows(plan: Plan, profile: Profile) -> list[dict[str, Any]]:
    """One row per cell, compared metric and seed of a plan whose runs all finished.

    Raises:
        SpecError: a run did not finish (a reference is never written from a partial run set).
    """
    from bench.aggregate import read_run, unit_of

    axes = plan.experiment.axis_names()
    rows = []
    for cell in plan.cells:
        for seed, rid in zip(cell.seeds, cell.runs, strict=True):
            rec = read_run(plan, rid)
            if rec.status != "finished":
                raise SpecError(
                    f"{rel(plan.runs_dir / rid)}: run {cell.id} seed {seed} is {rec.status} "
                    f"({rec.reason}); a reference needs every seed finished"
                )
            for metric, value in rec.metrics.items():
                if ":" in metric or not compared(metric, profile):
                    continue
                rows.append(
                    {
                        "cell": cell.id,
                        **{a: fmt_value(cell.key[a]) if a in cell.key else "" for a in axes},
                        "metric": metric,
                        "unit": unit_of(metric),
                        "seed": seed,
                        "value": format(value, ".10g"),
                    }
                )
    return rows


def tolerance_rows(profile: Profile, experiment_id: str, m: int) -> list[dict[str, Any]]:
    """The check's tolerance, level and power per compared cell, for a fresh mean of ``m`` seeds
    against the committed reference of ``experiment_id``."""
    from bench.stats import detectable_shift, mean_std

    refs = file_references(profile, experiment_id)
    k = len(refs)
    rows = []
    for (cell, metric), ref in refs.items():
        tol = profile.tolerance_for(_dataset_of(cell))
        tolerance, alpha = tol.of(ref.values, m, k)
        mean, std = mean_std(ref.values)
        used = max(std, tol.floor_std)
        rows.append(
            {
                "cell": cell,
                "metric": metric,
                "n_ref": len(ref.values),
                "ref_mean": mean,
                "ref_std": std,
                "std_used": used,
                "ci_seeds": m,
                "cells_in_check": k,
                "alpha_cell": alpha,
                "tolerance": tolerance,
                "false_alarm_check": tol.false_alarm,
                "detectable_shift_95": detectable_shift(used, len(ref.values), m, alpha, POWER),
            }
        )
    return rows


def _dataset_of(cell_id: str) -> str | None:
    return dict(part.partition("=")[::2] for part in cell_id.split(",")).get("dataset")


def _csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    # unlike the aggregates, a NaN is written as nan, not left empty
    return csv_text(rows, columns, lambda v: format(v, ".10g") if isinstance(v, float) else v)


def write_reference(
    profile: Profile, plans: list[Plan], command: str, threads: int | None
) -> list[Path]:
    """Write every seed's value, the tolerance table and provenance.json (each file whole)."""
    import os

    import torch

    from tssd.runtime import atomic_write_text, cpu_name, git_state

    reg = regression_of(profile)
    git = git_state()  # before anything is written: the new files would make the tree dirty
    ref_dir = ROOT / profile.reference_dir
    ref_dir.mkdir(parents=True, exist_ok=True)
    texts: dict[Path, str] = {}
    for plan in plans:  # every file is built before any is written: no half-new reference
        axes = plan.experiment.axis_names()
        cols = [REFERENCE_COLUMNS[0], *axes, *REFERENCE_COLUMNS[1:]]
        texts[reference_path(profile, plan.experiment.id)] = _csv_text(
            seed_rows(plan, profile), cols
        )
    for path, text in texts.items():
        atomic_write_text(path, text)
    written = list(texts)
    for plan in plans:
        eid = plan.experiment.id
        path = ref_dir / f"{eid}_tolerance.csv"
        atomic_write_text(
            path, _csv_text(tolerance_rows(profile, eid, len(reg.seeds)), TOLERANCE_COLUMNS)
        )
        written.append(path)
    made = _runs_provenance(plans)
    tol = profile.tolerance
    prov = {
        "command": command,
        "experiments": [p.experiment.id for p in plans],
        "reference_seeds": list(reg.reference_seeds),
        "ci_seeds": list(reg.seeds),
        **git,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads_per_run": threads if threads else profile.threads,
        "runs": made,
        "test": {
            "false_alarm_per_check": tol.false_alarm,
            "floor_std": tol.floor_std,
            "reason": tol.reason,
        },
    }
    path = ref_dir / "provenance.json"
    atomic_write_text(path, json.dumps(prov, indent=2) + "\n")
    return [*written, path]


def _runs_provenance(plans: list[Plan]) -> dict[str, Any]:
    """Where the reference's runs were trained, counted from their summaries (the reference may
    reuse cached runs: its own commit is when it was written, these are when they were made)."""
    from collections import Counter

    from tssd.train import read_summary

    seen: Counter = Counter()
    for plan in plans:
        for cell in plan.cells:
            for rid in cell.runs:
                s = read_summary(plan.runs_dir / rid) or {}
                commit, dirty = s.get("git_commit", "?"), bool(s.get("git_dirty"))
                seen[(commit, dirty, s.get("device_name", "?"), s.get("torch_version", "?"))] += 1
    return {
        "count": sum(seen.values()),
        "made_at": [
            {"git_commit": c, "git_dirty": d, "device_name": n, "torch_version": t, "runs": k}
            for (c, d, n, t), k in sorted(seen.items())
        ],
    }


def print_check(profile: Profile, rows: list[dict[str, str]], exp_id: str, m: int) -> None:
    """The regression table of one experiment: per cell mean, reference, delta, tolerance."""
    acc = [r for r in rows if r["verdict"] in ("pass", "fail") and ":" not in r["metric"]]
    if not acc:
        return
    tol = profile.tolerance
    fa = tol.false_alarm
    print(
        f"  {exp_id}: {len(acc)} cells compared, mean of {m} seed(s) each against the reference; "
        + (
            f"false-alarm rate of the whole check {fa:.2%}"
            if fa > 0
            else f"fixed tolerance {tol.abs:g}"
        )
    )
    width = max(len(r["cell"]) for r in acc)
    print(f"    {'cell':<{width}} {'mean':>7} {'ref':>7} {'delta':>7} {'tol':>6}  verdict")
    for r in acc:
        print(
            f"    {r['cell']:<{width}} {float(r['mean']):7.2f} {float(r['reported']):7.2f} "
            f"{float(r['delta']):+7.2f} {float(r['tolerance']):6.2f}  {r['verdict']}"
        )


def check_reference(sel: Selection) -> None:
    """Read and check the committed reference of every regression experiment before anything is
    trained: each file present and readable, holding cells of the plan (a cell it lacks is
    "no-reference"), each with at least two seeds' values (the tolerance comes from their spread).

    Raises:
        SpecError: one line naming the file, the line or cell and what was expected.
    """
    from bench.pipeline import plans

    again = f"rewrite it with `python -m bench reference --profile {sel.profile.id}`"
    missing = [e.id for e in sel.experiments if not reference_path(sel.profile, e.id).is_file()]
    if missing:
        raise SpecError(
            f"{sel.profile.reference_dir}: no reference for {', '.join(missing)}; create it with "
            f"`python -m bench reference --profile {sel.profile.id}`"
        )
    for plan, _ in plans(sel):
        eid = plan.experiment.id
        path = rel(reference_path(sel.profile, eid))
        refs = file_references(sel.profile, eid)
        if not refs:
            raise SpecError(f"{path}: no rows; expected one row per cell, metric and seed; {again}")
        cells = {cell for cell, _ in refs}
        if not any(cell.id in cells for cell in plan.cells):  # a cell it lacks is no-reference
            raise SpecError(
                f"{path}: no row of any cell of {eid} (e.g. {plan.cells[0].id}); expected the "
                f"reference of these cells; {again}"
            )
        for (cell, metric), ref in refs.items():
            if len(ref.values) < 2:
                raise SpecError(
                    f"{path}: cell {cell}, metric {metric}: {len(ref.values)} seed; expected at "
                    f"least 2 (the tolerance comes from their spread); {again}"
                )


def regression(sel: Selection, opts: RunOptions) -> int:
    """Train the CI's seeds of the regression experiments and test them against the reference
    (``sel`` without experiments and seeds: they come from the profile's regression block)."""
    from bench.aggregate import read_csv
    from bench.pipeline import experiments, run

    reg = regression_of(sel.profile)
    sel.experiments = experiments(list(reg.experiments))
    sel.seeds = sel.seeds or list(reg.seeds)
    # today's code is what is checked: train (run cache only), never take a committed record,
    # and keep the profile's committed outputs out of it
    sel.use_records, sel.out_name = False, f"regression/{sel.profile.id}"
    check_reference(sel)  # before anything trains
    code = run(sel, opts)
    if code not in (0, 1) or opts.dry_run:
        return code
    for exp in sel.experiments:
        print_check(sel.profile, read_csv(sel.out_dir / f"{exp.id}.csv"), exp.id, len(sel.seeds))
    print(f"regression: {'PASS' if code == 0 else 'FAIL'} (against {sel.profile.reference_dir})")
    return code


def reference(sel: Selection, opts: RunOptions, threads: int | None) -> int:
    """Train every reference seed of the regression experiments and write the reference."""
    from bench.pipeline import experiments, plans, run

    profile = sel.profile
    reg = regression_of(profile)
    sel.experiments = experiments(list(reg.experiments))
    sel.seeds = sel.seeds or list(reg.reference_seeds)
    sel.use_records, sel.out_name = False, f"regression/{profile.id}"
    # the reference being replaced is not compared with (it may be stale or in an old format)
    sel.profile = dataclasses.replace(profile, compare="none")
    code = run(sel, opts)
    sel.profile = profile
    if code not in (0, 1):
        return code
    seeds = ",".join(map(str, sel.seeds))
    command = f"python -m bench reference --profile {profile.id} --seeds {seeds}"
    paths = write_reference(profile, [p for p, _ in plans(sel)], command, threads)
    print("reference: wrote " + ", ".join(rel(p) for p in paths))
    return 0
