"""The CI regression check (``bench regression``) and its reference (``bench reference``): fresh
means tested against every reference seed's value (README.md, "Tests")."""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import json
import math
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import ROOT
from bench.analyse import frames
from bench.analyse.compare import (
    FAIL,
    NO_REFERENCE,
    PASS,
    compared,
    file_references,
    n_compared,
    reference_path,
    tolerance_of,
    verdict,
)
from bench.analyse.units import unit_of
from bench.pipeline import RunOptions, Selection
from bench.plan.expand import Cell, Plan
from bench.plan.schema import Profile, Regression, SpecError, rel
from bench.stats import detectable_shift, mean_std
from tssd.api import atomic_write_text, cpu_name, git_state

TOLERANCE = frames.declare(
    "cell metric n_ref ref_mean ref_std std_used ci_seeds cells_in_check alpha_cell tolerance "
    "false_alarm_check detectable_shift_95",
    floats="ref_mean ref_std std_used alpha_cell tolerance false_alarm_check detectable_shift_95",
    ints="n_ref ci_seeds cells_in_check",
    na_rep="nan",
)
"""``<id>_tolerance.csv`` of the reference (a NaN is written as ``nan``)."""
TOLERANCE_COLUMNS = TOLERANCE.header()
POWER = 0.95
CHECK = frames.declare(
    "cell metric unit n mean reported delta tolerance alpha_cell cells_in_check verdict reason",
    floats="mean reported delta tolerance alpha_cell",
    ints="n cells_in_check",
    na_rep="nan",
)
"""``<id>_check.csv``: every compared (cell, quantity) of a regression check."""


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


def quantities(run_dir: Path, summary: dict[str, Any], epochs: list[dict[str, float]]):
    """What a finished run shows of its behaviour (:func:`expected_quantities`): firing rates and
    loss terms move where batch norm hides a broken method from accuracy."""
    q: dict[str, float] = {"test_acc": 100.0 * float(summary["test_acc"])}
    for layer, rate in (summary.get("firing_rates") or {}).items():
        q[f"firing_rate:{layer}"] = float(rate)
    last = epochs[-1] if epochs else {}
    for name in expected_quantities(summary["method"])[2:]:  # after test_acc and firing_rate:*
        if name == "teacher_gap":
            q[name] = teacher_gap(run_dir, summary)
        else:  # final_loss:tsd -> epochs.csv's loss_tsd, final_loss -> loss
            column = name.replace("final_loss", "loss").replace(":", "_")
            q[name] = float(last.get(column, math.nan))
    return q


def expected_quantities(method: str) -> list[str]:
    """The names (``firing_rate:*`` a pattern) :func:`quantities` gives a run of ``method``."""
    from tssd.api import METHODS

    spec = METHODS[method]
    names = ["test_acc", "firing_rate:*"]
    names += ["final_loss"] if len(spec.loss_terms) > 1 else []
    names += [f"final_loss:{t}" for t in spec.loss_terms]
    return names + (["teacher_gap"] if spec.uses_teacher_steps else [])


def teacher_gap(run_dir: Path, summary: dict[str, Any]) -> float:
    """Test accuracy (points) of the run's deployed network at T_t minus at T_s: from the
    summary's T_t test pass, or, for a run recorded before it had one, by re-evaluating."""
    ts, tt = int(summary["t_s"]), int(summary["t_t"])
    at_tt = (summary.get("test_acc_by_timesteps") or {}).get(str(tt))
    if at_tt is not None:
        return 100.0 * (float(at_tt) - float(summary["test_acc"]))
    from tssd.api import accuracy_at

    acc = accuracy_at(run_dir, (ts, tt))
    return acc[tt] - acc[ts]


