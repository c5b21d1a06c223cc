"""The DVS emulator and the digits_dvs dataset built from it (cache, split, options)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tssd.config import ConfigError, DataConfig
from tssd.data import build_dataset, cache, digits_dvs
from tssd.data import events as E
from tssd.data.digits import digits_arrays, split_hash
from tssd.data.emulator import EmulatorParams, emulate, saccade_offsets, threshold_crossings

pytestmark = pytest.mark.unit


# ---- the emulator -----------------------------------------------------------------------------


def test_threshold_crossings_count_levels_and_interpolate_times():
    thr = np.full((1, 2), 0.2)
    prev = np.array([[[0.0, 0.0]]])
    ref = prev.copy()
    # Pixel 0 rises by 0.45: levels 0.2 and 0.4 are crossed at 0.2/0.45 and 0.4/0.45 of the step.
    # Pixel 1 falls by 0.1: no level crossed.
    s, t, x, y, on = threshold_crossings(prev, np.array([[[0.45, -0.1]]]), ref, thr, 0, 900)
    assert s.tolist() == [0, 0] and x.tolist() == [0, 0] and y.tolist() == [0, 0]
    assert on.tolist() == [True, True] and t.tolist() == [400, 800]
    np.testing.assert_allclose(ref, [[[0.4, 0.0]]])  # float64 sums of thresholds
    # Back down to -0.05: levels 0.2, 0.0 are crossed (ref 0.4 -> 0.0), at (0.45-0.2)/0.5 and
    # 0.45/0.5 of the next step.
    s, t, x, y, on = threshold_crossings(
        np.array([[[0.45, -0.1]]]), np.array([[[-0.05, -0.1]]]), ref, thr, 900, 1900
    )
    assert on.tolist() == [False, False] and t.tolist() == [900 + 500, 900 + 900]
    np.testing.assert_allclose(ref, [[[0.0, 0.0]]], atol=1e-12)


def test_static_or_blank_scenes_make_no_events():
    img = np.zeros((2, 8, 8))
    img[1, 2:6, 2:6] = 1.0
    no_motion = emulate(img, EmulatorParams(saccade_px=0.0))
    assert [len(e["t"]) for e in no_motion] == [0, 0]
    moving = emulate(img, EmulatorParams())
    assert len(moving[0]["t"]) == 0 and len(moving[1]["t"]) > 0


def test_streams_are_well_formed_and_balanced_on_a_closed_path():
    images, *_ = digits_arrays()
    p = EmulatorParams()
    streams = emulate(images[:20], p)
    for e in streams:
        assert np.all(np.diff(e["t"]) >= 0)
        assert e["t"].min() >= 0 and e["t"].max() <= p.duration_us
        assert e["x"].max() < p.sensor and e["y"].max() < p.sensor
        assert set(np.unique(e["p"]).tolist()) <= {0, 1}
        # Three saccades close the triangle, so each pixel ends at its starting intensity: its
        # reference level is back within one threshold, hence ON count == OFF count exactly.
        on = np.zeros((p.sensor, p.sensor), int)
        off = np.zeros((p.sensor, p.sensor), int)
        np.add.at(on, (e["y"][e["p"] == 1], e["x"][e["p"] == 1]), 1)
        np.add.at(off, (e["y"][e["p"] == 0], e["x"][e["p"] == 0]), 1)
        np.testing.assert_array_equal(on, off)
    times, offsets = saccade_offsets(p)
    assert times[0] == 0 and times[-1] == p.duration_us
    np.testing.assert_array_equal(offsets[0], offsets[-1])


def test_noise_and_mismatch_are_seeded_and_off_by_default():
    blank = np.zeros((1, 8, 8))
    p = EmulatorParams(noise_rate_hz=100.0, seed=3)
    a, b = emulate(blank, p)[0], emulate(blank, p)[0]
    for k in E.EVENT_KEYS:
        np.testing.assert_array_equal(a[k], b[k])
    # Poisson mean = rate * duration * pixels; 5 standard deviations cannot fail by chance in
    # practice (p ~ 6e-7) while catching a wrong rate or duration unit.
    mean = 100.0 * p.duration_us * 1e-6 * p.sensor**2
    assert abs(len(a["t"]) - mean) < 5 * np.sqrt(mean)
    other = emulate(blank, EmulatorParams(noise_rate_hz=100.0, seed=4))[0]
    assert not np.array_equal(a["t"], other["t"])
    images, *_ = digits_arrays()
    ideal = emulate(images[:5])
    mism = emulate(images[:5], EmulatorParams(threshold_sigma=0.05))
    assert [len(e["t"]) for e in ideal] != [len(e["t"]) for e in mism]


def test_emulator_rejects_bad_input():
    with pytest.raises(ValueError, match="digit_px"):
        emulate(np.zeros((1, 8, 8)), EmulatorParams(sensor=8, digit_px=9))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        emulate(np.full((1, 8, 8), 2.0))
    with pytest.raises(ValueError, match=r"\[N, h, w\]"):
        emulate(np.zeros((8, 8)))


# ---- the dataset ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dvs_root(tmp_path_factory):
    """One generated cache shared by the tests of this module (built once, ~3 s)."""
    root = tmp_path_factory.mktemp("dvs_root")
    build_dataset(DataConfig(name="digits_dvs", root=str(root)), (2, 4))
    return root


def test_digits_dvs_bundle_shapes_split_and_info(dvs_root):
    b = build_dataset(DataConfig(name="digits_dvs", root=str(dvs_root)), (2, 4))
    _, labels, tr, te = digits_arrays()
    info = b.info
    assert (info.kind, info.num_classes, info.in_channels, info.input_size) == ("event", 10, 2, 16)
    assert info.split_hash == split_hash(tr, te)
    assert info.stand_in_for == ["cifar10_dvs", "dvs_gesture"]
    assert len(b.train) == len(tr) == 1437 and len(b.test) == len(te) == 360
    assert b.train.labels.tolist() == labels[tr].tolist()
    x, y = b.test.take(torch.arange(3))
    assert x[2].shape == (3, 2, 2, 16, 16) and x[4].shape == (3, 4, 2, 16, 16)
    # Both framings integrate the same stream: equal totals per sample.
    torch.testing.assert_close(x[2].sum((1, 2, 3, 4)), x[4].sum((1, 2, 3, 4)), rtol=0, atol=0)


def test_digits_dvs_cache_layout_and_reuse(dvs_root, monkeypatch):
    base = digits_dvs.cache_dir(str(dvs_root), EmulatorParams())
    assert base.parent == dvs_root / "digits_dvs"
    for sub in ("events_np", "frames_number_2_split_by_number", "frames_number_4_split_by_number"):
        assert cache.is_complete(base / sub), sub
    _, labels, tr, _ = digits_arrays()
    i = int(tr[0])
    rel = f"train/{labels[i]}/digit_{i:04d}.npz"
    e = E.load_events(base / "events_np" / rel)
    np.testing.assert_array_equal(
        E.load_frames(base / "frames_number_4_split_by_number" / rel), E.integrate(e, 4, 16, 16)
    )

    def no_generation(*a, **k):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(digits_dvs, "emulate", no_generation)
    b = build_dataset(DataConfig(name="digits_dvs", root=str(dvs_root)), (4,))
    assert len(b.train) == 1437
    # A new framing is integrated from the cached events, not re-emulated.
    build_dataset(DataConfig(name="digits_dvs", root=str(dvs_root)), (3,))
    assert cache.is_complete(base / "frames_number_3_split_by_number")


def test_digits_dvs_parameters_key_the_cache_and_env_default(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "env_cache"))
    small = {"sensor": 8, "digit_px": 6, "saccade_px": 1.0}
    b = build_dataset(DataConfig(name="digits_dvs", options=small, size=12), (2,))
    assert b.info.input_size == 12 and b.train.inputs[2].shape[-2:] == (12, 12)
    assert b.info.extra["emulator"]["sensor"] == 8
    other = digits_dvs.cache_dir("", EmulatorParams(**{**small, "threshold": 0.3}))
    assert other != digits_dvs.cache_dir("", EmulatorParams(**small))
    assert digits_dvs.cache_dir("", EmulatorParams(**small)).is_relative_to(tmp_path / "env_cache")


def test_digits_dvs_augment_shifts_all_framings_alike(dvs_root):
    b = build_dataset(DataConfig(name="digits_dvs", root=str(dvs_root), augment=True), (2, 4))
    plain = build_dataset(DataConfig(name="digits_dvs", root=str(dvs_root)), (2, 4))
    idx = torch.arange(64)
    torch.manual_seed(0)
    x, _ = b.train.take(idx)
    torch.testing.assert_close(x[2].sum(1), x[4].sum(1), rtol=0, atol=0)
    assert not torch.equal(x[2], plain.train.take(idx)[0][2])
    assert b.info.extra["augment"] == "random shift +-1px"


def test_digits_dvs_option_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"data\.options\.treshold.*allowed:.*threshold"):
        build_dataset(DataConfig(name="digits_dvs", options={"treshold": 0.1}), (2,))
    with pytest.raises(ConfigError, match=r"threshold=-1\.0: expected > 0"):
        build_dataset(DataConfig(name="digits_dvs", options={"threshold": -1.0}), (2,))
    with pytest.raises(ConfigError, match=r"data\.options\.sensor.*expected a int"):
        build_dataset(DataConfig(name="digits_dvs", options={"sensor": "big"}), (2,))
    with pytest.raises(ConfigError, match=r"data\.options\.split_by.*number, time"):
        build_dataset(DataConfig(name="digits_dvs", options={"split_by": "count"}), (2,))


@pytest.mark.slow
def test_micro_cnn_learns_digits_dvs(tmp_path, monkeypatch):
    """The emulated digits are learnable: chance is 10 %; the measured 10-epoch accuracy is ~98 %
    (see the issue 4 report), so 80 % leaves room for seed and platform variation while still
    failing if the streams stopped carrying the digit's shape."""
    from tssd.config import load_config
    from tssd.train import train

    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    cfg = load_config(
        None,
        [
            "data.name=digits_dvs",
            "method.name=baseline",
            "method.t_s=4",
            "optim.epochs=10",
            "optim.schedule=cosine",
            "runtime.progress=false",
        ],
    )
    s = train(cfg, tmp_path / "run")
    assert s["status"] == "finished" and s["test_acc"] > 0.80
