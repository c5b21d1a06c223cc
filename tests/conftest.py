"""Shared fixtures: tiny run configs on the embedded digits."""

from __future__ import annotations

import pytest

from tssd.config import from_dict


@pytest.fixture(autouse=True)
def _own_calibration_cache(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's step calibrations (``~/.cache/tssd``): the harness's
    ETA and ``--estimate`` would otherwise depend on what this machine once timed."""
    monkeypatch.setenv("TSSD_CACHE", str(tmp_path_factory.mktemp("tssd_cache")))


@pytest.fixture
def tiny_cfg():
    """Factory of small, fast run configs (micro_cnn width 8 on digits), with dotted overrides."""

    def make(**over):
        data = {
            "name": "tiny",
            "seed": 0,
            "method": {"name": "tssd", "t_s": 2, "t_t": 4},
            "model": {"name": "micro_cnn", "width": 8},
            "data": {"name": "digits", "batch_size": 64},
            "optim": {"lr": 0.1, "schedule": "cosine", "epochs": 3},
            "runtime": {"progress": False, "threads": 1},
            # NeuroBench has tests of its own (tests/test_neurobench.py): spare the others its pass
            "eval": {"neurobench": False},
        }
        for key, value in over.items():
            node = data
            *parents, last = key.split("__")
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = value
        return from_dict(data, "<test>")

    return make
