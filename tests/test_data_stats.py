"""``python -m tssd data stats``: what the network's input holds at each T, measured on the
embedded datasets (``digits`` static, ``digits_dvs`` events; no download)."""

from __future__ import annotations

import json

import pytest
import torch

from tssd.cli import main as cli_main
from tssd.config import dump_yaml
from tssd.data import build_dataset
from tssd.data.stats import measure

pytestmark = pytest.mark.unit

STEPS = (2, 3, 5)


@pytest.fixture(scope="module")
def dvs_root(tmp_path_factory):
    """One digits_dvs frame cache for the module's tests (built once, a few seconds)."""
    from tssd.data.spec import DataConfig

    root = tmp_path_factory.mktemp("dvs_root")
    build_dataset(DataConfig(name="digits_dvs", root=str(root)), STEPS)
    return root


@pytest.fixture
def write_config(tiny_cfg, tmp_path):
    """A run config YAML (the tiny digits one, with overrides) and its path."""

    def write(**over):
        path = tmp_path / "run.yaml"
        path.write_text(dump_yaml(tiny_cfg(**over)))
        return str(path)

    return write


def stats(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli_main(["data", "stats", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def by_t(rows: list[dict]) -> dict[int, dict]:
    return {r["T"]: r for r in rows}


def test_events_keep_the_total_and_spread_it_over_more_frames(dvs_root, tiny_cfg):
    cfg = tiny_cfg(data__name="digits_dvs", data__root=str(dvs_root))
    bundle = build_dataset(cfg.data, STEPS)
    rows = by_t(measure(bundle.test, STEPS, limit=50))
    # the data itself: every sample's event count is the same in every framing
    sums = {t: bundle.test.inputs[t][:50].double().sum((1, 2, 3, 4)) for t in STEPS}
    for t in STEPS:
        torch.testing.assert_close(sums[t], sums[STEPS[0]], rtol=0, atol=0)
    totals = {r["input_total"] for r in rows.values()}
    assert len(totals) == 1 and totals.pop() == sums[2].sum().item() > 0  # counts: exact in f64
    for t, r in rows.items():
        assert r["samples"] == 50 and r["ratio_to_smallest_t"] == 1.0
        assert r["input_per_step"] * t == pytest.approx(r["input_per_sample"], rel=1e-12)
    # per-step input is inversely proportional to T, and a frame gets sparser with more frames
    assert rows[2]["input_per_step"] / rows[5]["input_per_step"] == pytest.approx(5 / 2)
    assert 1 >= rows[2]["nonzero_per_step"] > rows[3]["nonzero_per_step"]
    assert rows[3]["nonzero_per_step"] > rows[5]["nonzero_per_step"] > 0


def test_static_input_grows_with_t(tiny_cfg):
    bundle = build_dataset(tiny_cfg().data, STEPS)
    x = bundle.test.inputs.double()
    rows = by_t(measure(bundle.test, STEPS))
    image_l1 = x.abs().sum((1, 2, 3)).mean().item()
    frac = (x != 0).double().mean().item()
    for t, r in rows.items():
        assert r["samples"] == len(bundle.test)
        assert r["input_per_sample"] == pytest.approx(t * image_l1, rel=1e-12)
        assert r["input_per_step"] == pytest.approx(image_l1, rel=1e-12)
        assert r["nonzero_per_step"] == pytest.approx(frac, rel=1e-12)
        assert r["ratio_to_smallest_t"] == pytest.approx(t / STEPS[0], rel=1e-12)


def test_chunks_add_up_to_one_pass(dvs_root, tiny_cfg, monkeypatch):
    from tssd.data import stats as stats_mod

    cfg = tiny_cfg(data__name="digits_dvs", data__root=str(dvs_root))
    split = build_dataset(cfg.data, STEPS).test
    whole = measure(split, STEPS)
    monkeypatch.setattr(stats_mod, "CHUNK_ENTRIES", 1)  # one sample a chunk
    for a, b in zip(whole, measure(split, STEPS), strict=True):
        assert a["input_total"] == b["input_total"] and a["samples"] == len(split)
        assert a["nonzero_per_step"] == pytest.approx(b["nonzero_per_step"], rel=1e-12)


def test_cli_table_and_json(dvs_root, write_config, capsys):
    path = write_config(data__name="digits_dvs", data__root=str(dvs_root))
    code, out, err = stats(capsys, path, "--timesteps", "5,2,3", "--limit", "20")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("digits_dvs, test split, 20 of 360 samples; events: one stream")
    assert [ln.split()[0] for ln in lines[3:]] == ["2", "3", "5"]
    code, out, _ = stats(capsys, path, "--timesteps", "2,3,5", "--limit", "20", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["kind"] == "event" and doc["samples"] == 20
    assert [r["T"] for r in doc["rows"]] == [2, 3, 5]
    # the static digits through --set, at the run's own T_s and T_t when --timesteps is omitted
    code, out, _ = stats(capsys, path, "--set", "data.name=digits", "--json", "--split", "train")
    doc = json.loads(out)
    assert code == 0 and doc["kind"] == "static" and doc["split"] == "train"
    assert [r["T"] for r in doc["rows"]] == [2, 4]  # tiny_cfg: t_s 2, t_t 4
    assert doc["rows"][1]["ratio_to_smallest_t"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--split", "val"], ["--split val", "data.options.val_per_class"]),
        (["--set", "data.nope=1"], ["data.nope"]),
        (["--timesteps", "0,2"], ["--timesteps", "'0,2'"]),
        (["--timesteps", "two"], ["--timesteps", "'two'"]),
        (["--timesteps", " , "], ["--timesteps", "' , '"]),  # no T at all: not the default
        (["--limit", "-1"], ["--limit", ">= 0"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(write_config, capsys, argv, needles):
    code, out, err = stats(capsys, write_config(), "--timesteps", "2,4", *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and all(n in err for n in needles), err
