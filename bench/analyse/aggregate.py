"""Run records -> ``<id>.csv`` (one row per cell and metric; a cell with a failed run has no
number) and its claims, runs and curves CSVs."""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bench.analyse import frames
from bench.analyse.claims import ClaimResult, evaluate_claim
from bench.analyse.compare import n_compared, references, verdict
from bench.analyse.frames import AGGREGATE, CLAIMS, CURVES, RUNS
from bench.analyse.units import unit_of
from bench.plan.expand import Cell, Plan, fmt_value
from bench.plan.schema import Layout
from bench.stats import mean_ci, mean_std
from tssd.api import RunDir

if TYPE_CHECKING:
    from bench.execute.records import Record


@dataclass
class RunRecord:
    """What one run says, reduced to what tables need."""

    run_id: str
    status: str  # finished | failed | not-run
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    epochs: list[dict[str, float]] = field(default_factory=list)


NB_METRICS = {
    "nb_params": "ParameterCount",
    "nb_footprint": "Footprint",
    "nb_connection_sparsity": "ConnectionSparsity",
    "nb_activation_sparsity": "ActivationSparsity",
}
NB_SYNOPS = {"nb_dense": "Dense", "nb_effective_macs": "Effective_MACs"}
NB_SYNOPS |= {"nb_effective_acs": "Effective_ACs"}
NB_LAYERS = {"ActivationSparsity": "nb_sparsity", "EffectiveSynOps": "nb_synops"}


def run_metrics(summary: dict[str, Any], epochs: list[dict[str, float]]) -> dict[str, float]:
    """The metrics of one finished run (accuracies in percent), in the order tables list them."""
    m = {k: 100.0 * summary[k] for k in ("test_acc", "train_acc")}
    m |= {k: float(summary[k]) for k in ("test_loss", "params")}
    m["weak_head_params"] = float(summary.get("weak_head_params", 0))
    m |= {k: float(summary[k]) for k in ("macs_per_sample", "wall_s", "peak_mem_mb")}
    if summary.get("val_acc") is not None:
        m["val_acc"] = 100.0 * summary["val_acc"]
    m["train_params"] = m["params"] + m["weak_head_params"]
    by_t = summary.get("test_acc_by_timesteps") or {}
    for t, acc in by_t.items():
        m[f"test_acc_T{t}"] = 100.0 * acc
    if str(summary.get("t_t")) in by_t:  # the network at T_t (a teacher's), and minus at T_s
        m["teacher_acc"] = 100.0 * by_t[str(summary["t_t"])]
        m["teacher_gap"] = m["teacher_acc"] - 100.0 * summary["test_acc"]
    rates = summary.get("firing_rates") or {}
    m |= {f"firing_rate:{layer}": float(rate) for layer, rate in rates.items()}
    if rates:
        m["mean_firing_rate"] = sum(rates.values()) / len(rates)
    if epochs:
        m["epoch_time_s"] = sum(e["epoch_time_s"] for e in epochs) / len(epochs)
    nb = summary.get("neurobench")
    if nb:  # NeuroBench on the deployed network (tssd.metrics); absent where never measured
        got = nb["metrics"]
        m |= {k: float(got[v]) for k, v in NB_METRICS.items()}
        m["nb_acc"] = 100.0 * got["ClassificationAccuracy"]
        m |= {k: float(got["SynapticOperations"][v]) for k, v in NB_SYNOPS.items()}
        m["nb_effective_synops"] = m["nb_effective_macs"] + m["nb_effective_acs"]
        m["energy_pj"] = float(nb["energy_pj"])
        # [layer, value] pairs in forward order (a mapping in summaries of its first day)
        for key, prefix in NB_LAYERS.items():
            layers = nb["by_layer"][key]
            for layer, v in layers.items() if isinstance(layers, dict) else layers:
                m[f"{prefix}:{layer}"] = float(v)
    return m


