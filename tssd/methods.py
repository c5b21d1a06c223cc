"""Training methods as step functions: ``baseline``, ``tsd``, ``ssd`` and ``tssd``.

A step function takes the network, the weak head (or None), a batch and the method config and
returns the total loss with its terms. Registered by name in :data:`METHODS`; later methods (KD from
an external teacher, TET, ...) register the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn

from tssd.config import MethodConfig
from tssd.data.base import to_sequence
from tssd.losses import distill_kl, mean_logits, ssd_loss, task_loss, tsd_loss


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


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its step and what it needs built."""

    step: StepFn
    uses_weak_head: bool
    uses_teacher_steps: bool
    uses_external_teacher: bool = False


def student_input_mode(cfg: MethodConfig, input_kind: str) -> str:
    """Resolve ``student_input: auto``: one pass (prefix) for static input, reframe for events."""
    if cfg.student_input != "auto":
        return cfg.student_input
    return "prefix" if input_kind == "static" else "reframe"


def self_distillation_step(
    ctx: StepContext, x, y: torch.Tensor, *, use_tsd: bool, use_ssd: bool
) -> StepOutput:
    """One step of baseline / TSD / SSD / TSSD (the four differ only by the two switches)."""
    m, model = ctx.cfg, ctx.model
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
    if use_tsd:
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


METHODS: dict[str, MethodSpec] = {
    "baseline": MethodSpec(
        partial(self_distillation_step, use_tsd=False, use_ssd=False), False, False
    ),
    "tsd": MethodSpec(partial(self_distillation_step, use_tsd=True, use_ssd=False), False, True),
    "ssd": MethodSpec(partial(self_distillation_step, use_tsd=False, use_ssd=True), True, False),
    "tssd": MethodSpec(partial(self_distillation_step, use_tsd=True, use_ssd=True), True, True),
    "kd": MethodSpec(kd_step, False, False, uses_external_teacher=True),
}
"""Registered methods. ``baseline``: CE on the mean logits over t_s. ``tsd``: + alpha*L_tsd from the
t_t teacher. ``ssd``: + beta*L_ssd into the weak head (target: the student output). ``tssd``: both.
``kd``: + kd_weight*L_kd from an external teacher run (the comparison rows of table 5)."""


def register_method(name: str, spec: MethodSpec) -> None:
    """Add a method (e.g. KD from an external teacher) under ``name``."""
    if name in METHODS:
        raise ValueError(f"method {name!r} registered twice")
    METHODS[name] = spec
