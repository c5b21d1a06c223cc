"""The run directory's format (tssd/rundir.py): summary.json read and written exactly as before,
a tolerant harness error record, and one reading of a directory that the runner and the
aggregator share."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tssd.errors import RunFailed
from tssd.rundir import HARNESS_ERROR, ErrorRecord, Metrics, RunDir, Summary, epoch_columns

pytestmark = pytest.mark.unit

# A summary.json as tssd.train wrote it before tssd/rundir.py existed (a real quick-profile run,
# shortened), key order included.
PROVENANCE = {
    "name": "baseline-digits-micro_cnn-2-s0",
    "config_hash": "b60cb979391d",
    "seed": 0,
    "method": "baseline",
    "model": "micro_cnn",
    "dataset": "digits",
    "dataset_kind": "static",
    "split": "stratified test_fraction=0.2 seed=0",
    "split_hash": "5bc2d0e1f0a7",
    "t_s": 2,
    "t_t": None,
    "backend": "native",
    "backend_version": "native (tssd)",
    "selection": "final_epoch",
    "world_size": 1,
    "amp": "none",
    "channels_last": False,
    "torch_version": "2.13.0+cpu",
    "python_version": "3.11.7",
    "device": "cpu",
    "device_name": "cpu",
    "hostname": "h",
    "git_commit": "451de2d",
    "git_dirty": False,
    "teacher": None,
    "started": "2026-11-27T08:40:00+00:00",
}
FINISHED = {
    **PROVENANCE,
    "status": "finished",
    "epochs": 8,
    "test_acc": 0.9944444444444445,
    "test_loss": 0.03,
    "train_acc": 0.99,
    "test_acc_by_timesteps": {},
    "firing_rates": {"conv1": 0.12},
    "params": 1234,
    "macs_per_sample": 5678,
    "weak_head_params": 0,
    "wall_s": 4.5,
    "peak_mem_mb": 300.0,
    "finished": "2026-11-27T08:40:05+00:00",
    "session_wall_s": 6.0,
}
FAILED = {**PROVENANCE, "status": "failed", "error": "non-finite loss nan", "epochs_done": 1}
RUNNING = {**PROVENANCE, "status": "running"}


@pytest.mark.parametrize("on_disk", [FINISHED, FAILED, RUNNING], ids=["finished", "failed", "run"])
def test_summaries_read_and_write_back_byte_identically(tmp_path, on_disk):
    text = json.dumps(on_disk, indent=2)
    (tmp_path / "summary.json").write_text(text)
    s = RunDir(tmp_path).read_summary()
    assert s.status == on_disk["status"] and s.config_hash == "b60cb979391d"
    assert list(s.as_dict().items()) == list(on_disk.items())
    RunDir(tmp_path / "again").write_summary(s)
    assert (tmp_path / "again" / "summary.json").read_text() == text


def test_summary_is_typed():
    s = Summary.from_dict(FINISHED)
    assert isinstance(s.metrics, Metrics) and s.metrics.test_acc == FINISHED["test_acc"]
    assert "test_acc" not in s.provenance and s.provenance["git_commit"] == "451de2d"
    f = Summary.from_dict(FAILED)
    assert f.metrics is None and f.error == "non-finite loss nan" and f.epochs_done == 1
    # a summary written before a metric existed keeps lacking it
    old = {k: v for k, v in FINISHED.items() if k not in ("weak_head_params", "session_wall_s")}
    assert Summary.from_dict(old).as_dict() == old


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("{not json", r"summary.json: corrupt summary"),
        ("[1, 2]", r"expected a JSON object, got list"),
        ('{"status": "done"}', r"key 'status': got 'done', expected one of running"),
        ('{"status": "finished", "test_acc": 0.5}', r"a finished run without epochs"),
    ],
)
def test_a_bad_summary_names_the_file(tmp_path, text, pattern):
    (tmp_path / "summary.json").write_text(text)
    with pytest.raises(RunFailed, match=pattern):
        RunDir(tmp_path).read_summary()
    st = RunDir(tmp_path).state()
    assert st.status == "error" and "summary.json" in st.error


def test_harness_error_record_is_read_tolerantly(tmp_path):
    d = RunDir(tmp_path)
    assert d.read_error() is None
    d.record_error("unavailable", "cifar10: not found (searched /x)\nmore")
    assert d.read_error() == ErrorRecord("unavailable", "cifar10: not found (searched /x)\nmore")
    assert d.read_error().first_line == "cifar10: not found (searched /x)"
    for junk in (b"{half", b"[]", b"\xff\xfe"):
        (tmp_path / HARNESS_ERROR).write_bytes(junk)
        rec = d.read_error()
        assert rec.kind == "error" and "harness_error.json: unreadable" in rec.error
    d.clear_error()
    assert d.read_error() is None


def test_state_order(tmp_path):
    d = RunDir(tmp_path)
    assert d.state().status == "new"
    (tmp_path / "summary.json").write_text(json.dumps(RUNNING))
    assert d.state().status == "new" and d.state().summary.status == "running"
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert d.state().status == "partial"
    d.write_epochs([{k: 1.0 for k in epoch_columns(("task",))}], epoch_columns(("task",)))
    assert d.state().status == "partial" and d.state().epochs_done == 1
    d.record_error("error", "ValueError: boom\ntraceback")
    assert d.state().status == "error" and d.state().error.startswith("ValueError")
    (tmp_path / "summary.json").write_text(json.dumps(FINISHED))
    # a finished summary the directory does not bear out (no config.yaml, no inference.pt, 1 of
    # its 8 epochs) is an error, never a finished run (issue 18)
    st = d.state()
    assert st.status == "error" and "not a finished run of this config" in st.error
    assert "config.yaml, inference.pt missing" in st.error
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "inference.pt").write_bytes(b"")
    assert "holds 1 epochs, summary.json declares 8" in d.state().error
    d.write_epochs([{k: 1.0 for k in epoch_columns(("task",))}] * 8, epoch_columns(("task",)))
    assert d.state().status == "finished"  # a finished summary beats a stale error record
    assert "expected 0123456789ab" in d.state("0123456789ab").error  # another run's directory


def test_runner_and_aggregator_agree_on_an_unreadable_error_record(tmp_path):
    """They used to disagree: the runner tolerated an unreadable harness_error.json, the
    aggregator crashed on it."""
    from bench.analyse.aggregate import read_run
    from bench.execute.run import run_state

    (tmp_path / "r1").mkdir()
    (tmp_path / "r1" / HARNESS_ERROR).write_text("{truncated")
    run = SimpleNamespace(run_id="r1", unavailable=None, config={"optim": {"epochs": 3}})
    plan = SimpleNamespace(runs={"r1": run}, runs_dir=Path(tmp_path))
    st = run_state(run, Path(tmp_path))
    rec = read_run(plan, "r1")
    assert st.status == "error" and "unreadable" in st.error
    assert rec.status == "failed" and "unreadable" in rec.reason
