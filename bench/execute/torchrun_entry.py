"""What each torchrun rank runs: the job file the ``torchrun`` launcher wrote."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.execute.worker import RunJob, train_job


def main(argv: list[str] | None = None) -> int:
    """Run the job file's run in its run directory; exit 0 when it finished."""
    from tssd.api import RunFailed

    (path,) = argv if argv is not None else sys.argv[1:]
    try:
        summary = train_job(RunJob.from_json(Path(path).read_text()))
    except RunFailed:
        return 3
    return 0 if summary["status"] == "finished" else 3


if __name__ == "__main__":
    sys.exit(main())