def read_run(plan: Plan, run_id: str, records: dict[str, Record] | None = None) -> RunRecord:
    """One run of the plan: from ``records`` when given (none: not run), else its run directory."""
    run = plan.runs[run_id]
    if records is not None:
        rec = records.get(run_id)
        if rec is None:
            return RunRecord(run_id, "not-run", run.unavailable or "not run")
        if rec.status == "failed":
            return RunRecord(run_id, "failed", rec.reason, summary=rec.summary)
        metrics = run_metrics(rec.summary, rec.epochs)
        return RunRecord(run_id, "finished", "", metrics, rec.summary, rec.epochs)
    if run.unavailable:
        return RunRecord(run_id, "not-run", run.unavailable)
    d = RunDir(plan.runs_dir / run_id)
    st = d.state()
    s = st.summary
    if st.status == "finished" and s is not None:
        summary, epochs = s.as_dict(), d.read_epochs()
        return RunRecord(run_id, "finished", "", run_metrics(summary, epochs), summary, epochs)
    if st.status == "failed" and s is not None:
        reason = s.error if s.error is not None else "failed"
        return RunRecord(run_id, "failed", reason, summary=s.as_dict())
    first = st.error.splitlines()[0] if st.error else ""
    if st.status in ("unavailable", "error"):
        return RunRecord(run_id, "not-run" if st.status == "unavailable" else "failed", first)
    if s is not None:
        total = run.config.get("optim", {}).get("epochs", "?")
        why = f"interrupted after epoch {st.epochs_done}/{total}; re-run to resume"
        return RunRecord(run_id, "not-run", why)
    return RunRecord(run_id, "not-run", "not run yet")


def wanted_metrics(plan: Plan, layout: Layout | None) -> list[str]:
    """Metric patterns the experiment reports: its ``metrics``, its claims', its layout's."""
    pats = list(plan.experiment.metrics) + [c.metric for c in plan.experiment.claims]
    if layout is not None:
        pats += [layout.metric] + [c.metric for c in layout.columns if c.metric]
    return list(dict.fromkeys(pats))


def axis_text(cell: Cell, axes: list[str]) -> dict[str, str]:
    """A cell's value of each axis as text (``""`` where the cell has none)."""
    return {a: fmt_value(cell.key[a]) if a in cell.key else "" for a in axes}


def _cell_status(cell: Cell, recs: list[RunRecord]) -> tuple[str, str]:
    """``ok``, ``partial``, ``failed`` or ``not-run``, and why."""
    fin = [r for r in recs if r.status == "finished"]
    failed = [r for r in recs if r.status == "failed"]
    if failed:
        return "failed", f"run {failed[0].run_id} failed: {failed[0].reason}"
    if not fin:
        return "not-run", cell.unavailable or (recs[0].reason if recs else "no runs")
    if len(fin) < len(recs):
        miss = next(r for r in recs if r.status != "finished")
        return "partial", f"{len(fin)}/{len(recs)} seeds: {miss.reason}"
    return "ok", ""


@dataclass
class Aggregate:
    """The result of :func:`aggregate`: rows, claims and where they were written."""

    rows: list[dict[str, Any]]
    claims: list[ClaimResult]
    paths: list[Path]


