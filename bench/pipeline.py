"""The harness's steps on typed objects (plan, run, aggregate, render, validate, report), called
by :mod:`bench.cli` and from Python."""

from __future__ import annotations

import math
import operator
import signal
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import PAPER_TABLES_DIR
from bench.execute.launch import DEFAULT_LAUNCHER, LAUNCHERS
from bench.plan.expand import Plan, PlannedRun
from bench.plan.schema import (
    Experiment,
    Layout,
    Profile,
    SpecError,
    experiment_ids,
    experiment_path,
    load_experiment,
    load_index,
    load_layout,
    load_profile,
    profile_ids,
    rel,
)
from tssd.api import atomic_write_text

DONE = ("finished", "failed")
NOTHING_TO_DO = (*DONE, "unavailable")
STEP_GRAPH = operator.attrgetter(
    *("model.name", "model.width", "method.name", "method.t_s", "method.t_t"),
    *("data.name", "data.size", "data.batch_size"),
)
"""What a compiled step's graph depends on: its network, method and input."""


def experiments(names: list[str]) -> list[Experiment]:
    """Experiment ids (``all`` = every one) or paths to experiment YAML files."""
    paths: list[Path] = []
    for n in names:
        if n.endswith((".yaml", ".yml")):
            found = [Path(n)]
        else:
            found = [experiment_path(e) for e in (experiment_ids() if n == "all" else [n])]
        paths += [p for p in found if p not in paths]
    return [load_experiment(p) for p in paths]


@dataclass
class Selection:
    """What to plan: experiments, profile, where, overrides. ``use_records``: a recorded run is
    done (False for the regression check, which trains today's code); ``out_name``: the output
    folder under ``results`` (default: the profile's id)."""

    profile: Profile
    experiments: list[Experiment]
    results: Path
    data_root: str | None = None
    seeds: list[int] | None = None
    threads: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    use_records: bool = True
    out_name: str | None = None

    @property
    def runs_dir(self) -> Path:  # noqa: D102
        return self.results / "runs"

    @property
    def out_dir(self) -> Path:  # noqa: D102
        return self.results / (self.out_name or self.profile.id)

    def records(self) -> dict[str, Any] | None:
        """The profile's run records (None when this selection does not use them)."""
        from bench.execute.records import load, records_dir

        return load(records_dir(self.out_dir)) if self.use_records else None

    def record_runs(self, runs: list[PlannedRun], replace: bool = False) -> list[Path]:
        """Record each of ``runs`` whose run directory is finished or failed and has no record
        (``replace``: or another one: runs that finished just now); the files rewritten."""
        from bench.execute.records import from_run_dir, records_dir, upsert

        if not self.use_records:
            return []
        new = [
            rec
            for r in runs
            if not r.unavailable
            and (rec := from_run_dir(r.run_id, self.runs_dir / r.run_id)) is not None
        ]
        lock = self.runs_dir / ".locks" / f"records-{self.out_dir.name}.lock"
        return upsert(records_dir(self.out_dir), new, lock, replace=replace)


def plans(sel: Selection) -> list[tuple[Plan, Layout]]:
    """Every experiment's plan and layout (a table whose row and column select several cells
    is an error here, before any run)."""
    from bench.analyse.compare import positions
    from bench.plan.expand import expand

    root = sel.data_root
    if root is not None and not Path(root).expanduser().is_dir():
        # every run would otherwise be planned against it and fail one by one
        what = "is a file" if Path(root).expanduser().exists() else "does not exist"
        raise SpecError(f"--data-root {root}: {what}; expected the directory holding the datasets")
    out, opts = [], dict(data_root=root, seeds=sel.seeds, threads=sel.threads)
    for exp in sel.experiments:
        plan = expand(exp, sel.profile, runs_dir=sel.runs_dir, overrides=sel.overrides, **opts)
        layout = load_layout(exp.layout)
        if layout.kind == "table":
            positions(layout, sel.profile, plan.cells)
        out.append((plan, layout))
    _shared_runs_agree(out)
    return out


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out |= _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v}
    return out


