"""The public surface of ``tssd``: every name the harness in ``bench/`` may use, and nothing else.

``bench`` imports only this module (``tests/test_bench_layout.py`` parses every import of
``bench/``, function-level ones included, and checks it). A name here is a promise: its home
module may move or be split, and only the table below changes.

Importing this module imports nothing else. Each name is looked up in its home module when it
is first read (the module ``__getattr__`` below), so ``from tssd.api import atomic_write_text``
loads :mod:`tssd.fileio` alone, and ``bench render`` stays torch-free. The names are in two
tables: :data:`TORCH_FREE` (reading them never imports torch; ``tests/test_torch_free.py``
checks it) and :data:`TORCH` (they live beside torch code). Nothing is cached here: a name is
read from its home module every time, so a test that patches the home module patches what
``bench`` sees.
"""

from __future__ import annotations

import importlib
from typing import Any

TORCH_FREE: dict[str, str] = {
    "atomic_write_text": "tssd.fileio",
    "config_hash": "tssd.hashing",
    "ConfigError": "tssd.errors",
    "RunFailed": "tssd.errors",
    "cpu_name": "tssd.host",
    "git_state": "tssd.host",
    "PARALLEL_RUNS_ENV": "tssd.host",
    "Builder": "tssd.typed",
    "parse_assignment": "tssd.typed",
    "read_yaml_file": "tssd.typed",
    "set_dotted": "tssd.typed",
    "HARNESS_ERROR": "tssd.rundir",
    "RunDir": "tssd.rundir",
    "RunState": "tssd.rundir",
    "TERMINAL": "tssd.rundir",
    "StepCost": "tssd.cost",
    "run_cost": "tssd.cost",
    "load_plugins": "tssd.plugins",
    "from_dict": "tssd.config",
    "RunConfig": "tssd.config",
    "load_config": "tssd.config",
    "METHODS": "tssd.methods",
    "DATASETS": "tssd.data",
    "DataError": "tssd.data",
    "DatasetUnavailable": "tssd.data",
    "shape_of": "tssd.data",
    "MODELS": "tssd.models",
    "BACKENDS": "tssd.neurons.registry",
}
"""Name -> home module, for names whose home imports no torch: files, hashing, host facts,
typed YAML, run directories, the cost arithmetic, the plugin loader, the run config and the
registries (methods, datasets, models, neuron backends: declarations whose torch code is
imported when a run is built), so the harness plans, hashes and reports without torch."""

TORCH: dict[str, str] = {
    "calibrate": "tssd.calibrate",
    "CalibrationFailed": "tssd.calibrate",
    "estimate": "tssd.calibrate",
    "torch_threads": "tssd.runtime",
    "train": "tssd.train",
    "read_summary": "tssd.train",
    "accuracy_at": "tssd.evaluate",
}
"""Name -> home module, for names that live beside torch code: calibration, training and
evaluation."""

TRAIN_MODULES: tuple[str, ...] = (
    "tssd.train",
    "tssd.steps",
    "tssd.models.micro",
    "tssd.models.resnet",
    "tssd.models.vgg",
    "tssd.data.digits",
    "tssd.data.digits_dvs",
    "tssd.data.mnist",
    "tssd.data.fashion_dvs",
    "tssd.data.cifar",
    "tssd.data.imagenet",
    "tssd.data.cifar10_dvs",
    "tssd.data.dvs_gesture",
)
"""The modules a training process imports: the trainer and the torch code the registries
declare by name (every built-in step, network and loader; tests/test_torch_free.py checks the
list against the registries), so a fork server that imports them once starts each run without
paying for torch and the registries again."""

__all__ = sorted([*TORCH_FREE, *TORCH, "TRAIN_MODULES"])


def __getattr__(name: str) -> Any:
    home = TORCH_FREE.get(name) or TORCH.get(name)
    if home is None:
        raise AttributeError(f"module 'tssd.api' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
