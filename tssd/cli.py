"""Command line: ``python -m tssd train CONFIG.yaml [--set key=value ...] [--out DIR]``,
``python -m tssd evaluate RUN_DIR... [--timesteps 2,4]`` etc.

Exit status: 0 fine, 2 bad input (a config key, a data file, a path: one line on stderr naming
it), 3 a run that failed (one line naming the run directory or file), 1 ``data check`` found a
dataset incomplete or invalid.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import typing
from pathlib import Path

from tssd.config import ConfigError, dump_yaml, load_config, parse_timesteps


class OneLineParser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (exit 2), as every other bad input."""

    def error(self, message: str) -> typing.NoReturn:  # noqa: D102
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def _silent(*_args, **_kwargs) -> None:
    pass


def one_line(exc: BaseException) -> str:
    """An error message as one line: a DataLoader worker's re-raised error becomes the original
    message (its last line, without the exception's qualified name); other line breaks (e.g. in a
    YAML parser's message) become '; '."""
    text = str(exc).strip()
    if "Original Traceback" in text:
        last = [ln for ln in text.splitlines() if ln.strip()][-1].strip()
        text = re.sub(r"^[\w.]+(Error|Corrupt|Unavailable|Exception): ", "", last)
    return "; ".join(ln.strip() for ln in text.splitlines() if ln.strip())