def _shared_runs_agree(planned: list[tuple[Plan, Layout]]) -> None:
    """Experiments that share a run (one config hash) must agree on its fields outside the hash
    (e.g. ``eval.every``): the run trains once, so one of them would silently lose its setting."""
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for plan, _ in planned:
        exp = plan.experiment
        for r in plan.ordered_runs():
            cfg = _flat({k: v for k, v in r.cfg.to_dict().items() if k != "name"})
            if r.run_id not in seen:
                seen[r.run_id] = (exp.id, cfg)
                continue
            other, first = seen[r.run_id]
            for key in sorted(set(first) | set(cfg)):
                if first.get(key) != cfg.get(key):
                    raise SpecError(
                        f"{rel(exp.path)}: run {r.name} ({r.run_id}) is also planned by {other} "
                        f"with {key}={first.get(key)!r}, here {cfg.get(key)!r}; experiments that "
                        "share a run must agree on the fields outside its hash"
                    )


def all_runs(planned: list[tuple[Plan, Layout]]) -> list[PlannedRun]:
    """The runs of every plan, each once, dependencies first."""
    seen: dict[str, PlannedRun] = {}
    for plan, _ in planned:
        for r in plan.ordered_runs():
            seen.setdefault(r.run_id, r)
    return list(seen.values())


def require_optional(
    exps: list[Experiment], planned: list, launcher: str | None = None, running: bool = False
) -> None:
    """Fail in one line, before the first run, when a module the command will need is missing."""
    from bench.plan.deps import require

    pictures = [
        e.id for e, (_, lay) in zip(exps, planned, strict=True) if lay.kind == "figure" or e.forest
    ]
    needs = {m: f"rendering {', '.join(pictures)}" for m in ("matplotlib", "seaborn") if pictures}
    if running:
        needs["filelock"] = "running (per-run locks)"
    if launcher in LAUNCHERS:
        needs.update({m: f"--launcher {launcher}" for m in LAUNCHERS[launcher].needs})
    require(needs)


def render(exp: Experiment, layout: Layout, profile: Profile, out_dir: Path) -> list[Path]:
    """The table (LaTeX, Markdown) or figure (PDF, PNG) of one experiment, and its forest."""
    from bench.present.figures import render_figure
    from bench.present.render import render_table

    fn = render_table if layout.kind == "table" else render_figure
    paths = fn(layout, profile, out_dir, exp.id)
    if exp.forest is not None:
        from bench.present.forest import render_forest

        paths += render_forest(exp, profile, out_dir)
    return paths


def write_macros(profile: Profile, out_dir: Path) -> Path:
    """``macros.tex`` of every aggregate of the profile."""
    from bench.present.render import render_macros

    p = out_dir / "macros.tex"
    atomic_write_text(p, render_macros(profile, out_dir))
    return p


def _states(sel: Selection, runs: list[PlannedRun], record: bool = False, force: bool = False):
    """Each run's state, the states of the runs done by their records, and the runs to do. A
    recorded KD teacher whose ``inference.pt`` an unrecorded student needs, and is not here, is
    trained again. ``record``: first record the runs finished here without a record."""
    from bench.execute.run import RunState, run_state

    states = {r.run_id: run_state(r, sel.runs_dir) for r in runs}
    if record:
        sel.record_runs([r for r in runs if states[r.run_id].status in DONE])
    records = sel.records() if not force else None
    done = {r.run_id for r in runs if r.run_id in (records or {})}
    need_dir = {d for r in runs if r.run_id not in done for d in r.deps}
    recorded = {
        rid: RunState(records[rid].status, error=records[rid].reason)
        for rid in done
        if not (rid in need_dir and states[rid].status not in DONE)
    }
    pending = {rid for rid, st in (states | recorded).items() if st.status not in NOTHING_TO_DO}
    return states | recorded, recorded, pending


def _calibrate(
    runs: list[PlannedRun],
    by_id: dict[str, PlannedRun],
    profile: Profile,
    workers: int,
    measure: bool = True,
) -> None:
    """Replace each run's cost-model estimate by ``--estimate``'s, from training steps timed on
    this machine with ``workers`` runs at once; a run with no calibration keeps the cost model's,
    and says so. ``measure=False`` (the harness's ETA): cached calibrations only, silently."""
    from bench.execute.run import calibrated_seconds
    from tssd.api import CalibrationFailed

    for r in runs:
        try:
            r.est_s = calibrated_seconds(r, by_id, profile.cost.startup_s, workers, measure)
        except (KeyError, CalibrationFailed) as exc:
            if measure:
                print(f"  {r.name}: no calibration ({exc}); using the profile's cost model")


