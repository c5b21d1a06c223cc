"""``python -m bench``: run, aggregate, render and check the paper's tables and figures.

Commands (``TABLE`` is an experiment id such as ``table2`` or ``figure3``, or ``all``):

* ``run TABLE... [--profile quick] [--workers N] [--dry-run] [--force] [--data-root DIR]``:
  expand, run what is not cached, aggregate, render, print the verdicts;
* ``check TABLE... [--profile P]``: print the verdicts from the CSVs; exit 1 when a gating cell or
  claim fails;
* ``aggregate`` / ``render TABLE...``: redo those steps from the run directories / the CSVs;
* ``validate``: check every experiment, profile and paper_tables file (and build every run
  config) without running anything;
* ``regression [--profile quick]``: run the profile's regression subset and compare it with the
  committed reference aggregates; ``reference``: (re)write those aggregates from a fresh run;
* ``report [--profile P]``: write ``results/<P>/REPORT.md``, every table, claim and figure of
  the profile with its provenance (runs nothing);
* ``claims [--profiles quick small] [--readme]``: every claim side by side per profile;
* ``list``: the experiments and profiles.

Exit status: 0 fine, 1 a gating check failed, 2 bad input (a malformed file names file and key),
130 interrupted (re-running resumes).
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from pathlib import Path
from typing import Any

from bench import PAPER_TABLES_DIR, ROOT
from bench.schema import (
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


def _experiments(names: list[str]) -> list[Experiment]:
    """Experiment ids (``all`` = every one) or paths to experiment YAML files."""
    paths: list[Path] = []
    for n in names:
        if n.endswith((".yaml", ".yml")):
            found = [Path(n)]
        else:
            found = [experiment_path(e) for e in (experiment_ids() if n == "all" else [n])]
        paths += [p for p in found if p not in paths]
    return [load_experiment(p) for p in paths]


def _overrides(items: list[str]) -> dict[str, Any]:
    from tssd.typed import parse_assignment

    return dict(parse_assignment(item, SpecError) for item in items)


def _results(args: argparse.Namespace) -> Path:
    return Path(args.results).resolve()


def _check_data_root(args: argparse.Namespace) -> None:
    """A ``--data-root`` that is not an existing directory is an error before anything is planned
    (every run would otherwise be planned against it and fail one by one)."""
    root = getattr(args, "data_root", None)
    if root is not None and not Path(root).expanduser().is_dir():
        what = "is a file" if Path(root).expanduser().exists() else "does not exist"
        raise SpecError(f"--data-root {root}: {what}; expected the directory holding the datasets")


def _require_optional(plans, launcher: str | None = None, running: bool = False) -> None:
    """Fail in one line, before the first run, when a module the command will need is missing."""
    from bench.deps import require

    needs = {}
    figures = [
        plan.experiment.id
        for plan, layout in plans
        if layout.kind == "figure" or plan.experiment.forest is not None
    ]
    if figures:
        needs["matplotlib"] = f"rendering {', '.join(figures)}"
    if running:
        needs["filelock"] = "running (per-run locks)"
    if launcher == "slurm":
        needs["submitit"] = "--launcher slurm"
    require(needs)


def _plans(args: argparse.Namespace, profile: Profile, exps: list[Experiment]):
    from bench.expand import expand

    _check_data_root(args)
    runs_dir = _results(args) / "runs"
    seeds = [int(s) for s in args.seeds.split(",")] if getattr(args, "seeds", None) else None
    out = []
    for exp in exps:
        plan = expand(
            exp,
            profile,
            runs_dir=runs_dir,
            data_root=args.data_root,
            seeds=seeds,
            threads=getattr(args, "threads", None) or None,
            overrides=_overrides(getattr(args, "set", None) or []),
        )
        layout = load_layout(exp.layout)
        from bench.compare import positions

        if layout.kind == "table":
            positions(layout, profile, plan.cells)  # ambiguity is an error before any run
        out.append((plan, layout))
    return out


def _all_runs(plans) -> list:
    seen: dict[str, Any] = {}
    for plan, _ in plans:
        for r in plan.ordered_runs():
            seen.setdefault(r.run_id, r)
    return list(seen.values())


def _render(plan, layout: Layout, out_dir: Path) -> list[Path]:
    from bench.figures import render_figure
    from bench.render import render_table

    paths = (render_table if layout.kind == "table" else render_figure)(
        layout, plan.profile, out_dir
    )
    if plan.experiment.forest is not None:
        from bench.forest import render_forest

        paths += render_forest(plan.experiment, plan.profile, out_dir)
    return paths


def _write_macros(profile: Profile, out_dir: Path) -> Path:
    from bench.render import render_macros
    from tssd.runtime import atomic_write_text

    p = out_dir / "macros.tex"
    atomic_write_text(p, render_macros(profile, out_dir))
    return p


def _dry_run(plans, profile: Profile, runs_dir: Path, workers: int, estimate: bool) -> int:
    from bench.run import calibrated_seconds, fmt_seconds, run_state

    runs = _all_runs(plans)
    if estimate:
        by_id = {r.run_id: r for r in runs}
        print("calibrating: timing a few training steps per distinct run shape (cached)...")
        for r in runs:
            if r.unavailable or run_state(r, runs_dir).status in ("finished", "failed"):
                continue
            try:
                r.est_s = calibrated_seconds(r, by_id, profile.cost.startup_s)
            except KeyError as exc:
                print(f"  {r.name}: no calibration ({exc}); using the profile's cost model")
    print(
        f"{len(runs)} runs for {', '.join(p.experiment.id for p, _ in plans)} under profile "
        f"{profile.id} (runs shared between cells and tables counted once)"
    )
    print(f"{'run id':<24} {'role':<8} {'state':<26} {'est.':>7}  name")
    total = 0.0
    unknown = todo = 0
    for r in runs:
        st = run_state(r, runs_dir)
        state = {"partial": f"partial ({st.epochs_done} epochs)", "new": "to run"}.get(
            st.status, st.status
        )
        if st.status == "unavailable":
            state = "not runnable here"
        pending = st.status not in ("finished", "failed", "unavailable")
        if pending:
            todo += 1
            if r.est_s is None:
                unknown += 1
            else:
                epochs = r.config.get("optim", {}).get("epochs", 1)
                total += r.est_s * (1 - st.epochs_done / max(1, epochs))
        print(
            f"{r.run_id:<24} {r.role:<8} {state:<26} "
            f"{fmt_seconds(r.est_s) if pending else '-':>7}  {r.name}"
            + (f"  [{r.unavailable}]" if r.unavailable else "")
        )
    print(
        f"to run: {todo} runs, estimated {fmt_seconds(total)} of compute "
        f"(~{fmt_seconds(total / max(1, workers))} on {workers} workers)"
        + (f"; {unknown} without an estimate" if unknown else "")
    )
    if estimate:
        # Device-hours per table (a run shared by several tables counts in each of them; the
        # whole-paper line counts it once), measured on this machine's device.
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
        print(f"estimated {device}-hours of the runs still to do (calibrated on this device):")
        for plan, _ in plans:
            secs = sum(
                r.est_s or 0.0
                for r in plan.ordered_runs()
                if run_state(r, runs_dir).status not in ("finished", "failed", "unavailable")
            )
            print(f"  {plan.experiment.id:<10} {secs / 3600:10.2f} h")
        print(f"  {'all':<10} {total / 3600:10.2f} h  (shared runs counted once)")
    return 0


def _summary(
    rows: list[dict[str, str]],
    claims: list[dict[str, str]],
    exp_id: str,
    profile: str,
    verbose: bool,
    stream=None,
) -> bool:
    """Print verdicts; return True when every gating cell and claim passes."""
    from collections import Counter

    from bench.run import short

    stream = stream or sys.stdout

    shown = [r for r in rows if ":" not in r["metric"]]
    counts = Counter(r["verdict"] for r in shown)
    gate_fail = [r for r in rows if r["verdict"] == "fail"]
    print(
        f"== {exp_id} ({profile}): " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
        file=stream,
    )
    if verbose or gate_fail:
        width = max((len(r["cell"]) for r in shown), default=10)
        print(
            f"  {'cell':<{width}} {'metric':<16} {'n':>2} {'mean':>9} {'std':>7} {'ref':>9} "
            f"{'delta':>7} {'tol':>6}  verdict",
            file=stream,
        )
        for r in shown:
            if not verbose and r["verdict"] != "fail":
                continue

            def num(k: str, fmt: str, row=r) -> str:
                return format(float(row[k]), fmt) if row[k] else "-"

            print(
                f"  {r['cell']:<{width}} {r['metric']:<16} {r['n']:>2} {num('mean', '.2f'):>9} "
                f"{num('std', '.2f'):>7} {num('reported', '.2f'):>9} {num('delta', '+.2f'):>7} "
                f"{num('tolerance', '.2f'):>6}  {r['verdict']}"
                + (f"  ({short(r['reason'])})" if r["reason"] and r["verdict"] != "pass" else ""),
                file=stream,
            )
    ok = not gate_fail
    for c in claims:
        if c["group"] != "all":
            continue
        gate = c["gate"] == "True"
        print(
            f"  claim {c['claim']} [{c['source']}{', gating' if gate else ''}]: "
            f"{c['verdict'].upper()} ({c['note']}) - {c['text']}",
            file=stream,
        )
        if verbose:
            for g in claims:
                if g["claim"] == c["claim"] and g["group"] != "all":
                    d = f"{float(g['diff']):+.2f}" if g["diff"] else "-"
                    ci = (
                        f"[{float(g['ci_lo']):+.2f}, {float(g['ci_hi']):+.2f}]"
                        if g["ci_lo"]
                        else ""
                    )
                    print(
                        f"      {g['group']}: {g['outcome']} diff {d} {ci} {g['note']}", file=stream
                    )
        if gate and c["verdict"] == "not supported":
            ok = False
    return ok


def cmd_run(args: argparse.Namespace, profile: Profile | None = None) -> int:
    """Run, aggregate, render and report (``profile``: instead of loading ``--profile``)."""
    from bench.aggregate import aggregate
    from bench.launch import default_workers, make_launcher
    from bench.run import Progress, execute_runs, run_state

    profile = profile or load_profile(args.profile)
    exps = _experiments(args.experiments)
    plans = _plans(args, profile, exps)
    results = _results(args)
    runs_dir, out_dir = results / "runs", results / profile.id
    workers = args.workers or default_workers(profile.workers)
    if args.dry_run:
        return _dry_run(plans, profile, runs_dir, workers, args.estimate)
    _require_optional(plans, args.launcher, running=True)
    runs = _all_runs(plans)
    states = {r.run_id: run_state(r, runs_dir) for r in runs}
    needs = args.force or any(
        s.status not in ("finished", "failed", "unavailable") for s in states.values()
    )
    options = {
        "nproc": args.nproc,
        "folder": Path(args.results) / "slurm",
        "resources": profile.slurm,
        "cluster": args.slurm_cluster,
    }
    launcher = make_launcher(args.launcher, workers, **options) if needs else None
    label = (
        f"{'+'.join(e.id for e in exps) if len(exps) < 4 else f'{len(exps)} experiments'}"
        f" {profile.id}"
    )
    progress = Progress(label, runs, states, workers, runs_dir, interval_s=args.log_every)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        execute_runs(runs, runs_dir, launcher, force=args.force, progress=progress)
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished runs are kept; interrupted runs resume from their last "
            "checkpoint when you run the same command again",
            file=sys.stderr,
        )
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if launcher is not None:
            launcher.shutdown()
    ok = True
    for plan, layout in plans:
        agg = aggregate(plan, layout, out_dir)
        paths = agg.paths + _render(plan, layout, out_dir)
        rows, claims = _read_results(out_dir, plan.experiment.id)
        ok &= _summary(rows, claims, plan.experiment.id, profile.id, args.verbose)
        print("  wrote " + ", ".join(rel(p) for p in paths))
    print(f"  wrote {rel(_write_macros(profile, out_dir))}")
    return 0 if ok else 1


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _read_results(out_dir: Path, eid: str):
    from bench.aggregate import read_csv

    claims_path = out_dir / f"{eid}_claims.csv"
    return read_csv(out_dir / f"{eid}.csv"), (
        read_csv(claims_path) if claims_path.is_file() else []
    )


def cmd_aggregate(args: argparse.Namespace) -> int:  # noqa: D103
    from bench.aggregate import aggregate

    profile = load_profile(args.profile)
    out_dir = _results(args) / profile.id
    plans = _plans(args, profile, _experiments(args.experiments))
    _require_optional(plans)
    for plan, layout in plans:
        paths = aggregate(plan, layout, out_dir).paths + _render(plan, layout, out_dir)
        print("wrote " + ", ".join(rel(p) for p in paths))
    print(f"wrote {rel(_write_macros(profile, out_dir))}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:  # noqa: D103
    from bench.deps import require
    from bench.figures import render_figure
    from bench.render import render_table

    profile = load_profile(args.profile)
    out_dir = _results(args) / profile.id
    layouts = [(exp, load_layout(exp.layout)) for exp in _experiments(args.experiments)]
    figures = [e.id for e, layout in layouts if layout.kind == "figure" or e.forest is not None]
    require({"matplotlib": f"rendering {', '.join(figures)}"} if figures else {})
    for exp, layout in layouts:
        fn = render_table if layout.kind == "table" else render_figure
        paths = fn(layout, profile, out_dir)
        if exp.forest is not None:
            from bench.forest import render_forest

            paths += render_forest(exp, profile, out_dir)
        print("wrote " + ", ".join(rel(p) for p in paths))
    print(f"wrote {rel(_write_macros(profile, out_dir))}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:  # noqa: D103
    profile = load_profile(args.profile)
    out_dir = _results(args) / profile.id
    ok = True
    for exp in _experiments(args.experiments):
        try:
            rows, claims = _read_results(out_dir, exp.id)
        except FileNotFoundError as exc:
            print(f"== {exp.id} ({profile.id}): {exc}")
            ok = False
            continue
        ok &= _summary(rows, claims, exp.id, profile.id, verbose=True)
    print("check: " + ("all gating cells and claims pass" if ok else "FAILED"))
    return 0 if ok else 1


def cmd_validate(args: argparse.Namespace) -> int:
    """Load every file and build every run config of every profile; report what cannot run."""
    from bench.compare import positions
    from bench.expand import expand

    index = load_index()
    layouts: dict[str, Layout] = {}
    for p in sorted(PAPER_TABLES_DIR.glob("*.yaml")):
        if p.name == "index.yaml":
            continue
        layouts[p.stem] = load_layout(p)
        if p.stem not in index:
            raise SpecError(f"{rel(p)}: not listed in paper_tables/index.yaml")
    for eid, entry in index.items():
        if entry.layout and not (PAPER_TABLES_DIR / entry.layout).is_file():
            raise SpecError(
                f"paper_tables/index.yaml: key 'entries.{eid}.layout': "
                f"{entry.layout} does not exist"
            )
        if entry.experiment and entry.experiment not in experiment_ids():
            raise SpecError(
                f"paper_tables/index.yaml: key 'entries.{eid}.experiment': no "
                f"bench/experiments/{entry.experiment}.yaml"
            )
    profiles = [load_profile(p) for p in profile_ids()]
    runs_dir = _results(args) / "runs"
    for exp in _experiments(["all"]):
        layout = load_layout(exp.layout)
        if layout.kind != exp.kind:
            raise SpecError(
                f"{rel(exp.path)}: key 'kind': {exp.kind} but its layout "
                f"{exp.layout} is a {layout.kind}"
            )
        for prof in profiles:
            plan = expand(exp, prof, runs_dir=runs_dir)
            if layout.kind == "table":
                pos = positions(layout, prof, plan.cells)
                shown = {p.cell.id for p in pos}
                hidden = [c.id for c in plan.cells if c.id not in shown]
                if hidden:
                    raise SpecError(
                        f"{rel(exp.path)}: cells {hidden} (profile {prof.id}) are "
                        f"in no row x column of {exp.layout}"
                    )
            na = sorted({r.unavailable for r in plan.runs.values() if r.unavailable})
            n_runs = len(plan.runs)
            print(
                f"ok  {exp.id:<8} {prof.id:<6} {len(plan.cells):>3} cells {n_runs:>4} runs"
                + (f"  (not runnable in this checkout: {'; '.join(na)})" if na else "")
            )
    for prof in profiles:
        for eid in prof.regression.experiments if prof.regression else ():
            experiment_path(eid)
    print(
        f"validated {len(layouts)} paper_tables files, {len(index)} index entries, "
        f"{len(profiles)} profiles, {len(experiment_ids())} experiments"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:  # noqa: D103
    index = load_index()
    for eid in experiment_ids():
        exp = load_experiment(experiment_path(eid))
        entry = index.get(eid)
        print(f"{eid:<8} {exp.title}" + (f"  [{entry.status}]" if entry else ""))
    print("profiles: " + ", ".join(profile_ids()))
    return 0


def _regression_args(args: argparse.Namespace, profile: Profile, seeds) -> None:
    from bench.regression import regression_of

    reg = regression_of(profile)
    args.experiments = list(reg.experiments)
    if not args.seeds:
        args.seeds = ",".join(str(s) for s in seeds(reg))


def cmd_regression(args: argparse.Namespace) -> int:
    """Run the CI's seeds of the regression experiments and test them against the reference."""
    from bench.compare import reference_path
    from bench.regression import print_check

    profile = load_profile(args.profile)
    _regression_args(args, profile, lambda reg: reg.seeds)
    missing = [e for e in args.experiments if not reference_path(profile, e).is_file()]
    if missing:
        raise SpecError(
            f"{profile.reference_dir}: no reference for {', '.join(missing)}; create it with "
            f"`python -m bench reference --profile {profile.id}`"
        )
    code = cmd_run(args)
    if code not in (0, 1):
        return code
    m = len(args.seeds.split(","))
    out_dir = _results(args) / profile.id
    for eid in args.experiments:
        print_check(profile, _read_results(out_dir, eid)[0], eid, m)
    verdict = "PASS" if code == 0 else "FAIL"
    print(f"regression: {verdict} (against {profile.reference_dir})")
    return code


