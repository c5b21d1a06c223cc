"""NeuroBench on the deployed network (tssd/metrics.py): its numbers against the suite's own,
no silent failure, the ``metrics`` command, and training numerics left untouched.

Tiny models, no training except where a finished run is the subject (2 epochs of a width-4
micro_cnn on the embedded digits, seconds).
"""

from __future__ import annotations

import json
import sys

import pytest
import torch

from tssd.config import from_dict
from tssd.data import build_dataset
from tssd.export import InferenceModel
from tssd.models import build_model, count_macs, count_params, to_sequence
from tssd.neurons import NeuronSpec, SpikingNeuron

pytestmark = pytest.mark.unit

nb_reason = "neurobench is not installed (pip install --no-deps neurobench==2.3.0; nox does it)"
T = 2
N = 40  # test images measured: enough to make every layer spike, few enough for a second


@pytest.fixture(scope="module")
def digits_test():
    from tssd.config import DataConfig

    return build_dataset(DataConfig(name="digits"), (T,)).test


def tiny_model(width: int = 4, seed: int = 0) -> InferenceModel:
    """An untrained micro_cnn on 8x8 digits as the deployed network (batch norm's running
    statistics at their initial values: eval mode behaves as trained)."""
    torch.manual_seed(seed)
    net = build_model(
        "micro_cnn", num_classes=10, in_channels=1, input_size=8, neuron=NeuronSpec(), width=width
    )
    # the initial weights are small: scale the first conv so that every layer spikes
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.mul_(4.0)
    return InferenceModel(net, T, "static", {}).eval()


def measure(model, test, **kw):
    from tssd.metrics import FirstSamples, measure

    return measure(model, FirstSamples(test, N, 16, T), where="tiny-run", **kw)


def recorded_rates(model, test) -> dict[str, tuple[float, int]]:
    """Spike counts and element counts per spiking layer on the first N test images, from the
    suite's own recording (what summary.json's firing rates are)."""
    layers = model.net.spiking_layers()
    for _, layer in layers:
        layer.record = True
        layer.reset_record()
    with torch.no_grad():
        model(test.inputs[:N])
    for _, layer in layers:
        layer.record = False
    return {name: (layer.spike_sum, layer.element_count) for name, layer in layers}


def test_parameter_count_equals_count_params(digits_test):
    pytest.importorskip("neurobench", reason=nb_reason)
    model = tiny_model()
    r = measure(model, digits_test)
    assert r["metrics"]["ParameterCount"] == count_params(model.net)
    assert r["metrics"]["ParameterCount"] == count_params(model)


def test_activation_sparsity_is_one_minus_the_firing_rate(digits_test):
    pytest.importorskip("neurobench", reason=nb_reason)
    model = tiny_model()
    rates = recorded_rates(model, digits_test)
    r = measure(model, digits_test)
    by_layer = dict(r["by_layer"]["ActivationSparsity"])
    # every spiking layer, by its name in the network, in forward order
    assert list(by_layer) == list(rates)
    for name, (spikes, elements) in rates.items():
        assert 0 < spikes < elements, name  # a layer that spikes, but not everywhere
        # the same integer counts divided in another order: equal to the last bits
        assert by_layer[name] == pytest.approx(1 - spikes / elements, rel=1e-12, abs=1e-12)
    spikes = sum(s for s, _ in rates.values())
    elements = sum(e for _, e in rates.values())
    # overall: NeuroBench pools every layer's neurons and sums per-batch sparsities weighted by
    # batch size (3 batches of 16, 16, 8): rounding of three additions
    assert r["metrics"]["ActivationSparsity"] == pytest.approx(1 - spikes / elements, rel=1e-12)


def _valid_taps(size: int, k: int, stride: int, pad: int) -> int:
    """Over one spatial dimension, how many (output position, kernel tap) pairs read an input
    pixel rather than the zero padding."""
    out = (size + 2 * pad - k) // stride + 1
    return sum(1 for o in range(out) for j in range(k) if 0 <= o * stride - pad + j < size)