def dry_run(sel: Selection, planned, workers: int, estimate: bool) -> None:
    """Print every run with its state and estimated cost (calibrated steps with ``estimate``)."""
    from bench.execute.run import fmt_seconds

    runs, profile = all_runs(planned), sel.profile
    states, recorded, pending = _states(sel, runs)
    if estimate:
        by_id = {r.run_id: r for r in runs}
        print("calibrating: timing a few training steps per distinct run shape (cached)...")
        _calibrate([r for r in runs if r.run_id in pending], by_id, profile, workers)
    print(
        f"{len(runs)} runs for {', '.join(p.experiment.id for p, _ in planned)} under profile "
        f"{profile.id} (runs shared between cells and tables counted once)"
    )
    print(f"{'run id':<24} {'role':<8} {'state':<26} {'est.':>7}  name")
    total, unknown = 0.0, 0
    for r in runs:
        st = states[r.run_id]
        state = {
            "partial": f"partial ({st.epochs_done} epochs)",
            "new": "to run",
            "unavailable": "not runnable here",
        }.get(st.status, st.status) + (" (recorded)" if r.run_id in recorded else "")
        if r.run_id in pending:
            if r.est_s is None:
                unknown += 1
            else:
                total += r.est_s * (1 - st.epochs_done / max(1, r.cfg.optim.epochs))
        est = fmt_seconds(r.est_s) if r.run_id in pending else "-"
        print(
            f"{r.run_id:<24} {r.role:<8} {state:<26} {est:>7}  {r.name}"
            + (f"  [{r.unavailable}]" if r.unavailable else "")
        )
    # the first run of each distinct compiled step compiles cold (filling the results folder's
    # compile cache); every run's estimate holds a warm compile
    graphs = len(
        {
            STEP_GRAPH(r.cfg)
            for r in runs
            if r.run_id in pending and states[r.run_id].epochs_done == 0 and r.cfg.runtime.compile
        }
    )
    total += max(0.0, profile.cost.compile.cold_s - profile.cost.compile.warm_s) * graphs
    print(
        f"to run: {len(pending)} runs, estimated {fmt_seconds(total)} of compute "
        f"(~{fmt_seconds(total / max(1, workers))} on {workers} workers)"
        + (f"; {unknown} without an estimate" if unknown else "")
        + (f"; compiled: {graphs} distinct step graphs compile cold once" if graphs else "")
    )
    if estimate:  # a run shared by tables counts in each table, once in the whole-paper line
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
        print(f"estimated {device}-hours of the runs still to do (calibrated on this device):")
        for plan, _ in planned:
            # by id: a run shared with an earlier experiment was calibrated as that one's object
            secs = sum(
                by_id[r.run_id].est_s or 0.0 for r in plan.ordered_runs() if r.run_id in pending
            )
            print(f"  {plan.experiment.id:<10} {secs / 3600:10.2f} h")
        print(f"  {'all':<10} {total / 3600:10.2f} h  (shared runs counted once)")


@dataclass
class RunOptions:
    """How runs execute (the ``run``, ``regression`` and ``reference`` commands' flags)."""

    workers: int = 0
    launcher: str = DEFAULT_LAUNCHER
    nproc: int = 2
    slurm_cluster: str | None = None
    force: bool = False
    dry_run: bool = False
    estimate: bool = False
    verbose: bool = False
    log_every: float = 20.0


