"""``python -m bench``: run, aggregate, render and check the paper's tables and figures.

Commands (``TABLE`` is an experiment id such as ``table2`` or ``figure3``, ``all``, or a path):

* ``run TABLE... [--profile quick] [--workers N] [--dry-run [--estimate]] [--force]
  [--data-root DIR]``: expand, run what is not cached, aggregate, render, print the verdicts;
* ``check TABLE...``: print the verdicts from the CSVs; exit 1 when a gating cell or claim fails;
* ``aggregate`` / ``render TABLE...``: redo those steps from the run directories / the CSVs;
* ``validate``: check every experiment, profile and paper_tables file (and build every run
  config) without running anything;
* ``regression``: run the profile's CI seeds of its regression experiments and test them against
  the committed reference; ``reference``: (re)write that reference from every reference seed;
* ``report [--profile P]``: ``results/<P>/REPORT.md``, every table, claim and figure with its
  provenance (runs nothing); ``claims [--profiles quick small] [--readme]``: every claim side
  by side per profile;
* ``list``: the experiments and profiles.

Exit status: 0 fine, 1 a gating check failed, 2 bad input (a malformed file names file and key),
130 interrupted (re-running resumes). The steps themselves live in :mod:`bench.pipeline`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing
from pathlib import Path

from bench import ROOT
from bench import pipeline as pl
from bench.execute.launch import DEFAULT_LAUNCHER, LAUNCHERS
from bench.plan.schema import SpecError, load_profile, rel


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2), as every other bad input."""

    def error(self, message: str) -> typing.NoReturn:  # noqa: D102
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def parse_seeds(text: str | None) -> list[int] | None:
    """``--seeds 0,1,2`` -> ``[0, 1, 2]`` (None: the profile's seeds).

    Raises:
        SpecError: anything but comma-separated integers in 0..2^32-1, each once.
    """
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    expected = "expected comma-separated integers in 0..2^32-1, e.g. 0,1,2"
    try:
        seeds = [int(p) for p in parts]
    except ValueError:
        raise SpecError(f"--seeds: got {text!r}, {expected}") from None
    if any(not 0 <= s < 2**32 for s in seeds) or len(set(seeds)) != len(seeds):
        raise SpecError(f"--seeds: got {text!r}, {expected}, each once")
    return seeds


def results_dir(text: str) -> Path:
    """``--results`` as an absolute path, refused when it (or a parent) is a file or cannot be
    written.

    Raises:
        SpecError: naming the path and what was expected.
    """
    path = Path(text).expanduser().resolve()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise SpecError(f"--results {text}: {probe} is a file; expected a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SpecError(
            f"--results {text}: {probe} is not writable; expected a directory you can write"
        )
    return path


def _check_numbers(args: argparse.Namespace) -> None:
    for flag, low in (("workers", 0), ("threads", 0), ("nproc", 1)):
        v = getattr(args, flag, None)
        if v is not None and not low <= v <= 4096:
            raise SpecError(f"--{flag}: got {v}, expected an integer in {low}..4096")
    every = getattr(args, "log_every", None)
    if every is not None and not 0 < every < 1e9:
        raise SpecError(f"--log-every: got {every}, expected seconds > 0")


def _selection(args: argparse.Namespace) -> pl.Selection:
    from tssd.api import parse_assignment

    _check_numbers(args)
    return pl.Selection(
        profile=load_profile(args.profile),
        experiments=pl.experiments(args.experiments),
        results=results_dir(args.results),
        data_root=args.data_root,
        seeds=parse_seeds(args.seeds),
        threads=getattr(args, "threads", 0) or None,
        overrides=dict(parse_assignment(item, SpecError) for item in args.set),
    )


def _options(args: argparse.Namespace) -> pl.RunOptions:
    names = [f.name for f in dataclasses.fields(pl.RunOptions)]
    return pl.RunOptions(**{k: getattr(args, k) for k in names})


def cmd_run(args: argparse.Namespace) -> int:  # noqa: D103
    return pl.run(_selection(args), _options(args))


def cmd_aggregate(args: argparse.Namespace) -> int:  # noqa: D103
    print("\n".join(pl.rewrite(_selection(args), from_runs=True)))
    return 0


def cmd_render(args: argparse.Namespace) -> int:  # noqa: D103
    print("\n".join(pl.rewrite(_selection(args), from_runs=False)))
    return 0


def cmd_check(args: argparse.Namespace) -> int:  # noqa: D103
    from bench.present.verdicts import check

    sel = _selection(args)
    ok = all([check(exp, sel.out_dir, sel.profile.id) for exp in sel.experiments])
    print("check: " + ("all gating cells and claims pass" if ok else "FAILED"))
    return 0 if ok else 1


def cmd_validate(args: argparse.Namespace) -> int:  # noqa: D103
    print("\n".join(pl.validate(results_dir(args.results))))
    return 0


def cmd_list(args: argparse.Namespace) -> int:  # noqa: D103
    print("\n".join(pl.listing()))
    return 0


def cmd_regression(args: argparse.Namespace) -> int:  # noqa: D103
    from bench.regression import regression

    args.experiments = []
    return regression(_selection(args), _options(args))


def cmd_reference(args: argparse.Namespace) -> int:  # noqa: D103
    from bench.regression import reference

    args.experiments = []
    return reference(_selection(args), _options(args), args.threads)


def cmd_report(args: argparse.Namespace) -> int:  # noqa: D103
    import time

    t0 = time.time()
    results = results_dir(args.results)
    out = Path(args.out).resolve() if args.out else None
    paths = pl.regenerate(load_profile(args.profile), results, out)
    where = rel(out or results / args.profile)
    print(
        f"regenerated {len(paths)} files under {where} from the run records in "
        f"{rel(results / args.profile / 'records')} in {time.time() - t0:.1f}s "
        f"(REPORT.md: {rel(paths[-1])})"
    )
    return 0


