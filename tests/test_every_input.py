"""Every input handled (issue 18): one test per case of the issue, beside tests/test_bad_input.py.

YAML that cannot hurt, resources estimated before they are spent, run directories verified
before they are trusted, data provenance, the regression check's reference read first, and the
noisy cases. Each failing case ends in one line on stderr naming the file, key or flag, exit 2
(3 for a run that failed), nothing left behind; tests/test_fuzz_inputs.py generates the rest.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from test_bad_input import train_argv

from bench import ROOT
from bench import cli as bench_cli
from tssd import cli as tssd_cli
from tssd.config import ConfigError, load_config
from tssd.rundir import RunDir

pytestmark = pytest.mark.unit


def run_cli(main, argv, capsys) -> tuple[int, str]:
    """Exit status and the one line on stderr (asserted to be one, without a traceback)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in out + err
    if code != 0:
        assert code in (2, 3) and len(lines) == 1, (code, err)
    return code, lines[0] if lines else ""


def config_error(tmp: Path, text: str | bytes, capsys) -> str:
    path = tmp / "run.yaml"
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    code, line = run_cli(tssd_cli.main, ["train", str(path), "--out", str(tmp / "run")], capsys)
    assert code == 2 and str(path) in line, line
    assert not (tmp / "run").exists()
    return line


# ---- 2. YAML that cannot hurt -------------------------------------------------------------------

ALIAS_BOMB = (
    "data:\n  name: digits_dvs\n  options:\n"
    '    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "    h: [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("optim:\n  lr: 0.1\n  lr: 0.2\n", ["line 3", "duplicate key 'lr' (first on line 2)"]),
        ("seed: 1\nmethod: {name: tssd}\nseed: 2\n", ["duplicate key 'seed'"]),
        (ALIAS_BOMB, ["line 5", "alias *a refused"]),
        ("", ["empty; expected a YAML mapping", "leave the config file out"]),
        ("# only a comment\n", ["empty"]),
        ("name: 2024-01-01\n", ["line 1", "a YAML date 2024-01-01", "quote it"]),
        ("data: {root: !!binary aGVsbG8=}\n", ["YAML binary data"]),
        ("data: {options: !!set {a, b}}\n", ["a YAML set"]),
        ("seed: " + "9" * 5000 + "\n", ["not a usable YAML value"]),
        ("a:\n" + "".join(" " * i + "- \n" for i in range(1, 80)), ["nested deeper than 64"]),
        ("[" * 5000, ["nested deeper than 64"]),
        ("x: " + "y" * (1 << 20) + "\n", ["larger than 1048576 bytes"]),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", ["not a text file", "not UTF-8"]),
        ("extends: [a.yaml, b.yaml]\n", ["key 'extends'", "expected one file name"]),
        ("extends: run.yaml\nseed: 1\n", ["key 'extends'", "closes a cycle"]),
        ("extends: missing.yaml\n", ["key 'extends'", "missing.yaml not found"]),
    ],
    ids=[
        "duplicate-key",
        "duplicate-top-level-key",
        "alias-bomb",
        "empty-file",
        "comment-only",
        "date-in-string-field",
        "binary-tag",
        "set-tag",
        "5000-digit-integer",
        "deep-nesting",
        "deep-flow-nesting",
        "over-1-MiB",
        "binary-file",
        "extends-a-list",
        "extends-itself",
        "extends-missing",
    ],
)
def test_yaml_that_cannot_hurt(tmp_path, capsys, text, needles):
    line = config_error(tmp_path, text, capsys)
    for needle in needles:
        assert needle in line, (needle, line)


def test_alias_bomb_is_refused_small_and_fast(tmp_path, capsys):
    import resource
    import time

    assert len(ALIAS_BOMB.encode()) < 600  # the 564-byte bomb, 10^8 entries expanded
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.time()
    config_error(tmp_path, ALIAS_BOMB, capsys)
    assert time.time() - t0 < 5
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100, grown_mb


