"""The methods' step functions: the torch code of ``baseline``, ``tsd``, ``ssd``, ``tssd``, ``kd``
and the control ``ce_tt``, which :data:`tssd.methods.METHODS` declares by name.

A step function takes the network, the weak head (or None), a batch and the method config and
returns the total loss with its terms. The declarations (loss terms, fields read, teacher steps)
live in :mod:`tssd.methods`, which imports no torch, so a run is planned and hashed without this
module; it is imported when a run trains (:class:`tssd.deferred.Deferred`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from tssd.losses import distill_kl, mean_logits, ssd_loss, task_loss, tsd_loss
from tssd.methods import MethodConfig, student_input_mode
from tssd.models.base import to_sequence


@dataclass
class StepOutput:
    """What one training step produced."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    """Each loss term (detached), e.g. task, tsd, ssd."""
    student: torch.Tensor | None = None
    """The student output ``[B, K]`` (the deployed network's prediction)."""


@dataclass
class StepContext:
    """Everything a step needs besides the batch."""

    model: nn.Module
    head: nn.Module | None
    cfg: MethodConfig
    feature_stage: int | None
    input_kind: str  # static | event
    teacher: nn.Module | None = None
    """kd only: the frozen external teacher (an :class:`tssd.export.InferenceModel`)."""


StepFn = Callable[[StepContext, object, torch.Tensor], StepOutput]


def self_distillation_step(
    ctx: StepContext, x, y: torch.Tensor, *, use_tsd: bool, use_ssd: bool, distill: bool = True
) -> StepOutput:
    """One step of baseline / TSD / SSD / TSSD (the four differ only by the two switches), or,
    with ``use_tsd`` and ``distill=False``, of the control ``ce_tt``: the T_t pass is run and
    supervised by cross-entropy like the student, and nothing is distilled."""
    m, model = ctx.cfg, ctx.model
    if not distill:
        # the control's definition: task loss on both outputs, the teacher never detached from
        # it, and no KL term (so alpha, kd_temperature and detach_teacher are not read)
        from dataclasses import replace

        m = replace(m, task_on_teacher=True, detach_teacher=True)
    ts, tt = m.t_s, m.t_t
    fs = ctx.feature_stage if use_ssd else None
    teacher_seq = None
    weak_seq = None  # head output over the timesteps of the SSD target

    if not use_tsd:
        out = model(to_sequence(x, ts), feature_stage=fs)
        student_seq = out.logits
        if use_ssd:
            weak_seq = ctx.head(out.feature)
    elif student_input_mode(m, ctx.input_kind) == "prefix":
        # One pass of t_t steps: the first t_s steps are exactly a t_s run (LIF is causal and the
        # static input is the same each step), so student and teacher come from the same pass.
        out = model(to_sequence(x, tt), feature_stage=fs)
        student_seq, teacher_seq = out.logits[:ts], out.logits
        if use_ssd:
            feat = out.feature if m.ssd_target == "teacher" else out.feature[:ts]
            weak_seq = ctx.head(feat)
    else:
        # Reframe (event data): the student sees the stream in t_s frames, the teacher in t_t.
        s_fs = fs if m.ssd_target == "student" else None
        t_fs = fs if m.ssd_target == "teacher" else None
        s_out = model(to_sequence(x, ts), feature_stage=s_fs)
        teacher_needs_grad = (
            not m.detach_teacher or m.task_on_teacher or (use_ssd and m.ssd_target == "teacher")
        )
        with torch.set_grad_enabled(teacher_needs_grad and torch.is_grad_enabled()):
            t_out = model(to_sequence(x, tt), feature_stage=t_fs)
        student_seq, teacher_seq = s_out.logits, t_out.logits
        if use_ssd:
            weak_seq = ctx.head(t_out.feature if t_fs is not None else s_out.feature)

    student = mean_logits(student_seq)
    terms = {"task": task_loss(student, y)}
    teacher = mean_logits(teacher_seq) if teacher_seq is not None else None
    if m.task_on_teacher and teacher is not None:
        terms["task"] = terms["task"] + task_loss(teacher, y)
    loss = terms["task"]
    if use_tsd and distill:
        terms["tsd"] = tsd_loss(student, teacher, m.kd_temperature, m.detach_teacher)
        loss = loss + m.alpha * terms["tsd"]
    if use_ssd:
        target = teacher if (teacher is not None and m.ssd_target == "teacher") else student
        terms["ssd"] = ssd_loss(mean_logits(weak_seq), target, m.kd_temperature)
        loss = loss + m.beta * terms["ssd"]
    return StepOutput(loss, {k: v.detach() for k, v in terms.items()}, student.detach())


def kd_step(ctx: StepContext, x, y: torch.Tensor) -> StepOutput:
    """Knowledge distillation from an external, frozen teacher (an ANN of the same architecture or
    a larger SNN, trained first): ``L = CE(student) + kd_weight * L_kd``.
    """
    m = ctx.cfg
    student = mean_logits(ctx.model(to_sequence(x, m.t_s)).logits)
    with torch.no_grad():
        t_in = x if isinstance(x, torch.Tensor) else x[ctx.teacher.timesteps].contiguous()
        teacher = ctx.teacher(t_in)
    terms = {"task": task_loss(student, y), "kd": distill_kl(student, teacher, m.kd_temperature)}
    loss = terms["task"] + m.kd_weight * terms["kd"]
    return StepOutput(loss, {k: v.detach() for k, v in terms.items()}, student.detach())