def cmd_records(args: argparse.Namespace) -> int:  # noqa: D103
    results = Path(args.results).resolve()
    profile = load_profile(args.profile)
    if args.timing:
        lines = pl.records_timing(profile, results, since=args.since)
    else:
        lines = pl.records_status(profile, results)
    print("\n".join(lines))
    return 0


def cmd_claims(args: argparse.Namespace) -> int:  # noqa: D103
    from bench.plan.schema import profile_ids
    from bench.present.report import claims_table

    unknown = [p for p in args.profiles if p not in profile_ids()]
    if unknown:
        raise SpecError(
            f"--profiles: unknown profile {unknown[0]!r}; known: {', '.join(profile_ids())}"
        )
    table = claims_table(args.profiles, results_dir(args.results))
    if args.readme:
        from bench.present.report import write_readme

        write_readme(ROOT / "README.md", args.profiles, Path(args.results).resolve())
        print("updated the claims table in README.md")
    else:
        print(table, end="")
    return 0


RUNNING = [  # (flags, keyword arguments) of the commands that train
    (["--workers"], dict(type=int, default=0, help="parallel runs (default: the profile's)")),
    (["--threads"], dict(type=int, default=0, help="torch threads per run (default: profile's)")),
    (
        ["--launcher"],
        dict(
            default=DEFAULT_LAUNCHER,
            choices=list(LAUNCHERS),
            help="local processes, one torchrun DDP job per run, or a SLURM job "
            "array through submitit (resources: the profile's slurm section)",
        ),
    ),
    (["--nproc"], dict(type=int, default=2, help="processes (GPUs) per run with torchrun")),
    (
        ["--slurm-cluster"],
        dict(
            default=None,
            help="submitit cluster: unset = SLURM; 'local' runs "
            "the array on this machine (for testing)",
        ),
    ),
    (["--force"], dict(action="store_true", help="redo finished and failed runs")),
    (["--dry-run"], dict(action="store_true", help="list the runs, state and cost; run nothing")),
    (
        ["--estimate"],
        dict(
            action="store_true",
            help="with --dry-run: time training steps on this "
            "machine (tssd.calibrate, cached) instead of the profile's cost model",
        ),
    ),
    (["--verbose"], dict(action="store_true", help="print every cell's verdict")),
    (["--log-every"], dict(type=float, default=20.0, help="seconds between status lines in logs")),
]


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m bench`` argument parser."""
    p = OneLineParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    results = dict(default=str(ROOT / "results"), help="results directory (default: results/)")

    def command(name: str, fn, hlp: str, experiments: bool, running: bool, selection: bool = True):
        sp = sub.add_parser(name, help=hlp)
        if experiments:
            sp.add_argument(
                "experiments",
                nargs="+",
                metavar="TABLE",
                help="experiment ids (table1..table8, figure3..figure6, ...), 'all' "
                "or paths to experiment YAML files",
            )
        if selection:
            sp.add_argument("--profile", default="quick", help="quick (default), small or paper")
            sp.add_argument("--data-root", default=None, help="directory of the real datasets")
            sp.add_argument(
                "--seeds", default=None, help="comma-separated seeds (default: the profile's)"
            )
            sp.add_argument(
                "--set",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="override a run-config field of every run (changes its hash)",
            )
        sp.add_argument("--results", **results)
        for flags, kwargs in RUNNING if running else []:
            sp.add_argument(*flags, **kwargs)
        sp.set_defaults(fn=fn)
        return sp

    command("run", cmd_run, "run, aggregate, render and report experiments", True, True)
    command("aggregate", cmd_aggregate, "aggregate and render from run dirs", True, False)
    command("render", cmd_render, "render from the aggregate CSVs", True, False)
    command("check", cmd_check, "print verdicts; exit 1 on a gating failure", True, False)
    command(
        "regression", cmd_regression, "run the CI seeds, test against the reference", False, True
    )
    command("reference", cmd_reference, "rewrite the regression reference", False, True)
    command(
        "validate",
        cmd_validate,
        "check every experiment, profile and paper_tables file",
        False,
        False,
        selection=False,
    )
    rp = command(
        "report",
        cmd_report,
        "regenerate every table, claim, figure and REPORT.md of a profile from its run records "
        "(runs nothing)",
        False,
        False,
        selection=False,
    )
    rp.add_argument("--profile", default="quick", help="quick (default), small or paper")
    rp.add_argument(
        "--out", default=None, help="write into this folder instead of results/<profile>/"
    )
    cl = command(
        "claims",
        cmd_claims,
        "every claim's verdict, one column per profile",
        False,
        False,
        selection=False,
    )
    cl.add_argument("--profiles", nargs="+", default=["quick", "small"])
    cl.add_argument("--readme", action="store_true", help="write it into README.md's table")
    rc = command(
        "records",
        cmd_records,
        "what a profile's run records cover: per experiment recorded and missing runs, and "
        "records no plan claims",
        False,
        False,
        selection=False,
    )
    rc.add_argument("--profile", default="quick", help="quick (default), small or paper")
    rc.add_argument(
        "--timing",
        action="store_true",
        help="instead: the cost model's estimate of each recorded run against its wall time",
    )
    rc.add_argument(
        "--since",
        default="",
        help="with --timing: only runs started at this ISO time or later, e.g. 2026-12-07T01:20",
    )
    command("list", cmd_list, "list experiments and profiles", False, False, selection=False)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    from tssd.api import ConfigError

    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (SpecError, ConfigError, FileNotFoundError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path that cannot be written (a read-only folder, a full disk)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}; expected a writable path", file=sys.stderr)
        return 2
