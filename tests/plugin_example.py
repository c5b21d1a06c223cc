"""An example plugin: a method and a dataset added without editing the suite (see test_plugins).

Name this file in ``TSSD_PLUGINS`` (``TSSD_PLUGINS=/path/to/plugin_example.py``) and
``python -m tssd train``, ``python -m bench run`` and every worker they start know:

* the method ``tsd_mse``: temporal self-distillation with a mean-squared error between the
  student's (``t_s``) and the teacher's (``t_t``) mean logits, in place of TSD's KL term. It has
  teacher steps (so ``t_t > t_s`` is checked and event data is framed into ``t_t`` frames too),
  reports its own loss term (an epochs.csv column ``loss_tsd_mse``) and reads ``t_t`` and
  ``alpha`` only (so ``method.beta`` changes no config hash);
* the dataset ``tiny_blobs``: 3 classes of 8x8 grey images, a bright bar whose row is the class,
  in Gaussian noise (90 training and 30 test images, fixed for every run), one option ``noise``.

Not collected by pytest (the name does not start with ``test_``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tssd.data import DATASETS, DataBundle, DatasetInfo, TensorSplit, register_dataset
from tssd.data.status import DatasetStatus
from tssd.losses import mean_logits, task_loss
from tssd.methods import MethodSpec, StepContext, StepOutput, register_method
from tssd.models import to_sequence

# ---- the method -------------------------------------------------------------------------------


def tsd_mse_step(ctx: StepContext, x, y: torch.Tensor) -> StepOutput:
    """``L = CE(student) + alpha * MSE(student logits, teacher logits)``, the teacher being the same
    network over ``t_t`` timesteps (no gradient through it)."""
    m = ctx.cfg
    student = mean_logits(ctx.model(to_sequence(x, m.t_s)).logits)
    with torch.no_grad():
        teacher = mean_logits(ctx.model(to_sequence(x, m.t_t)).logits)
    terms = {"task": task_loss(student, y), "tsd_mse": F.mse_loss(student, teacher)}
    loss = terms["task"] + m.alpha * terms["tsd_mse"]
    return StepOutput(loss, {k: v.detach() for k, v in terms.items()}, student.detach())


register_method(
    "tsd_mse",
    MethodSpec(
        tsd_mse_step,
        uses_weak_head=False,
        uses_teacher_steps=True,
        loss_terms=("task", "tsd_mse"),
        reads=("method.t_t", "method.alpha"),
    ),
)

# ---- the dataset ------------------------------------------------------------------------------

N_TRAIN, N_TEST, CLASSES = 90, 30, 3


def _images(n: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % CLASSES
    x = noise * torch.randn(n, 1, 8, 8, generator=g)
    for c in range(CLASSES):
        x[y == c, 0, 2 * c + 1 : 2 * c + 3, 1:7] += 1.0
    return x, y


def check(root: str, deep: bool = False) -> DatasetStatus:
    """Generated in memory: always present."""
    return DatasetStatus(
        "tiny_blobs",
        present=True,
        complete=True,
        valid=True,
        where="generated (tests/plugin_example.py)",
        counts={"train": N_TRAIN, "test": N_TEST},
    )


@register_dataset(
    "tiny_blobs",
    kind="static",
    num_classes=CLASSES,
    in_channels=1,
    input_size=8,
    n_train=N_TRAIN,
    n_test=N_TEST,
    options={"noise": 0.3},
    default_split="90 train / 30 test, generated with seeds 0 and 1",
    check=check,
)
def tiny_blobs(cfg, timesteps: tuple[int, ...]) -> DataBundle:
    """The whole dataset, in memory."""
    opts = DATASETS["tiny_blobs"].resolve_options(cfg.options)
    xtr, ytr = _images(N_TRAIN, opts["noise"], seed=0)
    xte, yte = _images(N_TEST, opts["noise"], seed=1)
    info = DatasetInfo("tiny_blobs", "static", CLASSES, 1, 8, "generated 90/30 (seeds 0, 1)")
    return DataBundle(info, TensorSplit(xtr, ytr), TensorSplit(xte, yte))