def test_extends_cycle_of_two_files(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("extends: run.yaml\n")
    line = config_error(tmp_path, "extends: a.yaml\n", capsys)
    assert "closes a cycle" in line and "a.yaml" in line


def test_extends_chain_still_merges(tmp_path):
    (tmp_path / "base.yaml").write_text("optim: {epochs: 3, lr: 0.5}\n")
    (tmp_path / "mid.yaml").write_text("extends: base.yaml\noptim: {epochs: 4}\n")
    (tmp_path / "run.yaml").write_text("extends: mid.yaml\nseed: 7\n")
    cfg = load_config(tmp_path / "run.yaml")
    assert (cfg.optim.epochs, cfg.optim.lr, cfg.seed) == (4, 0.5, 7)


def test_directory_given_as_config(tmp_path, capsys):
    code, line = run_cli(tssd_cli.main, ["config", str(tmp_path)], capsys)
    assert code == 2 and f"{tmp_path}: is a directory; expected a YAML config file" in line


@pytest.mark.parametrize(
    ("item", "needles"),
    [
        ("name=2024-01-01", ["--set 'name=2024-01-01'", "a YAML date"]),
        ("data.options={a: &x 1, b: *x}", ["alias *x refused"]),
        ("data.options={a: 1, a: 2}", ["duplicate key 'a'"]),
        ("seed=18446744073709551616", ["key 'seed'", "expected an integer between -2^63"]),
        ("seed=4294967296", ["key 'seed'", "expected an integer in 0..2^32-1"]),
        ("seed=-1", ["key 'seed'", "0..2^32-1"]),
        ("runtime.threads=" + "9" * 30, ["key 'runtime.threads'", "2^63"]),
    ],
)
def test_set_values_are_read_as_safely_as_files(capsys, item, needles):
    code, line = run_cli(tssd_cli.main, ["config", "--set", item], capsys)
    assert code == 2
    for needle in needles:
        assert needle in line, (needle, line)


def test_every_committed_config_still_loads():
    """The strict reader accepts every run config the suite ships (the harness's files:
    tests/test_bench_schema.py::test_shipped_files_validate)."""
    paths = sorted((ROOT / "configs").glob("*.yaml"))
    assert paths and all(load_config(p).hash() for p in paths)


# ---- 3. resources estimated before they are spent ----------------------------------------------


@pytest.mark.parametrize(
    ("sets", "needles"),
    [
        (["model.width=1000000"], ["keys model.width=1000000", "PB", "this machine has"]),
        (["data.size=200000"], ["data.size=200000", "data ", "this machine has"]),
        (["data.batch_size=100000000"], ["data.batch_size=100000000"]),
        (["method.t_s=200000", "method.t_t=400000"], ["method.t_s=200000", "method.t_t=400000"]),
    ],
)
def test_a_run_that_cannot_fit_is_refused_before_allocation(tmp_path, capsys, sets, needles):
    run = tmp_path / "run"
    argv = train_argv(run)
    for s in sets:  # after the tiny defaults, so these win
        argv += ["--set", s]
    code, line = run_cli(tssd_cli.main, argv, capsys)
    assert code == 2 and "the run needs at least" in line, line
    for needle in needles:
        assert needle in line, (needle, line)
    assert not run.exists()


def test_the_estimate_bounds_what_a_small_run_really_uses(tiny_cfg):
    """Parameters counted exactly (those of the network torch builds), optimiser state as SGD
    keeps it, a batch and the data counted; the random generators are left alone."""
    from tssd.models import build_for_run
    from tssd.resources import estimate

    cfg = tiny_cfg()
    state = torch.get_rng_state()
    est = estimate(cfg)
    assert torch.equal(state, torch.get_rng_state())
    from tssd.data.base import shape_of

    model, _, head = build_for_run(cfg, shape_of(cfg.data), True)
    params = sum(p.numel() for m in (model, head) for p in m.parameters())
    assert est.params == params and est.model_bytes == params * 4 * 3  # SGD: w, grad, momentum
    assert est.batch_bytes > 0 and est.data_bytes > 0


def test_weak_head_stage_out_of_range_is_a_config_error(tmp_path, capsys):
    code, line = run_cli(
        tssd_cli.main, train_argv(tmp_path / "run", "model.weak_head.stage=99"), capsys
    )
    assert code == 2 and "key 'model.weak_head.stage'" in line and "index in 0..1" in line


def test_weak_head_stage_as_an_index_is_accepted_and_hashes_like_text():
    as_int = load_config(None, ["model.weak_head.stage=1"])
    as_text = load_config(None, ["model.weak_head.stage='1'"])
    assert as_int.model.weak_head.stage == "1" and as_int.hash() == as_text.hash()


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--seeds", "a,b"], ["--seeds: got 'a,b'", "comma-separated integers"]),
        (["--seeds", ""], ["--seeds: got ''"]),
        (["--seeds", "18446744073709551616"], ["0..2^32-1"]),
        (["--seeds", "1,1"], ["each once"]),
        (["--workers", "-1"], ["--workers: got -1", "0..4096"]),
        (["--threads", "100000"], ["--threads: got 100000"]),
        (["--log-every", "nan"], ["--log-every: got nan"]),
        (["--profile", "smal"], ["unknown profile 'smal'"]),
        (["--workers", "x"], ["argument --workers: invalid int value: 'x'"]),
        (["--no-such-flag"], ["unrecognized arguments: --no-such-flag"]),
    ],
)
def test_bench_arguments_are_checked(tmp_path, capsys, args, needles):
    argv = ["run", "table2", "--dry-run", "--results", str(tmp_path / "res"), *args]
    code, line = run_cli(bench_cli.main, argv, capsys)
    assert code == 2
    for needle in needles:
        assert needle in line, (needle, line)
    assert not (tmp_path / "res").exists()