def cmd_reference(args: argparse.Namespace) -> int:
    """Train every reference seed of the regression experiments and write the reference."""
    from bench.regression import write_reference

    profile = load_profile(args.profile)
    _regression_args(args, profile, lambda reg: reg.reference_seeds)
    # the reference being replaced is not compared with (it may be stale or in an old format)
    code = cmd_run(args, dataclasses.replace(profile, compare="none"))
    if code not in (0, 1):
        return code
    plans = [plan for plan, _ in _plans(args, profile, _experiments(args.experiments))]
    command = f"python -m bench reference --profile {profile.id} --seeds {args.seeds}"
    paths = write_reference(profile, plans, command, args.threads)
    print("reference: wrote " + ", ".join(rel(p) for p in paths))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write ``results/<profile>/REPORT.md`` from what that profile's runs produced."""
    from bench.report import write_report

    print(f"wrote {rel(write_report(args.profile, _results(args)))}")
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    """Every claim of every experiment, side by side for the given profiles."""
    from bench.report import claims_table, update_readme

    table = claims_table(args.profiles, _results(args))
    if args.readme:
        update_readme(ROOT / "README.md", table)
        print("updated the claims table in README.md")
    else:
        print(table, end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m bench`` argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp: argparse.ArgumentParser, experiments: bool = True) -> None:
        if experiments:
            sp.add_argument(
                "experiments",
                nargs="+",
                metavar="TABLE",
                help="experiment ids (table1..table8, figure3..figure6) or 'all'",
            )
        sp.add_argument("--profile", default="quick", help="quick (default) or paper")
        sp.add_argument(
            "--results",
            default=str(ROOT / "results"),
            help="results directory (default: results/ in the repository)",
        )
        sp.add_argument(
            "--data-root", default=None, help="directory of the real datasets (paper profile)"
        )
        sp.add_argument("--seeds", default=None, help="comma-separated seeds (default: profile)")
        sp.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a run-config field of every run, e.g. --set optim.epochs=2 "
            "(changes the runs' hashes; repeatable)",
        )

    def running(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--workers",
            type=int,
            default=0,
            help="parallel runs (default: the profile's, else the CPU count)",
        )
        sp.add_argument(
            "--threads", type=int, default=0, help="torch threads per run (default: the profile's)"
        )
        sp.add_argument(
            "--launcher",
            default="local",
            choices=["local", "torchrun", "slurm"],
            help="where runs execute: local processes, one torchrun DDP job per run, or a SLURM "
            "job array through submitit (resources: the profile's slurm section)",
        )
        sp.add_argument(
            "--nproc", type=int, default=2, help="processes (GPUs) per run with --launcher torchrun"
        )
        sp.add_argument(
            "--slurm-cluster",
            default=None,
            help="submitit cluster for --launcher slurm: unset = SLURM; 'local' runs the array "
            "on this machine (for testing)",
        )
        sp.add_argument("--force", action="store_true", help="redo finished and failed runs")
        sp.add_argument(
            "--dry-run",
            action="store_true",
            help="list the runs, their state and estimated cost; run nothing",
        )
        sp.add_argument(
            "--estimate",
            action="store_true",
            help="with --dry-run: estimate from training steps timed on this machine "
            "(tssd.calibrate, cached) instead of the profile's cost model",
        )
        sp.add_argument("--verbose", action="store_true", help="print every cell's verdict")
        sp.add_argument(
            "--log-every",
            type=float,
            default=20.0,
            help="seconds between status lines when output is not a terminal",
        )

    r = sub.add_parser("run", help="run, aggregate, render and report experiments")
    common(r)
    running(r)
    r.set_defaults(fn=cmd_run)
    for name, fn, hlp in (
        ("aggregate", cmd_aggregate, "aggregate and render from run dirs"),
        ("render", cmd_render, "render from the aggregate CSVs"),
        ("check", cmd_check, "print verdicts; exit 1 on a gating failure"),
    ):
        sp = sub.add_parser(name, help=hlp)
        common(sp)
        sp.set_defaults(fn=fn)
    for name, fn, hlp in (
        ("regression", cmd_regression, "run the regression subset and compare with the reference"),
        ("reference", cmd_reference, "rewrite the reference aggregates"),
    ):
        sp = sub.add_parser(name, help=hlp)
        common(sp, experiments=False)
        running(sp)
        sp.set_defaults(fn=fn)
    v = sub.add_parser("validate", help="check every experiment, profile and paper_tables file")
    v.add_argument("--results", default=str(ROOT / "results"))
    v.set_defaults(fn=cmd_validate)
    rp = sub.add_parser("report", help="write results/<profile>/REPORT.md (runs nothing)")
    rp.add_argument("--profile", default="quick", help="quick (default), small or paper")
    rp.add_argument("--results", default=str(ROOT / "results"))
    rp.set_defaults(fn=cmd_report)
    cl = sub.add_parser("claims", help="every claim's verdict, one column per profile")
    cl.add_argument("--profiles", nargs="+", default=["quick", "small"])
    cl.add_argument("--results", default=str(ROOT / "results"))
    cl.add_argument("--readme", action="store_true", help="write it into README.md's table")
    cl.set_defaults(fn=cmd_claims)
    ls = sub.add_parser("list", help="list experiments and profiles")
    ls.set_defaults(fn=cmd_list)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
