"""What each torchrun rank executes for the ``torchrun`` launcher: one run, data-parallel.

``python -m torch.distributed.run --standalone --nproc_per_node N -m bench.execute.torchrun_entry
JOB.json`` (the launcher writes the run job as JOB.json into the run directory and holds the run's
lock meanwhile); each rank trains it through :func:`bench.execute.worker.train_job`.
"""

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