def execute(sel: Selection, planned, opts: RunOptions, workers: int) -> bool:
    """Run what is not cached; False when interrupted (finished runs are kept, the others
    resume on the next call)."""
    from bench.execute.launch import make_launcher
    from bench.execute.run import Progress, execute_runs

    force, runs, every = opts.force, all_runs(planned), opts.log_every
    states, recorded, pending = _states(sel, runs, record=True, force=force)
    options = dict(nproc=opts.nproc, folder=sel.results / "slurm", resources=sel.profile.slurm)
    options["cluster"] = opts.slurm_cluster
    launcher = make_launcher(opts.launcher, workers, **options) if force or pending else None
    exps = [p.experiment.id for p, _ in planned]
    label = f"{'+'.join(exps) if len(exps) < 4 else f'{len(exps)} experiments'} {sel.profile.id}"
    # the ETA from this machine's cached step timings where it has them (the cost model runs
    # about 40 % pessimistic on `small`); nothing is timed here, beside the runs about to train
    by_id = {r.run_id: r for r in runs}
    _calibrate([r for r in runs if r.run_id in pending], by_id, sel.profile, workers, False)
    progress = Progress(
        label, runs, states, workers, sel.runs_dir, interval_s=every, recorded=set(recorded)
    )
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        execute_runs(
            runs,
            sel.runs_dir,
            launcher,
            force=force,
            progress=progress,
            recorded=set(recorded),
            on_done=lambda r: sel.record_runs([r], replace=True),
        )
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished runs are kept; interrupted runs resume from their last "
            "checkpoint when you run the same command again",
            file=sys.stderr,
        )
        return False
    finally:
        signal.signal(signal.SIGTERM, previous)
        if launcher is not None:
            launcher.shutdown()
    return True


def validate(results: Path) -> list[str]:
    """Load every file and build every run config of every profile; one line per experiment
    and profile (raises :class:`SpecError` at the first inconsistency)."""
    from bench.analyse.compare import positions
    from bench.plan.expand import expand

    index = load_index()
    layouts = [p for p in sorted(PAPER_TABLES_DIR.glob("*.yaml")) if p.name != "index.yaml"]
    for p in layouts:
        load_layout(p)
        if p.stem not in index:
            raise SpecError(f"{rel(p)}: not listed in paper_tables/index.yaml")
    for eid, entry in index.items():
        key = f"paper_tables/index.yaml: key 'entries.{eid}"
        if entry.layout and not (PAPER_TABLES_DIR / entry.layout).is_file():
            raise SpecError(f"{key}.layout': {entry.layout} does not exist")
        if entry.experiment and entry.experiment not in experiment_ids():
            raise SpecError(f"{key}.experiment': no bench/experiments/{entry.experiment}.yaml")
    profiles = [load_profile(p) for p in profile_ids()]
    lines = []
    for exp in experiments(["all"]):
        layout = load_layout(exp.layout)
        if layout.kind != exp.kind:
            raise SpecError(
                f"{rel(exp.path)}: key 'kind': {exp.kind} but its layout {exp.layout} is a "
                f"{layout.kind}"
            )
        for prof in profiles:
            plan = expand(exp, prof, runs_dir=results / "runs")
            if layout.kind == "table":
                shown = {p.cell.id for p in positions(layout, prof, plan.cells)}
                hidden = [c.id for c in plan.cells if c.id not in shown]
                if hidden:
                    raise SpecError(
                        f"{rel(exp.path)}: cells {hidden} (profile {prof.id}) are in no row x "
                        f"column of {exp.layout}"
                    )
            na = sorted({r.unavailable for r in plan.runs.values() if r.unavailable})
            lines.append(
                f"ok  {exp.id:<8} {prof.id:<6} {len(plan.cells):>3} cells {len(plan.runs):>4} runs"
                + (f"  (not runnable in this checkout: {'; '.join(na)})" if na else "")
            )
    for prof in profiles:
        for eid in prof.regression.experiments if prof.regression else ():
            experiment_path(eid)
    lines.append(
        f"validated {len(layouts)} paper_tables files, {len(index)} index entries, "
        f"{len(profiles)} profiles, {len(experiment_ids())} experiments"
    )
    return lines