def _cmd_train(args: argparse.Namespace) -> int:
    from tssd.methods import METHODS
    from tssd.train import RunFailed, train

    cfg = load_config(args.config, args.set)
    out = Path(args.out) if args.out else Path("runs") / f"{cfg.name}-{cfg.hash()}"
    # Under torchrun every rank runs this; only rank 0 speaks.
    say = print if int(os.environ.get("RANK", "0")) == 0 else _silent
    say(
        f"run {cfg.name} ({cfg.hash()}): {cfg.method.name} on {cfg.data.name} with "
        f"{cfg.model.name}/{cfg.neuron.backend}, T_s={cfg.method.t_s}"
        + (f", T_t={cfg.method.t_t}" if METHODS[cfg.method.name].uses_teacher_steps else "")
        + f" -> {out}",
        flush=True,
    )
    try:
        s = train(cfg, out, force=args.force, progress=not args.quiet)
    except RunFailed as exc:
        say(f"run failed: {one_line(exc)}", file=sys.stderr)
        return 3
    if s["status"] != "finished":
        say(f"run {out} is {s['status']}: {one_line(s.get('error', ''))}", file=sys.stderr)
        return 3
    say(
        f"final test accuracy {100 * s['test_acc']:.2f}% at T_s={s['t_s']} after {s['epochs']} "
        f"epochs ({s['wall_s']:.1f}s); params {s['params']}, MACs/sample {s['macs_per_sample']}; "
        f"summary: {out / 'summary.json'}"
    )
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.set)
    sys.stdout.write(dump_yaml(cfg))
    print(f"# config hash: {cfg.hash()}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    import shutil

    from tssd.export import load_inference

    src = Path(args.run_dir) / "inference.pt"
    if not src.is_file():
        print(f"{src}: not found (the run has not finished)", file=sys.stderr)
        return 2
    try:
        model = load_inference(src)  # proves it loads without the config
    except ValueError as exc:
        print(f"export: {one_line(exc)}", file=sys.stderr)
        return 2
    from tssd.evaluate import check_inference_hash, verified

    check_inference_hash(Path(args.run_dir), model, verified(Path(args.run_dir)).config_hash)
    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a directory; expected the path of the file to write")
    if not out.parent.is_dir():
        raise ConfigError(
            f"--out {out}: folder {out.parent} does not exist; expected an existing one"
        )
    if out.exists() and out.resolve() == src.resolve():
        raise ConfigError(f"--out {out}: is the run's own inference.pt; expected another path")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:  # a copy is complete or absent
        shutil.copyfile(src, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    n = sum(p.numel() for p in model.parameters())
    print(
        json.dumps(
            {"out": args.out, "arch": model.net.arch, "timesteps": model.timesteps, "params": n}
        )
    )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from tssd.evaluate import accuracy_at

    steps = parse_timesteps(args.timesteps)
    if not 0 <= args.threads <= 4096:
        raise ConfigError(f"--threads: got {args.threads}, expected an integer in 0..4096")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    for run_dir in args.run_dirs:
        acc = accuracy_at(run_dir, steps, split=args.split)
        key = "val_acc" if args.split == "val" else "test_acc"
        print(
            json.dumps({"run_dir": run_dir, key: {str(t): round(a, 2) for t, a in acc.items()}}),
            flush=True,
        )
    return 0


def _cmd_metrics(args: argparse.Namespace) -> int:
    from tssd import metrics as nbm

    try:
        nbm.load_neurobench()
    except nbm.NeuroBenchUnavailable as exc:
        print(f"metrics: {one_line(exc)}", file=sys.stderr)
        return 2
    for key in ("samples", "pj_per_ac", "pj_per_mac"):
        value = getattr(args, key)
        if value is not None and value < 0:
            raise ConfigError(f"--{key.replace('_', '-')}: got {value}, expected a number >= 0")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    failed = 0
    for run_dir in args.run_dirs:
        try:
            result = nbm.measure_run(
                run_dir, samples=args.samples, pj_per_ac=args.pj_per_ac, pj_per_mac=args.pj_per_mac
            )
            if not args.no_write:
                nbm.write_to_summary(run_dir, result)
        except nbm.NeuroBenchError as exc:
            print(f"metrics: {one_line(exc)}", file=sys.stderr)
            failed += 1
            continue
        print(
            json.dumps({"run_dir": run_dir, **result})
            if args.json
            else nbm.format_table(run_dir, result),
            flush=True,
        )
    return 3 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m tssd`` argument parser."""
    p = OneLineParser(prog="python -m tssd", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="one training run")
    t.add_argument("config", nargs="?", help="run config YAML (defaults when omitted)")
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set method.alpha=0.5 (repeatable)",
    )
    t.add_argument("--out", help="run directory (default runs/<name>-<hash>)")
    t.add_argument("--force", action="store_true", help="redo a finished or failed run")
    t.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    t.set_defaults(fn=_cmd_train)
    c = sub.add_parser("config", help="print the resolved config and its hash")
    c.add_argument("config", nargs="?")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    c.set_defaults(fn=_cmd_config)
    e = sub.add_parser("export", help="copy a finished run's inference model (and check it loads)")
    e.add_argument("run_dir")
    e.add_argument("--out", required=True)
    e.set_defaults(fn=_cmd_export)
    v = sub.add_parser(
        "evaluate",
        help="test accuracy of finished runs at other timesteps (default: T_s and T_t)",
    )
    v.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    v.add_argument("--timesteps", default="", help="comma-separated T, e.g. 2,4")
    v.add_argument(
        "--split",
        choices=["test", "val"],
        default="test",
        help="test (default) or val: the run's validation split (data.options.val_per_class)",
    )
    v.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    v.set_defaults(fn=_cmd_evaluate)
    m = sub.add_parser(
        "metrics",
        help="NeuroBench metrics and energy of finished runs' deployed networks, into summary.json",
    )
    m.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    m.add_argument(
        "--samples",
        type=int,
        help="measure the first N test images (0: all; default: the run's eval.neurobench_samples)",
    )
    m.add_argument("--pj-per-ac", type=float, help="pJ per accumulate (default: the run's, 0.9)")
    m.add_argument("--pj-per-mac", type=float, help="pJ per MAC (default: the run's, 4.6)")
    m.add_argument("--no-write", action="store_true", help="print only; leave summary.json as is")
    m.add_argument("--json", action="store_true", help="one JSON line per run instead of a table")
    m.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    m.set_defaults(fn=_cmd_metrics)
    from tssd.data.check import add_parser as add_data_parser  # `data check --data-root DIR`

    add_data_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for a bad config or bad data, 3 a failed run)."""
    from tssd.data.errors import DataError
    from tssd.neurons.registry import BackendUnavailable

    args = build_parser().parse_args(argv)
    # Under torchrun every rank fails the same way; only rank 0 speaks.
    say = print if int(os.environ.get("RANK", "0")) == 0 else _silent
    try:
        return args.fn(args)
    except ConfigError as exc:
        say(f"config error: {one_line(exc)}", file=sys.stderr)
        return 2
    except DataError as exc:
        say(f"data error: {one_line(exc)}", file=sys.stderr)
        return 2
    except BackendUnavailable as exc:
        say(f"config error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path that cannot be read or written (a full disk, a read-only one)
        where = f"{exc.filename}: " if exc.filename else ""
        say(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
