"""What a run costs: the one estimate of a run's wall time, from the cost of its steps.

``python -m bench run ... --dry-run`` prices every run with it, from the profile's cost model
(seconds per sample and timestep) or, with ``--estimate``, from training steps measured on this
machine (:mod:`tssd.calibrate`); the harness's progress line turns it into an ETA. Both sources
give a :class:`StepCost`; :func:`run_cost` counts what a run does with it, the way
:func:`tssd.train.train` does it:

* ``epochs x ceil(n_train / batch)`` training steps;
* evaluations: with a validation split, validation every ``eval.every`` epochs and after the
  last, and the test set once after the last epoch; without one, the test set when due;
  ``eval.timesteps`` and a teacher's T_t add one test pass per extra T (its cost scaled by T / T_s);
* NeuroBench after training (``eval.neurobench``, when installed): ``neurobench_samples`` test
  images at about 5x a plain evaluation (:class:`tssd.config.EvalConfig`);
* ``runtime.compile``: a warm compile of the step's graphs per run (the compile cache holds them
  after the first run of their kind; the first one is a cold compile, which the harness counts
  once per distinct graph).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, fields

NEUROBENCH_EVAL_FACTOR = 5.0
"""A NeuroBench pass costs about 5x a plain evaluation of the same images (measured 4.5-5.5x on
one thread: it runs every layer again on binarised copies)."""


@dataclass(frozen=True)
class StepCost:
    """The cost of a run's units of work on one machine, in seconds."""

    train_step_s: float
    """One training step (forward, backward, optimiser) of ``data.batch_size`` samples."""
    eval_image_s: float
    """One image through the deployed network at T_s, no gradient."""
    warm_compile_s: float = 0.0
    """Compiling the step when the compile cache holds its graphs (``runtime.compile``)."""
    cold_compile_s: float = 0.0
    """Compiling the step with nothing cached."""
    startup_s: float = 0.0
    """Process start, imports, data loading."""


@dataclass(frozen=True)
class RunCost:
    """A run's estimated seconds, by what they are spent on."""

    startup_s: float
    train_s: float
    val_s: float
    test_s: float
    neurobench_s: float
    compile_s: float

    @property
    def total_s(self) -> float:
        """Every part together."""
        return sum(getattr(self, f.name) for f in fields(self))


def neurobench_installed() -> bool:
    """Whether a run will measure NeuroBench metrics after training (the optional extra)."""
    return importlib.util.find_spec("neurobench") is not None


def evaluations_due(epochs: int, every: int) -> int:
    """Epochs after which :func:`tssd.train.train` evaluates: every ``every``-th and the last."""
    return epochs // every + (epochs % every > 0)


def run_cost(cfg, shape, cost: StepCost, *, neurobench: bool | None = None) -> RunCost:
    """The cost of run ``cfg`` (a :class:`tssd.config.RunConfig`) on data of ``shape`` (a
    :class:`tssd.data.base.DatasetShape`); ``neurobench``: whether it is installed (None: look)."""
    epochs, every = cfg.optim.epochs, max(1, cfg.eval.every)
    steps = epochs * math.ceil(shape.n_train / cfg.data.batch_size)
    due = evaluations_due(epochs, every)
    image = cost.eval_image_s
    if shape.n_val:
        val_images, test_images = due * shape.n_val, shape.n_test
    else:
        val_images, test_images = 0, due * shape.n_test
    t_s = cfg.method.t_s
    test_images += sum(shape.n_test * t / t_s for t in cfg.extra_eval_timesteps())
    if neurobench is None:
        neurobench = neurobench_installed()
    nb = 0.0
    if cfg.eval.neurobench and neurobench:
        samples = cfg.eval.neurobench_samples or shape.n_test
        nb = min(samples, shape.n_test) * NEUROBENCH_EVAL_FACTOR * image
    return RunCost(
        startup_s=cost.startup_s,
        train_s=steps * cost.train_step_s,
        val_s=val_images * image,
        test_s=test_images * image,
        neurobench_s=nb,
        compile_s=cost.warm_compile_s if cfg.runtime.compile else 0.0,
    )