def test_dense_synops_equal_count_macs_less_the_zero_padding(digits_test):
    """``count_macs`` counts every kernel tap of every output (``C_out * C_in * k * k`` per
    output position), zero padding included. NeuroBench's Dense runs a copy of each layer with
    all weights and all inputs set to one, so a tap that falls on padding (a zero) adds nothing.
    For a 3x3 convolution with padding 1 and stride 1 on an H x W input, a dimension of size H
    has 3H taps of which 2 fall on padding (the first output misses the row above, the last the
    row below): (3H - 2)(3W - 2) of the 9HW taps are real, per channel pair and timestep. Linear
    layers have no padding. So Dense = count_macs - the padded taps, exactly."""
    pytest.importorskip("neurobench", reason=nb_reason)
    model = tiny_model(width=16)
    shapes: dict[torch.nn.Conv2d, tuple[int, int]] = {}

    def record(conv, inputs) -> None:
        shapes[conv] = tuple(inputs[0].shape[-2:])

    hooks = [
        m.register_forward_pre_hook(record)
        for m in model.net.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    x = digits_test.inputs[:1]
    macs = count_macs(model.net, to_sequence(x, T))
    for h in hooks:
        h.remove()
    padded = 0
    for conv, (h, w) in shapes.items():
        (k, _), (s, _), (p, _) = conv.kernel_size, conv.stride, conv.padding
        taps = _valid_taps(h, k, s, p) * _valid_taps(w, k, s, p)
        out_h, out_w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        assert taps == (3 * h - 2) * (3 * w - 2)  # the closed form of the docstring
        padded += T * conv.out_channels * conv.in_channels * (k * k * out_h * out_w - taps)
    assert padded > 0
    r = measure(model, digits_test)
    dense = r["metrics"]["SynapticOperations"]["Dense"]
    assert dense == macs - padded
    # effective operations never exceed the dense ones; the per-layer ones add up to them
    syn = r["metrics"]["SynapticOperations"]
    effective = syn["Effective_ACs"] + syn["Effective_MACs"]
    assert 0 < effective < dense
    by_layer = r["by_layer"]["EffectiveSynOps"]
    assert sum(v for _, v in by_layer) == pytest.approx(effective, rel=1e-9)
    # connection layers in forward order: the first conv, ..., the classifier
    forward = [n for n, m in model.net.named_modules() if isinstance(m, torch.nn.Conv2d)]
    assert [n for n, _ in by_layer] == [*forward, "classifier.1"]


def test_energy_is_the_effective_operations_priced(digits_test):
    pytest.importorskip("neurobench", reason=nb_reason)
    r = measure(tiny_model(), digits_test, pj_per_ac=1.0, pj_per_mac=10.0)
    syn = r["metrics"]["SynapticOperations"]
    assert r["energy_pj"] == syn["Effective_ACs"] * 1.0 + syn["Effective_MACs"] * 10.0
    assert r["pj_per_ac"] == 1.0 and r["pj_per_mac"] == 10.0 and "Horowitz" in r["energy_source"]
    assert r["samples"] == N and r["version"] == "2.3.0"


@pytest.mark.parametrize(
    "cls, value",
    [("static.ConnectionSparsity", "None"), ("workload.SynapticOperations", "0.0")],
)
def test_a_metric_neurobench_zeroes_or_nones_is_an_error(digits_test, monkeypatch, cls, value):
    pytest.importorskip("neurobench", reason=nb_reason)
    import neurobench.metrics.static as nb_static
    import neurobench.metrics.workload as nb_workload

    from tssd.metrics import NeuroBenchError

    module, name = cls.split(".")
    target = getattr(nb_static if module == "static" else nb_workload, name)

    def boom(self, *args):
        raise RuntimeError("deliberately broken")

    monkeypatch.setattr(target, "__call__", boom)
    # NeuroBench itself only prints and reports the value: the suite must refuse it
    with pytest.raises(NeuroBenchError, match=rf"tiny-run: NeuroBench metric {name} failed: "):
        measure(tiny_model(), digits_test)


def test_an_unhooked_neuron_class_is_an_error(digits_test, monkeypatch):
    """Unregistered, the suite's neurons get no hook and ActivationSparsity silently says 0."""
    pytest.importorskip("neurobench", reason=nb_reason)
    from neurobench.models import TorchModel

    from tssd.metrics import NeuroBenchError

    monkeypatch.setattr(TorchModel, "add_activation_module", lambda self, m: None)
    with pytest.raises(NeuroBenchError, match=r"ActivationSparsity failed: .*hooked 0 of .* 3"):
        measure(tiny_model(), digits_test)


def test_spiking_neuron_is_the_class_the_suite_registers():
    from tssd.neurons.native import NativeLIF

    assert issubclass(NativeLIF, SpikingNeuron)


# ---- a finished run ---------------------------------------------------------------------------


def _cfg(**eval_):
    return from_dict(
        {
            "method": {"name": "tssd", "t_s": 2, "t_t": 4},
            "model": {"name": "micro_cnn", "width": 4},
            "optim": {"epochs": 2},
            "eval": eval_,
            "runtime": {"progress": False, "threads": 1},
        }
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The same tiny run trained with NeuroBench on and off (same config hash)."""
    from tssd.train import train

    base = tmp_path_factory.mktemp("nb")
    on, off = _cfg(), _cfg(neurobench=False)
    assert on.hash() == off.hash()  # the NeuroBench settings are not part of the hash
    train(on, base / "on")
    train(off, base / "off")
    return base / "on", base / "off"


def test_measuring_changes_no_trained_number(finished):
    on, off = finished
    for name in ("epochs.csv",):
        a = [r.split(",")[:-3] for r in (on / name).read_text().splitlines()]  # all but timings
        b = [r.split(",")[:-3] for r in (off / name).read_text().splitlines()]
        assert a == b
    s_on = json.loads((on / "summary.json").read_text())
    s_off = json.loads((off / "summary.json").read_text())
    assert "neurobench" not in s_off
    for key in ("test_acc", "test_loss", "train_acc", "firing_rates", "params", "macs_per_sample"):
        assert s_on[key] == s_off[key], key
    assert torch.equal(
        torch.load(on / "inference.pt")["state_dict"]["classifier.1.weight"],
        torch.load(off / "inference.pt")["state_dict"]["classifier.1.weight"],
    )


def test_a_new_run_records_its_neurobench_metrics(finished):
    pytest.importorskip("neurobench", reason=nb_reason)
    on, _ = finished
    s = json.loads((on / "summary.json").read_text())
    nb = s["neurobench"]
    assert nb["version"] == "2.3.0" and nb["samples"] == nb["test_size"] == 360
    assert nb["metrics"]["ParameterCount"] == s["params"]
    # all 360 test images, the same network in eval mode: NeuroBench's accuracy and sparsity
    # are the run's own test accuracy and firing rates
    assert nb["metrics"]["ClassificationAccuracy"] == pytest.approx(s["test_acc"], abs=1e-6)
    for layer, rate in s["firing_rates"].items():
        sparsity = dict(nb["by_layer"]["ActivationSparsity"])[layer]
        assert sparsity == pytest.approx(1 - rate, abs=1e-12)


def test_metrics_command_prints_the_table_and_updates_the_summary(finished, capsys):
    pytest.importorskip("neurobench", reason=nb_reason)
    from tssd.cli import main

    _, off = finished
    before = json.loads((off / "summary.json").read_text())
    assert main(["metrics", str(off), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert f"{off}: NeuroBench 2.3.0, T=2, first 360 of 360 test samples" in out
    for row in ("ParameterCount", "Effective_ACs", "ClassificationAccuracy", "energy / inference"):
        assert row in out, row
    after = json.loads((off / "summary.json").read_text())
    assert {k: v for k, v in after.items() if k != "neurobench"} == before
    assert after["neurobench"]["metrics"]["ParameterCount"] == before["params"]
    on = json.loads((finished[0] / "summary.json").read_text())["neurobench"]
    # deterministic: measured at the end of the run or later, the same numbers
    assert after["neurobench"]["metrics"] == on["metrics"]
    assert after["neurobench"]["by_layer"] == on["by_layer"]


def test_metrics_command_on_a_directory_that_is_not_a_run(tmp_path, capsys):
    pytest.importorskip("neurobench", reason=nb_reason)
    from tssd.cli import main

    assert main(["metrics", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "config.yaml: not found" in err


def test_without_neurobench_one_line_and_runs_still_finish(tmp_path, monkeypatch, capsys):
    from tssd.cli import main
    from tssd.train import train

    monkeypatch.setitem(sys.modules, "neurobench", None)  # import neurobench -> ImportError
    s = train(_cfg(), tmp_path / "run")
    assert s["status"] == "finished" and "neurobench" not in s
    assert main(["metrics", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("metrics: neurobench is not installed")
    assert "pip install --no-deps neurobench==2.3.0" in err


def test_run_metrics_exposes_the_neurobench_values():
    from bench.analyse.aggregate import run_metrics

    summary = {
        "test_acc": 0.9,
        "train_acc": 0.95,
        "test_loss": 0.3,
        "params": 100,
        "macs_per_sample": 1000,
        "wall_s": 1.0,
        "peak_mem_mb": 1.0,
        "firing_rates": {"a": 0.2},
        "neurobench": {
            "samples": 360,
            "metrics": {
                "ParameterCount": 100,
                "Footprint": 400,
                "ConnectionSparsity": 0.0,
                "ActivationSparsity": 0.8,
                "SynapticOperations": {"Dense": 900.0, "Effective_MACs": 10.0, "Effective_ACs": 50},
                "ClassificationAccuracy": 0.9,
            },
            "by_layer": {
                "ActivationSparsity": [["z", 0.7], ["a", 0.8]],
                "EffectiveSynOps": [["c", 60.0], ["b", 1.0]],
            },
            "energy_pj": 91.0,
        },
    }
    m = run_metrics(summary, [])
    assert m["nb_params"] == 100 and m["nb_footprint"] == 400 and m["nb_dense"] == 900
    assert m["nb_effective_macs"] == 10 and m["nb_effective_acs"] == 50
    assert m["nb_effective_synops"] == 60 and m["energy_pj"] == 91.0
    assert m["nb_activation_sparsity"] == 0.8 and m["nb_acc"] == pytest.approx(90.0)
    assert m["nb_sparsity:a"] == 0.8 and m["nb_synops:c"] == 60.0
    # layers keep the order the run wrote (input to output), not the alphabet's
    assert [k for k in m if k.startswith("nb_synops:")] == ["nb_synops:c", "nb_synops:b"]
    assert [k for k in m if k.startswith("nb_sparsity:")] == ["nb_sparsity:z", "nb_sparsity:a"]
    del summary["neurobench"]
    assert not any(k.startswith(("nb_", "energy")) for k in run_metrics(summary, []))
