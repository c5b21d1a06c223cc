"""Event formats: AEDAT 2.0 / 3.1 decoding, event and frame .npz files, integration, resizing, the
atomic cache directories."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from tssd.data import aedat, cache
from tssd.data import events as E
from tssd.data.events import DatasetCorrupt

pytestmark = pytest.mark.unit


def assert_corrupt(path: Path, data: bytes, read: Callable[[Path], object], pattern: str) -> None:
    """``path`` holding ``data`` makes ``read(path)`` raise DatasetCorrupt matching ``pattern``."""
    path.write_bytes(data)
    with pytest.raises(DatasetCorrupt, match=pattern):
        read(path)


# ---- AEDAT 2.0 (CIFAR10-DVS) -------------------------------------------------------------------


def test_aedat2_hand_packed_bytes_decode_exactly(tmp_path):
    # Three events packed by hand (big-endian address, timestamp), independent of our writer.
    # address = y << 8 | x << 1 | p
    raw = [(5, 7, 1, 100), (127, 0, 0, 250), (0, 127, 1, 4_000_000_000)]  # x, y, p, t
    body = b"".join(struct.pack(">II", (y << 8) | (x << 1) | p, t) for x, y, p, t in raw)
    # An external event (bit 15) must be dropped.
    body += struct.pack(">II", 0x8000 | (3 << 8) | (3 << 1), 300)
    path = tmp_path / "cifar10_cat_0.aedat"
    path.write_bytes(b"#!AER-DAT2.0\r\n# This is a raw AE data file\r\n# created today\r\n" + body)
    e = aedat.read_cifar10_dvs(path)
    # spikingjelly's orientation: x = 127 - y_raw, y = 127 - x_raw, p = 1 - p_raw.
    assert e["x"].tolist() == [120, 127, 0]
    assert e["y"].tolist() == [122, 0, 127]
    assert e["p"].tolist() == [0, 1, 0]
    assert e["t"].tolist() == [100, 250, 4_000_000_000]  # unsigned 32-bit, as spikingjelly reads
    assert e["t"].dtype == np.int64


def test_aedat2_writer_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    n = 500
    t = np.sort(rng.integers(0, 10**6, n))
    x, y, p = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
    path = tmp_path / "a.aedat"
    aedat.write_aedat2_dvs128(path, t, x, y, p, header=("# AEChip: DVS128",))
    e = aedat.read_cifar10_dvs(path)
    np.testing.assert_array_equal(e["t"], t)
    np.testing.assert_array_equal(e["x"], 127 - y)
    np.testing.assert_array_equal(e["y"], 127 - x)
    np.testing.assert_array_equal(e["p"], 1 - p)


def test_aedat2_truncated_and_wrong_version_name_the_file(tmp_path):
    good = tmp_path / "good.aedat"
    aedat.write_aedat2_dvs128(good, [1, 2], [0, 1], [0, 1], [0, 1])
    read = aedat.read_cifar10_dvs
    cut = good.read_bytes()[:-3]
    assert_corrupt(tmp_path / "cut.aedat", cut, read, r"cut\.aedat.*not a multiple of 8")
    v3 = b"#!AER-DAT3.1\r\n#!END-HEADER\r\n"
    assert_corrupt(tmp_path / "v3.aedat", v3, read, r"v3\.aedat.*expected an AEDAT 2\.0")
    bare = tmp_path / "bare.aedat"  # no header at all: read as 2.0
    bare.write_bytes(struct.pack(">II", (1 << 8) | (2 << 1) | 1, 42))
    assert aedat.read_cifar10_dvs(bare)["t"].tolist() == [42]
    assert_corrupt(tmp_path / "hdr.aedat", b"#!AER-DAT2.0", read, r"hdr\.aedat.*not terminated")


# ---- AEDAT 3.1 (DVS128 Gesture) ----------------------------------------------------------------


def _header31() -> bytes:
    return b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"


def test_aedat31_hand_packed_packets_decode_exactly(tmp_path):
    def packet(etype, overflow, events, size=8):
        head = struct.pack(
            "<hhiiiiii", etype, 1, size, 4, overflow, len(events), len(events), len(events)
        )
        return head + b"".join(events)

    def pol(x, y, p, ts, valid=1):
        return struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | valid, ts)

    special = packet(0, 0, [struct.pack("<Ii", 0xABCD, 5)])  # a special event packet: skipped
    first = packet(1, 0, [pol(10, 20, 1, 1000), pol(127, 0, 0, 1001), pol(3, 3, 1, 1002, valid=0)])
    second = packet(1, 2, [pol(0, 127, 1, 7)])  # overflow 2: t = 2 << 31 | 7
    path = tmp_path / "user01_fluorescent.aedat"
    path.write_bytes(_header31() + special + first + second)
    e = aedat.read_aedat31_polarity(path)
    assert e["x"].tolist() == [10, 127, 0]
    assert e["y"].tolist() == [20, 0, 127]
    assert e["p"].tolist() == [1, 0, 1]
    assert e["t"].tolist() == [1000, 1001, (2 << 31) | 7]


def test_aedat31_writer_roundtrip_across_overflow(tmp_path):
    rng = np.random.default_rng(1)
    n = 3000
    t = np.sort(rng.integers(2**31 - 5000, 2**31 + 5000, n))  # straddles one overflow
    x, y, p = rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n)
    path = tmp_path / "w.aedat"
    aedat.write_aedat31(path, t, x, y, p, packet_events=700)
    e = aedat.read_aedat31_polarity(path)
    for key, ref in (("t", t), ("x", x), ("y", y), ("p", p)):
        np.testing.assert_array_equal(e[key], ref)


def test_aedat31_corruption_names_file_and_offset(tmp_path):
    good = tmp_path / "good.aedat"
    aedat.write_aedat31(good, np.arange(10), np.zeros(10, int), np.zeros(10, int), np.ones(10, int))
    data = good.read_bytes()
    body_start = len(_header31()) + len(b"#Start-Time: 2017-01-01 00:00:00 (TZ+0000)\r\n")
    for name, blob, pattern in (
        ("cut_body", data[:-4], r"cut_body\.aedat: packet at byte \d+ declares 10"),
        (
            "cut_head",
            data + data[body_start : body_start + 10],
            r"cut_head\.aedat: truncated packet header",
        ),
        ("no_end", b"#!AER-DAT3.1\r\n#Format: RAW\r\n", r"no_end\.aedat.*END-HEADER"),
        (
            "bad_size",
            _header31() + struct.pack("<hhiiiiii", 1, 1, 12, 4, 0, 1, 1, 1) + bytes(12),
            r"bad_size\.aedat.*eventSize 12, expected 8",
        ),
    ):
        assert_corrupt(tmp_path / f"{name}.aedat", blob, aedat.read_aedat31_polarity, pattern)


# ---- npz files --------------------------------------------------------------------------------


def test_event_and_frame_npz_roundtrip_and_corruption(tmp_path):
    t, x, y, p = np.array([5, 9]), np.array([1, 2]), np.array([3, 4]), np.array([0, 1])
    E.save_events(tmp_path / "e.npz", t, x, y, p)
    e = E.load_events(tmp_path / "e.npz")
    assert [e[k].tolist() for k in E.EVENT_KEYS] == [[5, 9], [1, 2], [3, 4], [0, 1]]
    frames = np.zeros((3, 2, 4, 4), np.float32)
    frames[1, 1, 2, 3] = 300.0  # needs uint16
    E.save_frames(tmp_path / "f.npz", frames)
    with np.load(tmp_path / "f.npz") as f:
        assert f["frames"].dtype == np.uint16
    np.testing.assert_array_equal(E.load_frames(tmp_path / "f.npz"), frames)
    blob = (tmp_path / "e.npz").read_bytes()
    assert_corrupt(tmp_path / "cut.npz", blob[: len(blob) // 2], E.load_events, r"cut\.npz")
    np.savez(tmp_path / "nokey.npz", t=t, x=x, y=y)
    with pytest.raises(DatasetCorrupt, match=r"nokey\.npz.*lacks key.*'p'"):
        E.load_events(tmp_path / "nokey.npz")
    np.savez(tmp_path / "ragged.npz", t=t, x=x, y=y, p=np.array([1]))
    with pytest.raises(DatasetCorrupt, match=r"ragged\.npz.*one length"):
        E.load_events(tmp_path / "ragged.npz")
    np.savez(tmp_path / "flat.npz", frames=np.zeros((3, 4, 4)))
    with pytest.raises(DatasetCorrupt, match=r"flat\.npz.*\[T, 2, H, W\]"):
        E.load_frames(tmp_path / "flat.npz")


# ---- integration ------------------------------------------------------------------------------


def _reference_frames(ev, frames, h, w, split_by):
    """The spikingjelly rules written as plain loops (segment bounds, then one event at a time)."""
    t = ev["t"]
    n = len(t)
    if split_by == "number":
        per = n // frames
        bounds = [(i * per, (i + 1) * per) for i in range(frames)]
        bounds[-1] = (bounds[-1][0], n)
    else:
        dt = (t[-1] - t[0]) // frames
        bounds = []
        for i in range(frames):
            lo, hi = t[0] + i * dt, t[0] + (i + 1) * dt
            idx = [k for k in range(n) if lo <= t[k] < hi]
            bounds.append((idx[0], idx[-1] + 1) if idx else (0, 0))
        bounds[-1] = (bounds[-1][0], n)
    out = np.zeros((frames, 2, h, w), np.float32)
    for f, (a, b) in enumerate(bounds):
        for k in range(a, b):
            out[f, int(ev["p"][k] != 0), ev["y"][k], ev["x"][k]] += 1
    return out


@pytest.mark.parametrize("split_by", ["number", "time"])
@pytest.mark.parametrize("n", [1000, 7])
def test_integrate_matches_reference_loops(split_by, n):
    rng = np.random.default_rng(n)
    ev = {
        "t": np.sort(rng.integers(0, 50_000, n)),
        "x": rng.integers(0, 6, n),
        "y": rng.integers(0, 5, n),
        "p": rng.integers(0, 2, n),
    }
    got = E.integrate(ev, 4, 5, 6, split_by)
    np.testing.assert_array_equal(got, _reference_frames(ev, 4, 5, 6, split_by))
    assert got.sum() == n  # every event lands in exactly one frame


def test_integrate_small_streams_and_bad_input():
    ev = {
        "t": np.array([1, 2, 3]),
        "x": np.array([0, 1, 1]),
        "y": np.array([0, 0, 1]),
        "p": np.array([1, 0, 1]),
    }
    f = E.integrate(ev, 5, 2, 2)  # fewer events than frames: all in the last frame
    assert f[:4].sum() == 0 and f[4].sum() == 3
    assert f[4, 1, 0, 0] == 1 and f[4, 0, 0, 1] == 1 and f[4, 1, 1, 1] == 1
    assert E.integrate({k: np.zeros(0, int) for k in E.EVENT_KEYS}, 3, 2, 2).sum() == 0
    with pytest.raises(ValueError, match="do not fit a 2x2 sensor"):
        E.integrate({**ev, "x": np.array([0, 1, 2])}, 2, 2, 2)
    with pytest.raises(ValueError, match="non-decreasing"):
        E.integrate({**ev, "t": np.array([3, 2, 1])}, 2, 2, 2, "time")
    with pytest.raises(ValueError, match="split_by must be one of"):
        E.integrate(ev, 2, 2, 2, "space")


def test_resize_frames_shapes_and_values():
    x = torch.ones(10, 2, 128, 128) * 3.0
    for mode in E.RESIZE_MODES:
        y = E.resize_frames(x, 48, mode)
        assert y.shape == (10, 2, 48, 48)
        # A constant image stays constant; 1e-5 covers float32 rounding of the filter weights.
        torch.testing.assert_close(y, torch.full_like(y, 3.0), rtol=1e-5, atol=1e-5)
    counts = torch.arange(16.0).reshape(1, 1, 4, 4)
    # area 4 -> 2 averages 2x2 blocks exactly (the total count shrinks by the block size 4).
    assert E.resize_frames(counts, 2, "area").sum() == counts.sum() / 4
    assert E.resize_frames(x, 128) is x
    with pytest.raises(ValueError, match="resize mode"):
        E.resize_frames(x, 48, "cubic")


# ---- atomic cache directories -----------------------------------------------------------------


def test_building_is_atomic_and_interruptions_leave_nothing_complete(tmp_path):
    final = tmp_path / "events_np"
    with pytest.raises(RuntimeError, match="killed"), cache.building(final, {"k": 1}) as tmp:
        (tmp / "a.npz").write_bytes(b"x")
        raise RuntimeError("killed half-way")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    with cache.building(final, {"k": 1}) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.npz").write_bytes(b"x")
        assert not final.exists()  # invisible until the block ends
    assert cache.is_complete(final)
    assert cache.read_marker(final) == {"k": 1, "files": 1}


def test_stale_build_of_a_dead_process_is_removed_and_foreign_partial_refused(tmp_path):
    import socket

    final = tmp_path / "frames_number_4_split_by_number"
    stale = tmp_path / f".{final.name}.building-{socket.gethostname()}-999999999-abc"
    stale.mkdir()
    (stale / "half.npz").write_bytes(b"x")
    assert not cache.is_complete(stale)
    assert cache.clean_stale(final) == [stale] and not stale.exists()
    final.mkdir()  # e.g. left by a tool without markers
    with pytest.raises(FileExistsError, match="no completion marker"), cache.building(final, {}):
        pass


def test_param_key_and_list_hash_are_stable_and_sensitive():
    assert cache.param_key({"a": 1, "b": 2}) == cache.param_key({"b": 2, "a": 1})
    assert cache.param_key({"a": 1}) != cache.param_key({"a": 2})
    assert cache.list_hash(["x", "y"], ["z"]) != cache.list_hash(["x"], ["y", "z"])
    assert len(cache.list_hash(["x"], [])) == 12


def test_default_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "c"))
    assert cache.cache_root("") == tmp_path / "c"
    assert cache.cache_root(str(tmp_path / "root")) == tmp_path / "root"
    monkeypatch.delenv(cache.CACHE_ENV)
    assert cache.default_cache_dir().parts[-2:] == (".cache", "tssd")
