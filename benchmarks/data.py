"""Data pipeline timings (a script, not a test: this machine is shared and noisy).

    python benchmarks/data.py [--repeat 30] [--threads 1] [--json]

Measures, as the median of ``--repeat`` runs:

* ``integrate_resize``: a 200,000-event stream integrated into T=10 frames at 128x128 (split by
  number) and resized to 48x48 (target < 50 ms);
* ``load_cached_sample``: one cached frame sample read back as the CIFAR10-DVS/DVS-Gesture loader
  does (compressed ``.npz``, T=10 at 128x128, resized to 48x48; target < 5 ms), and the same file
  stored uncompressed for comparison;
* ``digits_dvs_build`` / ``digits_dvs_cached``: the quick profile's event stand-in, generated and
  cached from scratch (1,797 streams, frames for T=4 and T=8), then loaded from its cache.

``--threads`` sets torch's intra-op threads (DataLoader workers run with 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tssd.config import DataConfig  # noqa: E402
from tssd.data import build_dataset  # noqa: E402
from tssd.data import events as E  # noqa: E402
from tssd.data.event_folder import EventFramesDataset  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    """Median wall time of ``fn()`` in milliseconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def stream(n: int = 200_000, seed: int = 0) -> dict[str, np.ndarray]:
    """A sorted synthetic DVS128 stream (uniform pixels and polarities, ~1.3 s long)."""
    rng = np.random.default_rng(seed)
    return {
        "t": np.sort(rng.integers(0, 1_300_000, n)),
        "x": rng.integers(0, 128, n).astype(np.uint16),
        "y": rng.integers(0, 128, n).astype(np.uint16),
        "p": rng.integers(0, 2, n).astype(np.uint8),
    }


def main() -> int:
    """Run the benchmarks and print the results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    res: dict[str, float] = {}
    ev = stream()

    def integrate_resize():
        E.resize_frames(torch.from_numpy(E.integrate(ev, 10, 128, 128)), 48)

    res["integrate_resize_ms"] = median_ms(integrate_resize, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        frames = E.integrate(ev, 10, 128, 128)
        for name, compress in (("frames_number_10_split_by_number", True), ("raw", False)):
            (tmp / name / "c").mkdir(parents=True)
            E.save_frames(tmp / name / "c" / "s.npz", frames, compress=compress)
        ds = EventFramesDataset(
            {10: tmp / "frames_number_10_split_by_number"}, [("c/s.npz", 0)], 48, "bilinear"
        )
        raw = EventFramesDataset({10: tmp / "raw"}, [("c/s.npz", 0)], 48, "bilinear")
        res["load_cached_sample_ms"] = median_ms(lambda: ds[0], args.repeat)
        res["load_cached_sample_uncompressed_ms"] = median_ms(lambda: raw[0], args.repeat)
        res["cached_sample_kb"] = (
            tmp / "frames_number_10_split_by_number" / "c" / "s.npz"
        ).stat().st_size / 1024
        cfg = DataConfig(name="digits_dvs", root=str(tmp / "digits"))
        t0 = time.perf_counter()
        build_dataset(cfg, (4, 8))
        res["digits_dvs_build_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_dataset(cfg, (4, 8))
        res["digits_dvs_cached_s"] = time.perf_counter() - t0
    res["threads"] = args.threads
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for k, v in res.items():
            print(f"{k:40s} {v:10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
