"""Test accuracy of a finished run's deployed network at any number of timesteps.

``python -m tssd evaluate RUN_DIR... [--timesteps 2,4]`` (default: the run's T_s and, for a method
with a teacher, its T_t). It answers the question the reconstruction study needs: is the network run
for T_t steps, the "teacher" of temporal self-distillation, more accurate than the same network at
T_s? A teacher whose extra timesteps are never trained is not.

The network is rebuilt from ``inference.pt`` (no weak head, as deployed), the test split from the
run's own ``config.yaml`` (event data framed once per asked T), in eval mode on CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tssd.config import ConfigError, load_config
from tssd.data import build_dataset, iterate_batches
from tssd.errors import RunFailed
from tssd.export import load_inference
from tssd.losses import mean_logits
from tssd.methods import METHODS
from tssd.models import to_sequence
from tssd.rundir import RunDir


def verified(run_dir: Path):
    """The summary of ``run_dir`` after :meth:`tssd.rundir.RunDir.verify` (config.yaml,
    summary.json and checkpoint.pt of one config, every file of a finished run present).

    Raises:
        ConfigError: "not a finished run of this config", naming the directory and why.
    """
    try:
        return RunDir(run_dir).verify()
    except RunFailed as exc:
        raise ConfigError(str(exc)) from None


def check_inference_hash(run_dir: Path, model, config_hash: str) -> None:
    """Refuse an ``inference.pt`` exported from another config than the run's.

    Raises:
        ConfigError: naming the file and both hashes.
    """
    got = model.meta.get("config_hash")
    if got != config_hash:
        raise ConfigError(
            RunDir(run_dir).refusal(f"inference.pt is of config {got}, summary.json {config_hash}")
        )


@torch.no_grad()
def accuracy_at(
    run_dir: str | Path, timesteps: tuple[int, ...] = (), batch_size: int = 500, split: str = "test"
) -> dict[int, float]:
    """Accuracy (%) of the run's exported network at each of ``timesteps`` on its test split
    (or ``split="val"``: its validation split, for choices that must not look at test).

    Raises:
        ConfigError: ``run_dir`` is not a finished run (no ``config.yaml`` or ``inference.pt``),
            a timestep is below 1, or ``split="val"`` for a run without a validation split; the
            message names the file or key.
    """
    run_dir = Path(run_dir)
    for name in ("config.yaml", "inference.pt"):
        if not (run_dir / name).is_file():
            raise ConfigError(f"{run_dir / name}: not found (expected a finished run directory)")
    summary = verified(run_dir)
    cfg = load_config(str(run_dir / "config.yaml"))
    # default: T_s, and T_t where the run's method runs a teacher pass
    timesteps = tuple(timesteps) or METHODS[cfg.method.name].timesteps(cfg.method)
    if any(t < 1 for t in timesteps):
        raise ConfigError(f"--timesteps: got {list(timesteps)}, expected integers >= 1")
    bundle = build_dataset(cfg.data, tuple(sorted(set(timesteps))))
    test = bundle.val if split == "val" else bundle.test
    if test is None:
        raise ConfigError(
            f"{run_dir / 'config.yaml'}: key 'data.options.val_per_class': the run has no "
            "validation split; expected a run trained with val_per_class > 0 (or --split test)"
        )
    try:
        model = load_inference(run_dir / "inference.pt")
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    check_inference_hash(run_dir, model, summary.config_hash)
    net = model.net.eval()
    acc = {}
    for t in timesteps:
        correct = seen = 0
        for x, y in iterate_batches(test, batch_size):
            logits = mean_logits(net(to_sequence(x, t)).logits)
            correct += int((logits.argmax(-1) == y).sum())
            seen += len(y)
        acc[t] = 100.0 * correct / seen
    return acc