def aggregate(
    plan: Plan, layout: Layout | None, out_dir: Path, source: dict[str, Record] | None = None
) -> Aggregate:
    """Aggregate ``plan``'s runs (from the records ``source``, else run directories) into CSVs."""
    exp, profile = plan.experiment, plan.profile
    axes = exp.axis_names()
    records = {rid: read_run(plan, rid, source) for rid in plan.runs}
    for rid, rec in records.items():
        if rec.status == "finished":
            extra = sum(records[d].metrics.get("wall_s", math.nan) for d in plan.runs[rid].deps)
            rec.metrics["train_total_s"] = rec.metrics["wall_s"] + extra
    pats = wanted_metrics(plan, layout)
    exact = [p for p in pats if not any(ch in p for ch in "*?[")]
    refs = references(layout, profile, exp.id, plan.cells)
    k_compared = n_compared(refs, plan.cells, profile)
    groups = dict(tuple(runs_frame(plan, records).groupby(["cell", "metric"], sort=False)))
    rows: list[dict[str, Any]] = []
    values: dict[str, dict[str, dict[int, float]]] = {}
    for cell in plan.cells:
        recs = [records[r] for r in cell.runs]
        status, reason = _cell_status(cell, recs)
        measured = [m for c, m in groups if c == cell.id]
        names = [m for m in measured if any(fnmatch.fnmatchcase(m, p) for p in pats)]
        if not any(r.status == "finished" for r in recs):
            names = exact
        values[cell.id] = {}
        stands_for = ";".join(f"{a}={'|'.join(map(str, v))}" for a, v in cell.stands_for.items())
        base = {"experiment": exp.id, "profile": profile.id, "cell": cell.id}
        base |= {**axis_text(cell, axes), "stands_for": stands_for, "n_planned": len(recs)}
        base["runs"] = ";".join(cell.runs)
        for metric in names:
            one = groups.get((cell.id, metric))
            ok = one is not None and status != "failed"
            by_seed = dict(zip(one["seed"], one["value"], strict=True)) if ok else {}
            values[cell.id][metric] = by_seed
            n = len(by_seed)
            mean, std = mean_std(list(by_seed.values()))
            lo, hi = mean_ci(list(by_seed.values()))
            ref = refs.get((cell.id, metric))
            st = "ok" if status == "partial" else status  # a partial cell is judged on its seeds
            ds = cell.key.get("dataset")
            v, delta, tol, why = verdict(st, mean, n, metric, ref, profile, ds, k_compared)
            row = {**base, "metric": metric, "unit": unit_of(metric), "n": n}
            row |= {"mean": mean if n else None, "std": std, "ci_lo": lo, "ci_hi": hi}
            row |= {"status": status, "reported": ref.value if ref else None}
            row |= {"reported_source": ref.source if ref else "", "delta": delta, "tolerance": tol}
            rows.append(row | {"verdict": v, "reason": "; ".join(x for x in (reason, why) if x)})
    claims = [evaluate_claim(c, plan.cells, values, profile.equivalence_margin) for c in exp.claims]
    # per-seed values of every other metric the experiment names, so that a table pairs any of
    # its columns by seed (the NeuroBench counts and energy of table 7, say)
    per_seed = [p for p in exact if p not in RUNS.columns]
    run_rows = []
    for cell in plan.cells:
        for seed, rid in zip(cell.seeds, cell.runs, strict=True):
            for role, r in [("cell", rid)] + [("teacher", d) for d in plan.runs[rid].deps]:
                rec = records[r]
                row = {"experiment": exp.id, "profile": profile.id, "cell": cell.id, "seed": seed}
                row |= {"role": role, "run_id": r, "status": rec.status, "reason": rec.reason}
                row |= {k: rec.summary.get(k) for k in RUNS.columns if k in rec.summary}
                metrics = ("test_acc", "val_acc", "train_acc", *per_seed)
                run_rows.append(row | {m: rec.metrics.get(m) for m in metrics})
    out_dir.mkdir(parents=True, exist_ok=True)
    claim_rows = frames.claims_rows(exp.id, profile.id, claims)
    paths = [
        frames.write(out_dir / f"{exp.id}.csv", rows, AGGREGATE, AGGREGATE.header(axes)),
        frames.write(out_dir / f"{exp.id}_claims.csv", claim_rows, CLAIMS, CLAIMS.header()),
        frames.write(out_dir / f"{exp.id}_runs.csv", run_rows, RUNS, RUNS.header(extra=per_seed)),
    ]
    if exp.curves:
        path, curves = out_dir / f"{exp.id}_curves.csv", _curves(plan, records, axes)
        paths.append(frames.write(path, curves, CURVES, CURVES.header(axes)))
    return Aggregate(rows, claims, paths)


def runs_frame(plan: Plan, records: dict[str, RunRecord]) -> pd.DataFrame:
    """Every finished run's metrics as one long frame: cell, seed, run_id, metric, value."""
    rows = [
        (cell.id, seed, rid, metric, value)
        for cell in plan.cells
        for seed, rid in zip(cell.seeds, cell.runs, strict=True)
        if records[rid].status == "finished"
        for metric, value in records[rid].metrics.items()
    ]
    return pd.DataFrame(rows, columns=["cell", "seed", "run_id", "metric", "value"])


CURVE_METRICS = {"test_acc": 100.0, "val_acc": 100.0, "train_acc": 100.0, "loss": 1.0}


def _curves(plan: Plan, records: dict[str, RunRecord], axes: list[str]) -> list[dict[str, Any]]:
    """Mean and std over seeds per cell, metric and epoch (epochs every finished run measured)."""
    data, cells = [], {c.id: c for c in plan.cells}
    for cell in plan.cells:
        fin = [records[r] for r in cell.runs if records[r].status == "finished"]
        if not fin or any(records[r].status == "failed" for r in cell.runs):
            continue
        n = min(len(r.epochs) for r in fin)
        data += [
            (cell.id, metric, e + 1, scale * epoch.get(metric, math.nan))
            for metric, scale in CURVE_METRICS.items()
            for r in fin
            for e, epoch in enumerate(r.epochs[:n])
        ]
    if not data:
        return []
    frame = pd.DataFrame(data, columns=["cell", "metric", "epoch", "value"])
    by = frame.groupby(["cell", "metric", "epoch"], sort=False)["value"]
    stats = by.agg(["size", "mean", "std", lambda v: v.isna().any()])
    head = {"experiment": plan.experiment.id, "profile": plan.profile.id}
    return [
        {**head, "cell": cid, **axis_text(cells[cid], axes), "metric": metric}
        | {"epoch": int(epoch), "n": int(n), "mean": float(mean), "std": float(std)}
        for (cid, metric, epoch), n, mean, std, unmeasured in stats.itertuples(name=None)
        if not unmeasured  # not measured this epoch (eval.every > 1); std: NaN for one seed
    ]
