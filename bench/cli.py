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
from bench.plan.schema import SpecError, load_profile, profile_ids, rel


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2), as every other bad input."""

    def error(self, message: str) -> typing.NoReturn:  # noqa: D102
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def parse_seeds(text: str | None) -> list[int] | None:
    """``--seeds 0,1,2`` -> ``[0, 1, 2]`` (None: the profile's seeds); anything but distinct
    integers in 0..2^32-1 is a :class:`SpecError`."""
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
    """``--results`` as an absolute path; a :class:`SpecError` when it (or a parent) is a file
    or cannot be written."""
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
        experiments=pl.experiments(getattr(args, "experiments", [])),
        results=results_dir(args.results),
        data_root=args.data_root,
        seeds=parse_seeds(args.seeds),
        threads=getattr(args, "threads", 0) or None,
        overrides=dict(parse_assignment(item, SpecError) for item in args.set),
    )


def _options(args: argparse.Namespace) -> pl.RunOptions:
    names = [f.name for f in dataclasses.fields(pl.RunOptions)]
    return pl.RunOptions(**{k: getattr(args, k) for k in names})


def _print(lines: list[str]) -> int:
    print("\n".join(lines))
    return 0


def cmd_rewrite(args: argparse.Namespace) -> int:  # noqa: D103
    return _print(pl.rewrite(_selection(args), from_runs=args.cmd == "aggregate"))


def cmd_check(args: argparse.Namespace) -> int:  # noqa: D103
    from bench.present.verdicts import check

    sel = _selection(args)
    ok = all([check(exp, sel.out_dir, sel.profile.id) for exp in sel.experiments])
    print("check: " + ("all gating cells and claims pass" if ok else "FAILED"))
    return 0 if ok else 1


def cmd_regression(args: argparse.Namespace) -> int:  # noqa: D103
    from bench.regression import reference, regression

    if args.cmd == "regression":
        return regression(_selection(args), _options(args))
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
    results, profile = Path(args.results).resolve(), load_profile(args.profile)
    if args.timing:
        return _print(pl.records_timing(profile, results, since=args.since, estimate=args.estimate))
    return _print(pl.records_status(profile, results))


def cmd_claims(args: argparse.Namespace) -> int:  # noqa: D103
    from bench.present.report import claims_table

    unknown = [p for p in args.profiles if p not in profile_ids()]
    if unknown:
        raise SpecError(
            f"--profiles: unknown profile {unknown[0]!r}; known: {', '.join(profile_ids())}"
        )
    twice = [p for i, p in enumerate(args.profiles) if p in args.profiles[:i]]
    if twice:  # one column per profile: a repeated name would leave a column without cells
        raise SpecError(f"--profiles: {twice[0]!r} is given twice; name each profile once")
    table = claims_table(args.profiles, results_dir(args.results))
    if args.readme:
        from bench.present.report import write_readme

        write_readme(ROOT / "README.md", args.profiles, Path(args.results).resolve())
        print("updated the claims table in README.md")
    else:
        print(table, end="")
    return 0


def _arg(*flags: str, **kwargs) -> tuple[tuple[str, ...], dict]:
    return flags, kwargs


PROFILE = _arg("--profile", default="quick", help="quick (default), small or paper")
RESULTS = _arg(
    "--results", default=str(ROOT / "results"), help="results directory (default: results/)"
)
TABLES = _arg(
    "experiments",
    nargs="+",
    metavar="TABLE",
    help="experiment ids (table1..table8, figure3..figure6, ...), 'all' or paths to experiment "
    "YAML files",
)
SELECTION = [
    PROFILE,
    _arg("--data-root", default=None, help="directory of the real datasets"),
    _arg("--seeds", default=None, help="comma-separated seeds (default: the profile's)"),
    _arg(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a run-config field of every run (changes its hash)",
    ),
    RESULTS,
]
RUNNING = [  # the commands that train
    _arg("--workers", type=int, default=0, help="parallel runs (default: the profile's)"),
    _arg("--threads", type=int, default=0, help="torch threads per run (default: profile's)"),
    _arg(
        "--launcher",
        default=DEFAULT_LAUNCHER,
        choices=list(LAUNCHERS),
        help="local processes, one torchrun DDP job per run, or a SLURM job array through "
        "submitit (resources: the profile's slurm section)",
    ),
    _arg("--nproc", type=int, default=2, help="processes (GPUs) per run with torchrun"),
    _arg(
        "--slurm-cluster",
        default=None,
        help="submitit cluster: unset = SLURM; 'local' runs the array on this machine (for "
        "testing)",
    ),
    _arg("--force", action="store_true", help="redo finished and failed runs"),
    _arg("--dry-run", action="store_true", help="list the runs, state and cost; run nothing"),
    _arg(
        "--estimate",
        action="store_true",
        help="with --dry-run: time training steps on this machine (tssd.calibrate, cached) "
        "instead of the profile's cost model",
    ),
    _arg("--verbose", action="store_true", help="print every cell's verdict"),
    _arg("--log-every", type=float, default=20.0, help="seconds between status lines in logs"),
]
COMMANDS = {  # name: (function, help, arguments)
    "run": (
        lambda args: pl.run(_selection(args), _options(args)),
        "run, aggregate, render and report experiments",
        [TABLES, *SELECTION, *RUNNING],
    ),
    "aggregate": (cmd_rewrite, "aggregate and render from run dirs", [TABLES, *SELECTION]),
    "render": (cmd_rewrite, "render from the aggregate CSVs", [TABLES, *SELECTION]),
    "check": (cmd_check, "print verdicts; exit 1 on a gating failure", [TABLES, *SELECTION]),
    "regression": (
        cmd_regression,
        "run the CI seeds, test against the reference",
        [*SELECTION, *RUNNING],
    ),
    "reference": (cmd_regression, "rewrite the regression reference", [*SELECTION, *RUNNING]),
    "validate": (
        lambda args: _print(pl.validate(results_dir(args.results))),
        "check every experiment, profile and paper_tables file",
        [RESULTS],
    ),
    "report": (
        cmd_report,
        "regenerate every table, claim, figure and REPORT.md of a profile from its run records "
        "(runs nothing)",
        [
            RESULTS,
            PROFILE,
            _arg(
                "--out", default=None, help="write into this folder instead of results/<profile>/"
            ),
        ],
    ),
    "claims": (
        cmd_claims,
        "every claim's verdict, one column per profile",
        [
            RESULTS,
            _arg("--profiles", nargs="+", default=["quick", "small"]),
            _arg("--readme", action="store_true", help="write it into README.md's table"),
        ],
    ),
    "records": (
        cmd_records,
        "what a profile's run records cover: per experiment recorded and missing runs, and "
        "records no plan claims",
        [
            RESULTS,
            PROFILE,
            _arg(
                "--timing",
                action="store_true",
                help="instead: the cost model's estimate of each recorded run against its wall "
                "time",
            ),
            _arg(
                "--estimate",
                action="store_true",
                help="with --timing: the calibrated estimate of --dry-run --estimate (timed "
                "training steps on this machine) instead of the profile's cost model",
            ),
            _arg(
                "--since",
                default="",
                help="with --timing: only runs started at this ISO time or later, e.g. "
                "2026-12-07T01:20",
            ),
        ],
    ),
    "list": (lambda args: _print(pl.listing()), "list experiments and profiles", [RESULTS]),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m bench`` argument parser."""
    p = OneLineParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, (fn, hlp, arguments) in COMMANDS.items():
        sp = sub.add_parser(name, help=hlp)
        for flags, kwargs in arguments:
            sp.add_argument(*flags, **kwargs)
        sp.set_defaults(fn=fn)
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
