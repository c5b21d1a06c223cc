"""The one run-cost estimate (tssd/cost.py): what a run does, counted as tssd.train does it."""

from __future__ import annotations

import pytest

from tssd.config import from_dict
from tssd.cost import NEUROBENCH_EVAL_FACTOR, StepCost, evaluations_due, run_cost
from tssd.data import shape_of

pytestmark = pytest.mark.unit

STEP = StepCost(train_step_s=2.0, eval_image_s=0.001, warm_compile_s=7.0, cold_compile_s=90.0)


def _cfg(**sections):
    base = {
        "method": {"name": "tssd", "t_s": 2, "t_t": 4},
        "data": {
            "name": "fashion_mnist",
            "batch_size": 64,
            "options": {"train_per_class": 200, "val_per_class": 500},
        },
        "optim": {"epochs": 25},
        "eval": {"every": 5, "neurobench": False},
    }
    for k, v in sections.items():
        base[k] = {**base[k], **v} if k in base else v
    cfg = from_dict(base)
    return cfg, shape_of(cfg.data)


@pytest.mark.parametrize(
    "epochs,every,due", [(25, 5, 5), (25, 1, 25), (10, 4, 3), (3, 5, 1), (1, 1, 1)]
)
def test_evaluations_are_due_every_n_epochs_and_after_the_last(epochs, every, due):
    assert evaluations_due(epochs, every) == due


def test_validation_is_the_curve_and_the_test_set_is_evaluated_once():
    cfg, shape = _cfg()
    assert (shape.n_train, shape.n_val, shape.n_test) == (2000, 5000, 10000)
    c = run_cost(cfg, shape, STEP, neurobench=True)
    assert c.train_s == 25 * 32 * 2.0  # ceil(2000 / 64) = 32 steps an epoch
    assert c.val_s == pytest.approx(5 * 5000 * 0.001)  # after epochs 5, 10, ..., 25
    # once at T_s, once at the teacher's T_t = 4 (recorded for figure 3), costed in proportion
    assert c.test_s == pytest.approx(10000 * 0.001 * (1 + 4 / 2))
    assert c.neurobench_s == 0 and c.compile_s == 0  # neither asked for
    assert c.total_s == pytest.approx(c.train_s + c.val_s + c.test_s)


def test_without_validation_the_test_set_is_the_curve():
    cfg, shape = _cfg(data={"options": {"train_per_class": 200}})
    c = run_cost(cfg, shape, STEP)
    assert shape.n_val == 0 and c.val_s == 0
    assert c.test_s == pytest.approx(5 * 10000 * 0.001 + 10000 * 0.001 * 4 / 2)  # + T_t once


def test_neurobench_extra_timesteps_and_compile_are_counted_when_a_run_does_them():
    cfg, shape = _cfg(
        eval={"neurobench": True, "neurobench_samples": 1000, "timesteps": [4, 8]},
        runtime={"compile": True},
    )
    c = run_cost(cfg, shape, STEP, neurobench=True)
    assert c.neurobench_s == pytest.approx(1000 * NEUROBENCH_EVAL_FACTOR * 0.001)
    # one test pass at T_s plus one at each extra T (T_t = 4 among them), in proportion to T
    assert c.test_s == pytest.approx(10000 * 0.001 * (1 + 4 / 2 + 8 / 2))
    assert c.compile_s == 7.0  # the warm compile; the cold one is counted once per graph
    # NeuroBench not installed: the run skips it, and so does its cost
    assert run_cost(cfg, shape, STEP, neurobench=False).neurobench_s == 0


@pytest.mark.parametrize(
    ("kind", "student_input", "steps"),
    [
        ("static", "auto", 4),  # the student is the prefix of the T_t pass
        ("static", "reframe", 6),  # a T_s pass of its own (the study's student_pass)
        ("event", "auto", 6),  # events: reframed, a second pass
        ("event", "prefix", 4),  # the study's student_prefix
    ],
)
def test_the_cost_model_counts_the_student_pass_where_a_run_makes_one(kind, student_input, steps):
    from tssd.methods import METHODS, MethodConfig

    m = MethodConfig(name="tssd", t_s=2, t_t=4, student_input=student_input)
    assert METHODS["tssd"].sample_steps(m, kind == "event") == steps
    baseline = MethodConfig(name="baseline", t_s=2)
    assert METHODS["baseline"].sample_steps(baseline, kind == "event") == 2