def test_results_naming_a_file(tmp_path, capsys):
    f = tmp_path / "results"
    f.write_text("x")
    code, line = run_cli(
        bench_cli.main, ["run", "table2", "--dry-run", "--results", str(f)], capsys
    )
    assert code == 2 and f"{f} is a file; expected a directory" in line
    assert f.read_text() == "x"


def test_results_not_writable(tmp_path, capsys, monkeypatch):
    """A read-only results folder (simulated: tests run as root, who may write anywhere)."""
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(tmp_path) else real(p, m))
    argv = ["run", "table2", "--dry-run", "--results", str(tmp_path / "res")]
    code, line = run_cli(bench_cli.main, argv, capsys)
    assert code == 2 and "is not writable" in line and str(tmp_path) in line


def test_a_write_refused_by_the_system_is_one_line(tmp_path, capsys, monkeypatch):
    from bench import pipeline

    def refuse(*_a, **_k):
        raise OSError(30, "Read-only file system", str(tmp_path / "res" / "quick"))

    monkeypatch.setattr(pipeline, "run", refuse)
    code, line = run_cli(bench_cli.main, ["run", "table2", "--results", str(tmp_path)], capsys)
    assert code == 2 and "Read-only file system" in line and "res/quick" in line


def test_claims_with_a_misspelt_profile(tmp_path, capsys):
    argv = ["claims", "--profiles", "quick", "smal", "--results", str(tmp_path)]
    code, line = run_cli(bench_cli.main, argv, capsys)
    assert code == 2 and "--profiles: unknown profile 'smal'" in line and "small" in line
    argv = ["claims", "--profiles", "quick", "quick", "--results", str(tmp_path)]
    code, line = run_cli(bench_cli.main, argv, capsys)
    assert code == 2 and "--profiles: 'quick' is given twice" in line


# ---- 4. a run directory is verified before it is trusted ---------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("finished") / "run"
    assert tssd_cli.main(train_argv(run)) == 0
    return run


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    return Path(shutil.copytree(finished_run, tmp_path / "run"))


def test_a_finished_run_verifies(run_copy):
    summary = RunDir(run_copy).verify(RunDir(run_copy).read_summary().config_hash)
    assert summary.status == "finished"
    assert RunDir(run_copy).state(summary.config_hash, deep=True).status == "finished"


def test_evaluate_refuses_an_edited_config(run_copy, capsys):
    cfg = run_copy / "config.yaml"
    cfg.write_text(cfg.read_text().replace("width: 4", "width: 8"))
    code, line = run_cli(tssd_cli.main, ["evaluate", str(run_copy)], capsys)
    assert code == 2 and "not a finished run of this config" in line
    assert "config.yaml hashes to" in line and str(run_copy) in line
    assert capsys.readouterr().out == ""  # never a number


@pytest.mark.parametrize("name", ["checkpoint.pt", "inference.pt", "epochs.csv"])
def test_a_finished_summary_without_its_files_is_not_finished(run_copy, capsys, name):
    from tssd.train import train

    (run_copy / name).unlink()
    rid = RunDir(run_copy).read_summary().config_hash
    st = RunDir(run_copy).state(rid)
    assert st.status == "error" and f"{name} missing" in st.error
    assert "not a finished run of this config" in st.error
    with pytest.raises(Exception, match=f"not a finished run of this config.*{name} missing"):
        train(load_config(run_copy / "config.yaml"), run_copy)
    if name != "inference.pt":  # evaluate needs inference.pt first (its own message)
        code, line = run_cli(tssd_cli.main, ["evaluate", str(run_copy)], capsys)
        assert code == 2 and f"{name} missing" in line


