"""``python -m tssd data check --data-root DIR``: is each dataset present, complete and valid?

(``data stats``, registered here too, lives in :mod:`tssd.data.stats`.)

For every dataset the suite knows it prints where it was found (or every place searched), the
sample counts against the official ones (DVS-Gesture: the trial lists against the official 98 /
24 trials), what is broken (naming the file) and, when it is absent, the expected layout and where
to get it; a dataset found in another layout (e.g. CIFAR10-DVS class folders without ``extract/``)
is reported with the move that fixes it. Every file's header and size are checked (truncation
shows without decoding); ``--deep`` decodes every file. The exit status is 0 when every dataset
found is complete and valid (absent ones are fine unless named by ``--require``), 1 otherwise, 2
when ``--data-root`` is not a directory or a name is unknown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tssd.data.base import DATASETS
from tssd.data.status import DatasetStatus
from tssd.plugins import load_plugins


def check_names(names: list[str]) -> None:
    """Refuse a dataset name nobody registered (plugins loaded first).

    Raises:
        ValueError: naming the unknown names and the known ones.
    """
    load_plugins()
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; known: {', '.join(DATASETS)}")


def check_all(root: str, deep: bool = False, names: list[str] | None = None) -> list[DatasetStatus]:
    """The status of every registered dataset (or of ``names``) under ``root``, each from its
    spec's check function (plugins included, :mod:`tssd.plugins`)."""
    check_names(names or [])
    return [
        spec.status(root, deep) for name, spec in DATASETS.items() if not names or name in names
    ]


def format_status(st: DatasetStatus) -> str:
    """Human-readable lines for one dataset."""
    if st.misplaced:
        verdict = "found in another layout"
    elif not st.present:
        verdict = "absent"
    elif st.ok:
        verdict = "OK (present, complete, valid)"
    else:
        verdict = (
            f"present, {'complete' if st.complete else 'INCOMPLETE'}, "
            f"{'valid' if st.valid else 'INVALID'}"
        )
    lines = [f"{st.name:12s} {verdict}", f"  where: {st.where}"]
    if st.counts:
        lines.append("  counts: " + ", ".join(f"{k} {v}" for k, v in st.counts.items()))
    lines += [f"  problem: {p}" for p in st.problems]
    lines += [f"  note: {n}" for n in st.notes]
    if not st.present or not st.ok:
        lines.append(f"  layout: {st.layout}" if st.layout else "")
    return "\n".join(line for line in lines if line)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``data check`` and ``data stats`` on the ``python -m tssd`` sub-command parser."""
    d = sub.add_parser("data", help="dataset tools (data check, data stats)")
    dsub = d.add_subparsers(dest="data_cmd", required=True)
    c = dsub.add_parser("check", help="is each dataset present, complete and valid?")
    c.add_argument("--data-root", required=True, help="the directory holding the datasets")
    c.add_argument(
        "--deep",
        action="store_true",
        help="decode every file (default: check every file's header and size)",
    )
    c.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="check only this dataset (repeatable)",
    )
    c.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="NAME",
        help="fail when this dataset is absent (repeatable)",
    )
    c.add_argument("--json", action="store_true", help="print one JSON document")
    c.set_defaults(fn=main)
    s = dsub.add_parser(
        "stats", help="what a run's input holds at each number of timesteps T (tssd.data.stats)"
    )
    s.add_argument("config", nargs="?", help="run config YAML (defaults when omitted)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument(
        "--timesteps", help="comma-separated T, e.g. 5,7,10 (default: every T the run evaluates at)"
    )
    s.add_argument("--split", choices=["test", "val", "train"], default="test")
    s.add_argument("--limit", type=int, default=0, help="measure the first N samples (0: all)")
    s.add_argument("--json", action="store_true", help="print one JSON document")
    s.set_defaults(fn=_stats)


def _stats(args: argparse.Namespace) -> int:
    from tssd.data.stats import main as stats_main  # loads a run config: imported on use

    return stats_main(args)


def main(args: argparse.Namespace) -> int:
    """Run the check; 0 when everything found is complete and valid, 1 otherwise, 2 on bad use."""
    root = Path(args.data_root).expanduser()
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        print(
            f"data check: --data-root {args.data_root}: {what}, expected the directory "
            "holding the datasets",
            file=sys.stderr,
        )
        return 2
    try:
        check_names(args.require)
        statuses = check_all(args.data_root, args.deep, args.only or None)
    except ValueError as exc:  # an unknown name, in --only or --require alike
        print(f"data check: {exc}", file=sys.stderr)
        return 2
    by_name = {s.name: s for s in statuses}
    missing = [n for n in args.require if n not in by_name or not by_name[n].present]
    if args.json:
        print(
            json.dumps(
                {
                    "data_root": args.data_root,
                    "datasets": [s.as_dict() for s in statuses],
                    "missing_required": missing,
                },
                indent=2,
            )
        )
    else:
        print(f"data root: {args.data_root}")
        for s in statuses:
            print(format_status(s))
        for n in missing:
            print(f"required dataset {n} is absent", file=sys.stderr)
    return 0 if all(s.ok for s in statuses) and not missing else 1