def _runs(
    plan: Plan, profile: Profile, every: bool
) -> Iterator[tuple[Cell, int, dict[str, float]]]:
    """``(cell, seed, compared quantities)`` of each finished run of ``plan``; with ``every``, a
    run that did not finish is an error (a reference is never written from a partial set)."""
    from bench.analyse.aggregate import read_run

    for cell in plan.cells:
        for seed, rid in zip(cell.seeds, cell.runs, strict=True):
            rec = read_run(plan, rid)
            if rec.status != "finished":
                if every:
                    raise SpecError(
                        f"{rel(plan.runs_dir / rid)}: run {cell.id} seed {seed} is {rec.status} "
                        f"({rec.reason}); a reference needs every seed finished"
                    )
                continue
            q = quantities(plan.runs_dir / rid, rec.summary, rec.epochs)
            yield cell, seed, {k: v for k, v in q.items() if compared(k, profile)}


def seed_rows(plan: Plan, profile: Profile) -> list[dict[str, Any]]:
    """One row per cell, compared metric and seed of a plan (SpecError: a run not finished)."""
    from bench.analyse.aggregate import axis_text

    axes = plan.experiment.axis_names()
    return [
        {"cell": cell.id, **axis_text(cell, axes), "metric": metric}
        | {"unit": unit_of(metric), "seed": seed, "value": value}
        for cell, seed, q in _runs(plan, profile, every=True)
        for metric, value in q.items()
    ]


def tolerance_rows(profile: Profile, experiment_id: str, m: int) -> list[dict[str, Any]]:
    """The check's tolerance, level and power per compared cell, for a mean of ``m`` seeds."""
    refs = file_references(profile, experiment_id)
    refs = {key: ref for key, ref in refs.items() if compared(key[1], profile)}
    k = len(refs)  # every compared (cell, quantity) shares the check's false-alarm rate
    rows = []
    for (cell, metric), ref in refs.items():
        dataset = dict(part.partition("=")[::2] for part in cell.split(",")).get("dataset")
        tol = tolerance_of(profile, metric, dataset)
        tolerance, alpha = tol.of(ref.values, m, k)
        mean, std = mean_std(ref.values)
        used = max(std, tol.floor_std)
        row = {"cell": cell, "metric": metric, "n_ref": len(ref.values), "ref_mean": mean}
        row |= {"ref_std": std, "std_used": used, "ci_seeds": m, "cells_in_check": k}
        row |= {"alpha_cell": alpha, "tolerance": tolerance, "false_alarm_check": tol.false_alarm}
        shift = detectable_shift(used, len(ref.values), m, alpha, POWER)
        rows.append(row | {"detectable_shift_95": shift})
    return rows


