"""Cost calibration: measured step times, cached, turned into run estimates."""

from __future__ import annotations

import json

import pytest

from tssd.calibrate import calibrate, calibration_key, estimate_seconds
from tssd.config import from_dict

pytestmark = pytest.mark.unit


def test_calibration_is_measured_cached_and_scales_the_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("TSSD_CACHE", str(tmp_path))
    cfg = from_dict(
        {
            "method": {"name": "tssd", "t_s": 2, "t_t": 4},
            "model": {"name": "micro_cnn", "width": 8},
            "data": {"batch_size": 32},
            "optim": {"epochs": 10},
        }
    )
    first = calibrate(cfg, "cpu", steps=2)
    assert first["sec_per_step"] > 0 and first["sec_per_eval_batch"] > 0
    cached = json.loads((tmp_path / "calibration.json").read_text())
    assert list(cached) == [first["key"]]
    # a second call reads the cache instead of measuring again (same numbers, to the bit)
    assert calibrate(cfg, "cpu") == first
    # digits: 1437 train / 360 test samples -> 45 steps and 12 eval batches of 32 per epoch
    cal = {"sec_per_step": 1.0, "sec_per_eval_batch": 0.5}
    # 10 epochs of training; test accuracy after each of them plus the final measurement
    assert estimate_seconds(cfg, cal) == 10 * 45 * 1.0 + 11 * 12 * 0.5
    # every 4 epochs: after epochs 4 and 8, after the last (10), plus the final measurement
    sparse = from_dict({**cfg.to_dict(), "eval": {"every": 4}})
    assert estimate_seconds(sparse, cal) == 10 * 45 * 1.0 + 4 * 12 * 0.5
    # a class-balanced training subset is counted as such: 10 x 20 images = 7 steps of 32
    sub = from_dict(
        {
            **cfg.to_dict(),
            "data": {"name": "fashion_mnist", "batch_size": 32, "options": {"train_per_class": 20}},
        }
    )
    assert estimate_seconds(sub, cal) == 10 * 7 * 1.0 + 11 * 313 * 0.5


def test_key_separates_what_changes_the_cost():
    import torch

    base = {"method": {"name": "tssd", "t_s": 2, "t_t": 4}}
    k = calibration_key(from_dict(base), torch.device("cpu"))
    for over in (
        {"method": {"name": "tssd", "t_s": 2, "t_t": 8}},
        {"method": {"name": "baseline", "t_s": 2}},
        {"data": {"batch_size": 16}},
        {"model": {"name": "vgg9"}, "data": {"name": "digits"}},
        {"runtime": {"amp": "bf16"}},
    ):
        assert calibration_key(from_dict({**base, **over}), torch.device("cpu")) != k, over
