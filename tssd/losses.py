"""Loss terms of TSSD as pure functions of logits: ``L = L_task + alpha*L_tsd + beta*L_ssd``."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mean_logits(seq: torch.Tensor, steps: int | None = None) -> torch.Tensor:
    """Rate read-out: mean of the per-step logits ``[T, B, K]`` over the first ``steps`` steps."""
    return (seq if steps is None else seq[:steps]).mean(0)


def task_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the (time-averaged) output ``[B, K]``."""
    return F.cross_entropy(logits, target)


def distill_kl(
    student: torch.Tensor,
    teacher: torch.Tensor,
    temperature: float = 2.0,
    detach_teacher: bool = True,
) -> torch.Tensor:
    """``tau^2 * KL(softmax(teacher/tau) || softmax(student/tau))``, averaged over the batch.

    The tau^2 factor keeps the gradient scale independent of the temperature (Hinton et al.). With
    ``detach_teacher`` the teacher distribution is a constant target: no gradient reaches it.
    """
    if detach_teacher:
        teacher = teacher.detach()
    log_p_s = F.log_softmax(student / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher / temperature, dim=-1)
    kl = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
    return kl * temperature**2


tsd_loss = distill_kl
"""Temporal self-distillation: the T_s output (``student``) learns from the same network's T_t
output (``teacher``) by :func:`distill_kl`, under its own name in the methods and tests."""


def ssd_loss(weak: torch.Tensor, final: torch.Tensor, temperature: float = 2.0) -> torch.Tensor:
    """Spatial self-distillation: the weak intermediate classifier learns the final output
    (always detached: the final output is the target, never pulled toward the weak head).
    """
    return distill_kl(weak, final, temperature, detach_teacher=True)
