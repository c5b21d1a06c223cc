"""What each torchrun rank executes for the ``torchrun`` launcher: one run, data-parallel.

``python -m torch.distributed.run --standalone --nproc_per_node N -m bench.execute.torchrun_entry
JOB.json`` (the launcher writes JOB.json into the run directory and holds the run's lock meanwhile).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Run the job file's config in its run directory; exit 0 when it finished."""
    from tssd.api import RunFailed, from_dict, load_plugins, train

    (path,) = argv if argv is not None else sys.argv[1:]
    job = json.loads(Path(path).read_text())
    load_plugins(job.get("plugins", ()))
    try:
        s = train(
            from_dict(job["config"], path), job["run_dir"], force=job["force"], progress=False
        )
    except RunFailed:
        return 3
    return 0 if s["status"] == "finished" else 3


if __name__ == "__main__":
    sys.exit(main())
