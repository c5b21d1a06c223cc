"""The data pipeline (what benchmarks/data.py measured), with one torch thread.

* ``integrate+resize``: a synthetic 200,000-event DVS128 stream integrated into T = 10 frames at
  128x128 (split by number) and resized to 48x48 (issue 4: under 50 ms);
* ``load cached sample``: one cached frame sample read back as the CIFAR10-DVS / DVS-Gesture loader
  does (compressed ``.npz``, T = 10 at 128x128, resized to 48x48; issue 4: under 5 ms), and the
  same file stored uncompressed;
* ``digits_dvs build`` / ``digits_dvs cached``: the quick profile's event stand-in (1,797 streams,
  frames for T = 4 and 8) generated and cached from scratch (one round, a fresh directory), then
  loaded from its cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tssd.config import DataConfig
from tssd.data import build_dataset
from tssd.data import events as E
from tssd.data.event_folder import EventFramesDataset

CACHED = "frames_number_10_split_by_number"


@pytest.fixture(autouse=True)
def one_thread():
    """Data loading runs in DataLoader workers with one thread each: measure it that way."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def stream() -> dict[str, np.ndarray]:
    """A sorted synthetic DVS128 stream (uniform pixels and polarities, ~1.3 s long)."""
    rng = np.random.default_rng(0)
    n = 200_000
    return {
        "t": np.sort(rng.integers(0, 1_300_000, n)),
        "x": rng.integers(0, 128, n).astype(np.uint16),
        "y": rng.integers(0, 128, n).astype(np.uint16),
        "p": rng.integers(0, 2, n).astype(np.uint8),
    }


@pytest.fixture(scope="module")
def frame_files(stream, tmp_path_factory) -> Path:
    """The stream's 10 frames cached compressed (spikingjelly's layout) and uncompressed."""
    root = tmp_path_factory.mktemp("frames")
    frames = E.integrate(stream, 10, 128, 128)
    for name, compress in ((CACHED, True), ("raw", False)):
        (root / name / "c").mkdir(parents=True)
        E.save_frames(root / name / "c" / "s.npz", frames, compress=compress)
    return root


def test_integrate_and_resize(measure, stream):
    """200k events -> [10, 2, 128, 128] counts -> [10, 2, 48, 48]."""

    def run():
        E.resize_frames(torch.from_numpy(E.integrate(stream, 10, 128, 128)), 48)

    measure("data", "integrate+resize", run, kind="data", memory=False)


@pytest.mark.parametrize("layout", ["compressed", "uncompressed"])
def test_load_cached_sample(measure, frame_files, layout):
    """One sample of the frame cache, read and resized as the event-folder loader does."""
    folder = CACHED if layout == "compressed" else "raw"
    ds = EventFramesDataset({10: frame_files / folder}, [("c/s.npz", 0)], 48, "bilinear")
    name = "load cached sample" + ("" if layout == "compressed" else " (uncompressed)")
    kib = (frame_files / folder / "c" / "s.npz").stat().st_size / 1024
    note = f"a cached sample (T=10, 128x128), {layout}: {kib:.0f} KiB"
    measure("data", name, lambda: ds[0], kind="data", memory=False, note=note)


def test_digits_dvs(measure, tmp_path):
    """The event stand-in built from scratch (one round), then loaded from its cache."""
    rounds = iter(range(1000))

    def fresh():
        return (DataConfig(name="digits_dvs", root=str(tmp_path / f"build{next(rounds)}")),), {}

    measure(
        "data",
        "digits_dvs build",
        lambda cfg: build_dataset(cfg, (4, 8)),
        kind="data",
        setup=fresh,
        rounds=1,
        warmup=0,
        memory=False,
    )


def test_digits_dvs_cached(measure, settings, tmp_path):
    """Loading the stand-in once its cache exists (the first, warm-up call builds it)."""
    cfg = DataConfig(name="digits_dvs", root=str(tmp_path / "cache"))
    measure(
        "data",
        "digits_dvs cached",
        lambda: build_dataset(cfg, (4, 8)),
        kind="data",
        rounds=min(5, settings.rounds("data")),
        memory=False,
    )