def run(sel: Selection, opts: RunOptions) -> int:
    """Plan, run what is not cached, aggregate, render and print the verdicts; the exit status
    (0 fine, 1 a gating cell or claim failed, 130 interrupted)."""
    from bench.analyse.aggregate import aggregate
    from bench.execute.launch import default_workers
    from bench.present.verdicts import print_summary

    planned = plans(sel)
    workers = opts.workers or default_workers(sel.profile.workers)
    if opts.dry_run:
        dry_run(sel, planned, workers, opts.estimate)
        return 0
    require_optional(sel.experiments, planned, opts.launcher, running=True)
    if not execute(sel, planned, opts, workers):
        return 130
    ok = True
    source = sel.records()
    for plan, layout in planned:
        agg = aggregate(plan, layout, sel.out_dir, source)
        paths = agg.paths + render(plan.experiment, layout, sel.profile, sel.out_dir)
        ok &= print_summary(plan.experiment.id, sel.profile.id, agg.rows, agg.claims, opts.verbose)
        print("  wrote " + ", ".join(rel(p) for p in paths))
    print(f"  wrote {rel(write_macros(sel.profile, sel.out_dir))}")
    return 0 if ok else 1


def rewrite(sel: Selection, from_runs: bool) -> list[str]:
    """Re-aggregate (``from_runs``: first recording every finished run directory of the plans
    that has no record yet, then aggregating from the records) or only re-render from the CSVs;
    one line per experiment naming what was written."""
    from bench.analyse.aggregate import aggregate

    layouts = [(None, load_layout(e.layout)) for e in sel.experiments]
    planned = plans(sel) if from_runs else layouts
    require_optional(sel.experiments, planned)
    lines = [f"wrote {rel(p)}" for p in sel.record_runs(all_runs(planned))] if from_runs else []
    source = sel.records() if from_runs else None
    for exp, (plan, layout) in zip(sel.experiments, planned, strict=True):
        paths = aggregate(plan, layout, sel.out_dir, source).paths if plan is not None else []
        paths += render(exp, layout, sel.profile, sel.out_dir)
        lines.append("wrote " + ", ".join(rel(p) for p in paths))
    return [*lines, f"wrote {rel(write_macros(sel.profile, sel.out_dir))}"]


def _recorded(profile: Profile, results: Path) -> tuple[dict[str, Any], list[tuple[Plan, Layout]]]:
    from bench.execute.records import load, records_dir

    records = load(records_dir(results / profile.id))
    return records, plans(Selection(profile, experiments(["all"]), results))


def unclaimed(records: dict[str, Any], planned: list[tuple[Plan, Layout]]) -> list[str]:
    """The ids of the records no plan claims (a changed plan's leftovers), sorted."""
    claimed = {r.run_id for plan, _ in planned for r in plan.ordered_runs()}
    return sorted(set(records) - claimed)


def regenerate(profile: Profile, results: Path, out_dir: Path | None = None) -> list[Path]:
    """Every output of ``profile`` (CSVs, tables, figures, ``macros.tex``, ``REPORT.md``) from its
    run records alone, into ``out_dir`` (default ``results/<profile>``): no run directory is read,
    so a fresh clone regenerates the committed files byte for byte."""
    from bench.analyse.aggregate import aggregate
    from bench.present.report import write_report

    out = out_dir or results / profile.id
    source, planned = _recorded(profile, results)
    require_optional([p.experiment for p, _ in planned], planned)
    paths: list[Path] = []
    for plan, layout in planned:
        paths += aggregate(plan, layout, out, source).paths
        paths += render(plan.experiment, layout, profile, out)
    paths.append(write_macros(profile, out))
    orphans = len(unclaimed(source, planned))
    paths.append(write_report(profile.id, out.parent, out_dir=out, unclaimed=orphans))
    return paths


def listing() -> list[str]:
    """One line per experiment (id, title, status of the paper's table) and the profiles."""
    index = load_index()
    lines = []
    for eid in experiment_ids():
        entry = index.get(eid)
        title = load_experiment(experiment_path(eid)).title
        lines.append(f"{eid:<8} {title}" + (f"  [{entry.status}]" if entry else ""))
    return [*lines, "profiles: " + ", ".join(profile_ids())]