def write_reference(
    profile: Profile, plans: list[Plan], command: str, threads: int | None
) -> list[Path]:
    """Write every seed's value, the tolerance table and provenance.json (each file whole)."""
    import os

    import torch

    reg = regression_of(profile)
    git = git_state()  # before anything is written: the new files would make the tree dirty
    ref_dir = ROOT / profile.reference_dir
    ref_dir.mkdir(parents=True, exist_ok=True)
    texts: dict[Path, str] = {}
    for plan in plans:  # every file is built before any is written: no half-new reference
        axes = plan.experiment.axis_names()
        texts[reference_path(profile, plan.experiment.id)] = frames.text(
            seed_rows(plan, profile), frames.REFERENCE, frames.REFERENCE.header(axes)
        )
    for path, text in texts.items():
        atomic_write_text(path, text)
    written = list(texts)
    for plan in plans:
        path = ref_dir / f"{plan.experiment.id}_tolerance.csv"
        frames.write(path, tolerance_rows(profile, plan.experiment.id, len(reg.seeds)), TOLERANCE)
        written.append(path)
    tol = profile.tolerance
    prov = {"command": command, "experiments": [p.experiment.id for p in plans]}
    prov |= {"reference_seeds": list(reg.reference_seeds), "ci_seeds": list(reg.seeds), **git}
    prov["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    prov |= {"torch_version": torch.__version__, "python": platform.python_version()}
    prov |= {"machine": platform.machine(), "cpu": cpu_name(), "cpu_count": os.cpu_count()}
    prov |= {"threads_per_run": threads if threads else profile.threads}
    prov["runs"] = _runs_provenance(plans)
    test = {"false_alarm_per_check": tol.false_alarm, "floor_std": tol.floor_std}
    prov["test"] = test | {"reason": tol.reason}
    path = ref_dir / "provenance.json"
    atomic_write_text(path, json.dumps(prov, indent=2) + "\n")
    return [*written, path]


def _runs_provenance(plans: list[Plan]) -> dict[str, Any]:
    """Where the reference's runs were trained, counted from their summaries (the reference may
    reuse cached runs: its own commit is when it was written, these are when they were made)."""
    from collections import Counter

    from tssd.api import read_summary

    keys = ("git_commit", "git_dirty", "device_name", "torch_version")
    seen: Counter = Counter()
    for plan in plans:
        for rid in (rid for cell in plan.cells for rid in cell.runs):
            s = read_summary(plan.runs_dir / rid) or {}
            seen[tuple(bool(s.get(k)) if k == "git_dirty" else s.get(k, "?") for k in keys)] += 1
    made_at = [dict(zip(keys, key, strict=True)) | {"runs": n} for key, n in sorted(seen.items())]
    return {"count": sum(seen.values()), "made_at": made_at}


ABSENT = (
    "measured by the runs, absent from the reference (a changed network or method: rewrite the "
    "reference if the change is meant)"
)


def check_rows(plan: Plan, profile: Profile) -> list[dict[str, Any]]:
    """Per (cell, quantity) of one experiment the fresh and reference means, delta, tolerance and
    verdict (a quantity only one side holds fails: a changed network needs a new reference)."""
    from bench.analyse.aggregate import read_run

    refs = file_references(profile, plan.experiment.id)
    k = n_compared(refs, plan.cells, profile)
    fresh: dict[str, dict[int, dict[str, float]]] = {c.id: {} for c in plan.cells}
    for cell, seed, q in _runs(plan, profile, every=False):
        fresh[cell.id][seed] = q
    nan = float("nan")
    rows = []
    for cell in plan.cells:
        failed = [r for r in cell.runs if read_run(plan, r).status == "failed"]
        by_seed = fresh[cell.id]
        got = sorted({m for q in by_seed.values() for m in q})
        want = sorted(m for cid, m in refs if cid == cell.id and compared(m, profile))
        ds = cell.key.get("dataset")
        for metric in sorted(set(got) | set(want), key=lambda m: (m not in ("test_acc",), m)):
            values = [q[metric] for q in by_seed.values() if metric in q]
            mean = mean_std(values)[0] if values else nan
            ref = refs.get((cell.id, metric)) if want else None
            n = len(values)
            row = {"cell": cell.id, "metric": metric, "unit": unit_of(metric)}
            row |= {"n": n, "mean": mean, "reported": ref.value if ref else nan}
            row |= {"delta": nan, "tolerance": nan, "alpha_cell": nan, "cells_in_check": k}
            if failed:
                why = FAIL, f"run {failed[0]} failed"
            elif not want:
                why = NO_REFERENCE, "no reference for this cell"
            elif ref is None:
                why = FAIL, ABSENT
            elif not values and by_seed:
                why = FAIL, "in the reference, no longer measured by the runs"
            elif not values:
                why = "not-run", "no finished run"
            else:
                v, delta, tol, reason = verdict("ok", mean, n, metric, ref, profile, ds, k)
                alpha = tolerance_of(profile, metric, ds).of(ref.values, n, k)[1]
                row |= {"delta": delta, "tolerance": tol, "alpha_cell": alpha}
                why = (v, reason) if math.isfinite(mean) else (FAIL, "not finite")
            rows.append(row | {"verdict": why[0], "reason": why[1]})
    return rows


def print_check(rows: list[dict[str, Any]], exp_id: str, m: int, false_alarm: float) -> None:
    """The regression table of one experiment (passing quantities besides accuracy counted)."""
    judged = [r for r in rows if r["verdict"] in (PASS, FAIL)]
    if not judged:
        return
    print(
        f"  {exp_id}: {judged[0]['cells_in_check']} (cell, quantity) pairs compared, mean of {m} "
        f"seed(s) each against the reference; false-alarm rate of the whole check {false_alarm:.2%}"
    )
    width, mw = (max(len(r[k]) for r in rows) for k in ("cell", "metric"))
    print(
        f"    {'cell':<{width}} {'quantity':<{mw}} {'mean':>9} {'ref':>9} {'delta':>9} "
        f"{'tol':>8}  verdict"
    )
    for cell in dict.fromkeys(r["cell"] for r in rows):
        mine = [r for r in rows if r["cell"] == cell]
        passed = [r for r in mine if r["verdict"] == PASS and r["metric"] != "test_acc"]
        for r in (r for r in mine if r not in passed):
            print(
                f"    {r['cell']:<{width}} {r['metric']:<{mw}} {_g(r['mean'])} "
                f"{_g(r['reported'])} {_g(r['delta'], '+9.4g')} {_g(r['tolerance'], '8.3g')}  "
                f"{r['verdict']}" + (f" ({r['reason']})" if r["verdict"] == FAIL else "")
            )
        if passed:
            print(f"    {cell:<{width}} {len(passed)} other quantities pass")


def _g(v: float, spec: str = "9.4g") -> str:
    return format(v, spec) if math.isfinite(v) else format("-", f">{spec.split('.')[0][-1:]}")


def check_reference(sel: Selection) -> None:
    """Check the reference before anything trains (SpecError): present, holding cells of the
    plan, each with every compared quantity and at least two seeds (the tolerance's spread)."""
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
        for cell in plan.cells:
            held = {m for c, m in refs if c == cell.id}
            want = expected_quantities(str(cell.key.get("method"))) if held else []
            want = [q for q in want if compared(q, sel.profile)]
            lacking = [q for q in want if not any(fnmatch.fnmatchcase(m, q) for m in held)]
            if lacking:
                raise SpecError(
                    f"{path}: cell {cell.id}: no rows of {', '.join(lacking)}; expected every "
                    f"quantity the check compares (compare_metrics); {again}"
                )
        for (cell, metric), ref in refs.items():
            if len(ref.values) < 2:
                raise SpecError(
                    f"{path}: cell {cell}, metric {metric}: {len(ref.values)} seed; expected at "
                    f"least 2 (the tolerance comes from their spread); {again}"
                )


def _select(sel: Selection, seeds: tuple[int, ...]) -> None:
    """``sel`` as the regression experiments and ``seeds`` (unless given), from the run cache only
    (today's code is checked, never a record), written apart from the committed outputs."""
    from bench.pipeline import experiments

    sel.experiments = experiments(list(regression_of(sel.profile).experiments))
    sel.seeds = sel.seeds or list(seeds)
    sel.use_records, sel.out_name = False, f"regression/{sel.profile.id}"


def regression(sel: Selection, opts: RunOptions) -> int:
    """Train the CI's seeds of the regression experiments and test them against the reference."""
    from bench.pipeline import plans, run

    _select(sel, regression_of(sel.profile).seeds)
    check_reference(sel)  # before anything trains
    code = run(sel, opts)
    if code not in (0, 1) or opts.dry_run:
        return code
    for plan, _ in plans(sel):
        rows = check_rows(plan, sel.profile)
        eid = plan.experiment.id
        frames.write(sel.out_dir / f"{eid}_check.csv", rows, CHECK)
        print_check(rows, eid, len(sel.seeds), sel.profile.tolerance.false_alarm)
        if any(r["verdict"] == FAIL for r in rows):
            code = 1
    print(f"regression: {'PASS' if code == 0 else 'FAIL'} (against {sel.profile.reference_dir})")
    return code


def reference(sel: Selection, opts: RunOptions, threads: int | None) -> int:
    """Train every reference seed of the regression experiments and write the reference."""
    from bench.pipeline import plans, run

    profile = sel.profile
    _select(sel, regression_of(profile).reference_seeds)
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
