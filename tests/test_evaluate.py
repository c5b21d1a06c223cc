"""``python -m tssd evaluate``: a finished run's network at other timesteps."""

from __future__ import annotations

import pytest

from tssd.cli import main
from tssd.evaluate import accuracy_at
from tssd.train import train


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    from tssd.config import from_dict

    cfg = from_dict(
        {
            "name": "eval",
            "method": {"name": "tssd", "t_s": 2, "t_t": 4},
            "model": {"name": "micro_cnn", "width": 8},
            "data": {"name": "digits", "batch_size": 64},
            "optim": {"lr": 0.1, "epochs": 2},
            "eval": {"timesteps": [1, 4]},
            "runtime": {"progress": False, "threads": 1},
        },
        "<test>",
    )
    out = tmp_path_factory.mktemp("run")
    return out, train(cfg, out)


def test_it_reproduces_what_the_run_measured_at_every_timestep(finished):
    out, summary = finished
    acc = accuracy_at(out)  # default: T_s and T_t
    assert list(acc) == [2, 4]
    assert acc[2] == pytest.approx(100 * summary["test_acc"], abs=1e-9)
    assert acc[4] == pytest.approx(100 * summary["test_acc_by_timesteps"]["4"], abs=1e-9)
    assert accuracy_at(out, (1,))[1] == pytest.approx(
        100 * summary["test_acc_by_timesteps"]["1"], abs=1e-9
    )


def test_cli_prints_one_json_line_per_run(finished, capsys):
    out, summary = finished
    assert main(["evaluate", str(out), "--timesteps", "2", "--threads", "1"]) == 0
    line = capsys.readouterr().out.strip()
    assert (
        line
        == f'{{"run_dir": "{out}", "test_acc": {{"2": {round(100 * summary["test_acc"], 2)}}}}}'
    )


@pytest.mark.parametrize(
    "args,expected",
    [
        (["{missing}"], "config.yaml: not found (expected a finished run directory)"),
        (["{run}", "--timesteps", "2,x"], "--timesteps: got '2,x', expected comma-separated"),
        (
            ["{run}", "--timesteps", "0"],
            "--timesteps: got '0', expected comma-separated integers in 1..1024",
        ),
    ],
    ids=["not-a-run", "not-integers", "zero"],
)
def test_bad_input_is_one_line_and_exit_2(finished, tmp_path, capsys, args, expected):
    out, _ = finished
    argv = [a.format(missing=tmp_path / "nope", run=out) for a in args]
    assert main(["evaluate", *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1


def test_regression_teacher_gap_reads_the_summary_as_re_evaluating_would(finished):
    """The regression check takes a TSSD run's teacher gap from its recorded T_t test pass; a run
    recorded before that pass existed is re-evaluated, to the same number."""
    from bench.regression import teacher_gap

    out, summary = finished
    before = {k: v for k, v in summary.items() if k != "test_acc_by_timesteps"}
    recorded = teacher_gap(out, summary)
    assert recorded == pytest.approx(
        100 * (summary["test_acc_by_timesteps"]["4"] - summary["test_acc"])
    )
    assert recorded == pytest.approx(teacher_gap(out, before), abs=1e-9)
