"""Config validation: bad configs raise errors naming the problem; overrides; hashing."""

from __future__ import annotations

import pytest

from tssd.config import ConfigError, RunConfig, apply_overrides, from_dict, load_config

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"methd": {}}, r"unknown key 'methd'.*allowed keys here: name, seed, method"),
        ({"method": {"alfa": 1}}, r"unknown key 'method.alfa'"),
        ({"method": {"name": "tsd", "t_s": 4, "t_t": 4}}, r"'method.t_t'.*> method.t_s \(4\)"),
        ({"method": {"name": "tssd", "t_s": 4, "t_t": 2}}, r"'method.t_t'"),
        ({"method": {"alpha": -1}}, r"'method.alpha': got -1.0, expected a number >= 0"),
        ({"method": {"beta": -0.5}}, r"'method.beta'"),
        (
            {"model": {"name": "resnet1000"}},
            r"'model.name': unknown model 'resnet1000'; allowed: .*micro_cnn",
        ),
        (
            {"neuron": {"backend": "brian2"}},
            r"'neuron.backend': unknown backend 'brian2'; allowed: native",
        ),
        (
            {"neuron": {"reset": "medium"}},
            r"'neuron.reset': got 'medium', expected one of soft, hard",
        ),
        ({"data": {"name": "svhn"}}, r"'data.name': unknown dataset 'svhn'"),
        (
            {"method": {"name": "dropout"}},
            r"unknown method 'dropout'; allowed: baseline, tsd, ssd, tssd",
        ),
        ({"method": {"t_s": "two"}}, r"'method.t_s': got 'two', expected an integer"),
        ({"method": {"student_input": "both"}}, r"expected one of auto, prefix, reframe"),
        ({"optim": {"epochs": 0}}, r"'optim.epochs'"),
        ({"method": {"name": "kd"}}, r"'method.teacher': kd needs a teacher"),
        ({"neuron": {"tau": 0.5}}, r"'neuron.tau'"),
    ],
)
def test_bad_configs_name_the_key(data, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(data, "bad.yaml")


def test_error_names_the_file(tmp_path):
    p = tmp_path / "run.yaml"
    p.write_text("method: {name: tssd, t_s: 4, t_t: 3}\n")
    with pytest.raises(ConfigError, match=str(p)):
        load_config(p)


def test_extends_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("method: {name: tsd, t_s: 2, t_t: 6}\noptim: {lr: 0.05}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\noptim: {weight_decay: 1e-3}\n")
    cfg = load_config(tmp_path / "child.yaml", ["method.alpha=0.25", "eval.timesteps=[1, 2]"])
    assert (cfg.method.name, cfg.method.t_t, cfg.method.alpha) == ("tsd", 6, 0.25)
    assert (cfg.optim.lr, cfg.optim.weight_decay) == (0.05, 1e-3)
    assert cfg.eval.timesteps == [1, 2]


def test_hash_ignores_name_and_runtime_but_not_semantics():
    a = RunConfig()
    b = from_dict({"name": "other", "runtime": {"threads": 1, "device": "cpu"}})
    c = from_dict({"method": {"alpha": 0.5}})
    assert a.hash() == b.hash()
    assert a.hash() != c.hash()
    assert len(a.hash()) == 12


def test_a_field_added_later_hashes_only_when_set():
    """``model.weak_head.fraction`` at its default leaves every earlier run id as it was (the
    committed records' ids are checked against their configs in tests/test_records.py)."""
    from tssd.config import config_hash

    tssd = {"method": {"name": "tssd", "t_s": 2, "t_t": 4}}
    default = from_dict(tssd)
    semantic = default.semantic_dict()
    assert "fraction" not in semantic["model"]["weak_head"]
    # the ids these configs had before the field existed (computed at 465cacb)
    assert default.hash() == config_hash(semantic) == "f4058673d63c"
    narrow = {**tssd, "model": {"weak_head": {"channels": 16}}}
    assert from_dict(narrow).hash() == "b3cc66bf08a4"
    quarter = from_dict({**tssd, "model": {"weak_head": {"fraction": 0.25}}})
    assert quarter.semantic_dict()["model"]["weak_head"]["fraction"] == 0.25
    assert quarter.hash() != default.hash()


@pytest.mark.parametrize(
    ("head", "stage_channels", "hidden"),
    [
        ({}, 16, 16),
        ({"channels": 8}, 16, 8),
        ({"fraction": 0.25}, 16, 4),
        ({"fraction": 0.25}, 64, 16),
        ({"fraction": 0.01}, 16, 1),
    ],
)
def test_a_weak_head_fraction_is_of_the_attached_feature(head, stage_channels, hidden):
    cfg = from_dict({"method": {"name": "tssd"}, "model": {"weak_head": head}})
    assert cfg.model.weak_head.hidden(stage_channels) == hidden


@pytest.mark.parametrize(
    "head",
    [{"fraction": 1.0}, {"fraction": 1.5}, {"fraction": -0.1}, {"fraction": 0.5, "channels": 8}],
)
def test_a_bad_weak_head_fraction_names_its_key(head):
    with pytest.raises(ConfigError, match=r"'model.weak_head.fraction'.*\[0, 1\) .*channels is"):
        from_dict({"method": {"name": "tssd"}, "model": {"weak_head": head}})


def test_override_must_be_key_value():
    with pytest.raises(ConfigError, match="not of the form key=value"):
        apply_overrides({}, ["method.alpha"])


def test_hash_ignores_where_the_data_lives():
    assert from_dict({"data": {"root": "/a"}}).hash() == from_dict({"data": {"root": "/b"}}).hash()


def test_hash_ignores_the_native_implementation():
    # fused and loop compute bit-identical spikes and gradients (tests/test_fused.py)
    a = from_dict({"neuron": {"native_impl": "fused"}})
    b = from_dict({"neuron": {"native_impl": "loop"}})
    assert a.hash() == b.hash()


def test_auto_threads_share_the_free_cores(monkeypatch):
    """runtime.threads: 0 = the cores this process may use, shared among the harness's parallel
    runs, less the cores other processes kept busy (their threads would spin against ours)."""
    import os

    from tssd import host, runtime

    monkeypatch.setattr(host, "available_cpus", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    monkeypatch.delenv(host.PARALLEL_RUNS_ENV, raising=False)
    assert host.auto_threads() == 8  # alone on an idle machine: every core
    monkeypatch.setattr(os, "getloadavg", lambda: (2.7, 0.0, 0.0))
    assert host.auto_threads() == 5  # three cores busy elsewhere
    monkeypatch.setattr(os, "getloadavg", lambda: (30.0, 0.0, 0.0))
    assert host.auto_threads() == 1  # never fewer than one
    monkeypatch.setenv(host.PARALLEL_RUNS_ENV, "3")
    assert host.auto_threads() == 2  # the harness's three runs share the 8 cores
    with runtime.torch_threads(0):
        import torch

        assert torch.get_num_threads() == 2


def test_the_built_weak_head_has_the_fraction_of_its_stage():
    from tssd.data.base import shape_of
    from tssd.models import build_for_run

    cfg = from_dict({"method": {"name": "tssd"}, "model": {"weak_head": {"fraction": 0.5}}})
    model, stage, head = build_for_run(cfg, shape_of(cfg.data), True)
    conv = head.conv[0]
    assert conv.in_channels == model.stage_channels[stage]
    assert conv.out_channels == model.stage_channels[stage] // 2