def test_the_harness_shows_such_a_run_as_failed_not_as_a_number(run_copy):
    from types import SimpleNamespace

    from bench.analyse.aggregate import read_run
    from bench.execute.run import run_state

    rid = RunDir(run_copy).read_summary().config_hash
    runs = run_copy.parent / "runs"
    shutil.copytree(run_copy, runs / rid)
    (runs / rid / "inference.pt").unlink()
    run = SimpleNamespace(run_id=rid, unavailable=None, config={"optim": {"epochs": 1}})
    assert run_state(run, runs).status == "error"
    rec = read_run(SimpleNamespace(runs={rid: run}, runs_dir=runs), rid)
    assert rec.status == "failed" and not rec.metrics and "inference.pt missing" in rec.reason


def test_a_run_under_another_id_is_not_that_run(run_copy):
    st = RunDir(run_copy).state("0123456789ab", deep=True)
    assert st.status == "error" and "expected 0123456789ab" in st.error


def test_a_checkpoint_of_another_layout_is_named_not_a_key_error(run_copy, capsys):
    from tssd.train import load_checkpoint

    ck_path = run_copy / "checkpoint.pt"
    ck = torch.load(ck_path, weights_only=True)
    old = {k: v for k, v in ck.items() if k not in ("rows", "sched")}
    torch.save(old, ck_path)
    with pytest.raises(Exception, match=r"checkpoint without rows, sched"):
        load_checkpoint(ck_path, torch.device("cpu"))
    st = RunDir(run_copy).state(deep=True)
    assert st.status == "error" and "checkpoint.pt lacks rows, sched" in st.error
    code, line = run_cli(tssd_cli.main, ["export", str(run_copy), "--out", "x.pt"], capsys)
    assert code == 2 and "checkpoint.pt lacks rows, sched" in line


def test_a_checkpoint_of_another_config_is_refused(run_copy):
    ck_path = run_copy / "checkpoint.pt"
    ck = torch.load(ck_path, weights_only=True)
    torch.save({**ck, "config_hash": "feedfeedfeed"}, ck_path)
    with pytest.raises(Exception, match="checkpoint.pt is of config feedfeedfeed"):
        RunDir(run_copy).verify()


@pytest.mark.parametrize("where", ["own-inference", "missing-folder", "a-directory"])
def test_export_out_paths(run_copy, tmp_path, capsys, where):
    own = run_copy / "inference.pt"
    before = own.read_bytes()
    out = {
        "own-inference": own,
        "missing-folder": tmp_path / "nowhere" / "model.pt",
        "a-directory": tmp_path,
    }[where]
    code, line = run_cli(tssd_cli.main, ["export", str(run_copy), "--out", str(out)], capsys)
    assert code == 2 and f"--out {out}" in line, line
    assert own.read_bytes() == before
    assert not (tmp_path / "nowhere").exists()


def test_export_writes_a_whole_copy(run_copy, tmp_path, capsys):
    out = tmp_path / "model.pt"
    code, _ = run_cli(tssd_cli.main, ["export", str(run_copy), "--out", str(out)], capsys)
    assert code == 0 and out.read_bytes() == (run_copy / "inference.pt").read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ---- 5. data provenance -------------------------------------------------------------------------