def records_status(profile: Profile, results: Path) -> list[str]:
    """Per experiment, its planned runs and how many are recorded (finished, failed) or missing;
    then the records no plan claims (left by a plan that changed), which no table shows."""
    from bench.execute.records import records_dir

    records, planned = _recorded(profile, results)
    lines = [f"{len(records)} run records in {rel(records_dir(results / profile.id))}"]
    for plan, _ in planned:
        ids = [r.run_id for r in plan.ordered_runs()]
        status = [records[i].status for i in ids if i in records]
        fin, failed = status.count("finished"), status.count("failed")
        lines.append(
            f"  {plan.experiment.id:<15} {len(ids):>4} runs: {fin:>4} finished, {failed} failed, "
            f"{len(ids) - fin - failed:>4} not run"
        )
    orphans = unclaimed(records, planned)
    lines.append(f"{len(orphans)} records no plan of profile {profile.id} claims")
    for rid in orphans:
        c = records[rid].config
        what = f"{c.get('method', {}).get('name')} on {c.get('data', {}).get('name')}"
        lines.append(f"  {rid}  {what}, seed {c.get('seed')}")
    return lines


STEADY_SPREAD = 1.3
"""A run is steady when the upper quartile of its training epochs' times is at most this times
the lower (no pause or load over a stretch of it); only steady runs judge the cost model."""


def records_timing(
    profile: Profile, results: Path, tolerance: float = 0.2, since: str = "", estimate: bool = False
) -> list[str]:
    """The cost model's estimate of every recorded finished run (``--dry-run``'s; with
    ``estimate``, ``--dry-run --estimate``'s calibrated one) against its measured ``wall_s`` and
    whether the run was steady; the last line: how many steady runs it meets within
    ``tolerance``. ``since`` (ISO time): only runs started then or later."""
    from bench.execute.run import fmt_seconds

    records, planned = _recorded(profile, results)
    by_id = {r.run_id: r for r in all_runs(planned)}
    judged = [
        r
        for r in by_id.values()
        if (rec := records.get(r.run_id)) is not None
        and rec.status == "finished"
        and r.est_s is not None
        and not (since and str(rec.summary.get("started", "")) < since)
    ]
    if estimate:
        from bench.execute.launch import default_workers

        _calibrate(judged, by_id, profile, default_workers(profile.workers))
    rows: dict[str, tuple[str, float, float, str]] = {}
    for run in judged:
        rec = records[run.run_id]
        # the epochs that only trained (an evaluation-free epoch holds NaN there), else
        # (every epoch evaluates) all but the last, which also tests
        body = rec.epochs[:-1]
        quiet = [
            e for e in body if math.isnan(e.get("val_acc", math.nan)) and math.isnan(e["test_acc"])
        ]
        unsteady = _unsteady([e["epoch_time_s"] for e in quiet or body])
        rows[run.run_id] = (run.name, run.est_s, float(rec.summary["wall_s"]), unsteady)
    model = "calibrated estimate (--estimate)" if estimate else "cost model"
    lines = [
        f"{model} of profile {profile.id} ({profile.workers} run(s) in parallel) against "
        f"{len(rows)} recorded runs" + (f" started since {since}" if since else "") + "; "
        f"steady: the quartiles of a run's epoch times within {STEADY_SPREAD}x",
        f"  {'run':<48} {'estimate':>9} {'measured':>9} {'error':>7}  steady",
    ]
    errors = []
    for name, est, wall, unsteady in sorted(rows.values()):
        err = est / wall - 1.0
        if not unsteady:
            errors.append(err)
        lines.append(
            f"  {name:<48} {fmt_seconds(est):>9} {fmt_seconds(wall):>9} {err:>+7.0%}  "
            + (f"no ({unsteady})" if unsteady else "yes")
        )
    if errors:
        within = sum(abs(e) <= tolerance for e in errors)
        errors.sort()
        lines.append(
            f"steady runs: {len(errors)}; estimate within +-{tolerance:.0%}: {within}; "
            f"median error {errors[len(errors) // 2]:+.0%} (estimate / measured - 1)"
        )
    else:
        why = "every one was paused or shared its cores" if rows else "no recorded run selected"
        lines.append(f"steady runs: none ({why})")
    return lines


def _unsteady(times: list[float]) -> str:
    """Why a run's epoch ``times`` do not judge the cost model ("" when steady)."""
    from bench.execute.run import PAUSED_EPOCH

    if len(times) < 2:
        return "too few epochs"
    if max(times) > PAUSED_EPOCH * statistics.median(times):
        return "paused"
    q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive")
    return f"{q3 / q1:.1f}x" if q3 / q1 > STEADY_SPREAD else ""