def test_every_run_records_the_files_it_read(finished_run):
    import sklearn

    s = json.loads((finished_run / "summary.json").read_text())
    (rec,) = s["data_files"]
    path = Path(rec["path"])
    assert path.name == "digits.csv.gz" and Path(sklearn.__file__).parent in path.parents
    import hashlib

    assert rec["size"] == path.stat().st_size
    assert rec["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_files_are_hashed_once_per_process_and_again_when_they_change(tmp_path, monkeypatch):
    from tssd.data import provenance

    f = tmp_path / "train-images-idx3-ubyte"
    f.write_bytes(b"abc")
    opened = []
    real_open = open
    monkeypatch.setattr(
        "builtins.open", lambda p, *a, **k: (opened.append(str(p)), real_open(p, *a, **k))[1]
    )
    first = provenance.fingerprint(f)
    assert provenance.fingerprint(f) == first and opened.count(str(f)) == 1
    f.write_bytes(b"abcd")
    assert provenance.fingerprint(f)["size"] == 4 and opened.count(str(f)) == 2


def _idx(path: Path, array: np.ndarray, magic: int) -> None:
    import struct

    head = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(head + array.astype(np.uint8).tobytes())


def _fashion(folder: Path, splits=("train", "test"), n=20) -> None:
    from tssd.data import mnist as mn
    from tssd.data.idx import IMAGES_MAGIC, LABELS_MAGIC

    folder.mkdir(parents=True, exist_ok=True)
    for split in splits:
        img, lab = mn.FILES[split]
        _idx(folder / img, np.zeros((n, 28, 28)), IMAGES_MAGIC)
        _idx(folder / lab, np.arange(n) % 10, LABELS_MAGIC)


def test_a_partial_dataset_folder_is_an_error_not_a_fallback(tmp_path, capsys):
    _fashion(tmp_path / "fashion_mnist", splits=("train",))
    run = tmp_path / "run"
    argv = train_argv(run, "data.name=fashion_mnist", f"data.root={tmp_path}")
    code, line = run_cli(tssd_cli.main, argv, capsys)
    assert code == 2 and f"{tmp_path / 'fashion_mnist'}: holds 2 of the 4" in line, line
    assert "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte" in line
    assert not run.exists()


def test_a_dataset_smaller_than_its_spec_needs_the_subset_option(tmp_path, capsys):
    _fashion(tmp_path / "fashion_mnist")
    sets = ("data.name=fashion_mnist", f"data.root={tmp_path}", "data.size=8")
    code, line = run_cli(tssd_cli.main, train_argv(tmp_path / "run", *sets), capsys)
    assert code == 2 and "holds 20 train images, expected 60000" in line
    assert "data.options.expect: subset" in line
    argv = train_argv(tmp_path / "run", *sets, "data.options.expect=subset")
    assert run_cli(tssd_cli.main, argv, capsys)[0] == 0
    files = json.loads((tmp_path / "run" / "summary.json").read_text())["data_files"]
    assert sorted(Path(f["path"]).name for f in files) == sorted(
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
        + ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    )


# ---- 6. the regression check reads its reference before it trains -----------------------------


def _profile_with_reference(tmp_path: Path, table1: str) -> Path:
    from bench.plan.schema import load_profile

    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "table1.csv").write_text(table1)
    text = (ROOT / "bench" / "profiles" / "quick.yaml").read_text()
    old = f"reference_dir: {load_profile('quick').reference_dir}"
    assert old in text
    prof = tmp_path / "quick.yaml"
    prof.write_text(text.replace(old, f"reference_dir: {ref}"))
    return prof


def test_a_truncated_reference_fails_before_anything_trains(tmp_path, capsys):
    committed = (ROOT / "results" / "reference" / "quick" / "table1.csv").read_text()
    cut = committed[: len(committed) // 2].rsplit(",", 2)[0]  # a row cut in the middle
    prof = _profile_with_reference(tmp_path, cut)
    res = tmp_path / "res"
    argv = ["regression", "--profile", str(prof), "--results", str(res)]
    code, line = run_cli(bench_cli.main, argv, capsys)
    assert code == 2 and "table1.csv: line" in line and "expected a number" in line, line
    assert not (res / "runs").exists()


def test_a_reference_without_the_plans_cells_fails_before_training(tmp_path, capsys):
    prof = _profile_with_reference(
        tmp_path, "cell,metric,unit,seed,value\nother,test_acc,%,0,90\nother,test_acc,%,1,91\n"
    )
    argv = ["regression", "--profile", str(prof), "--results", str(tmp_path / "res")]
    code, line = run_cli(bench_cli.main, argv, capsys)
    assert code == 2 and "no row of any cell of table1" in line
    assert not (tmp_path / "res" / "runs").exists()


def test_regression_dry_run_on_an_empty_results_folder(tmp_path, capsys):
    res = tmp_path / "res"
    res.mkdir()
    code, _ = run_cli(bench_cli.main, ["regression", "--dry-run", "--results", str(res)], capsys)
    assert code == 0
    assert not (res / "runs").exists() or not any((res / "runs").iterdir())


# ---- 7. the noisy cases ------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--only", "--require"])
def test_data_check_unknown_name_is_bad_use_either_way(tmp_path, capsys, flag):
    argv = ["data", "check", "--data-root", str(tmp_path), flag, "nope"]
    code, line = run_cli(tssd_cli.main, argv, capsys)
    assert code == 2 and "unknown dataset(s) ['nope']" in line


def test_usage_errors_are_one_line(capsys):
    code, line = run_cli(tssd_cli.main, ["evaluate"], capsys)
    assert code == 2 and "the following arguments are required: RUN_DIR" in line
    code, line = run_cli(tssd_cli.main, ["evaluate", "x", "--timesteps", "2,99999"], capsys)
    assert code == 2 and "--timesteps: got '2,99999'" in line


def test_every_bad_config_still_raises_config_error():
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(ROOT / "configs")
