"""Training methods, declared: ``baseline``, ``tsd``, ``ssd``, ``tssd``, ``kd`` and the control
``ce_tt``.

Each method is registered by name in :data:`METHODS` as a :class:`MethodSpec`: its step function
(for the built-in ones a :class:`~tssd.deferred.Deferred` naming it in :mod:`tssd.steps`, the torch
code, imported when a run trains) and what the rest of the suite needs to know about it: the
loss terms it reports (the columns of ``epochs.csv``), the method-dependent config fields it
reads (the others are reset to their defaults before hashing, so a run's cache key ignores them)
and the timesteps it needs (the framings of event data). This module imports no torch, so a run
is validated, hashed and planned without it. Nothing else tests method names; a method added with
:func:`register_method` (from a plugin, :mod:`tssd.plugins`) is validated, framed, hashed and
logged like a built-in one. The method section of a run config, :class:`MethodConfig`, lives here
with the methods that read it. ``StepContext``, ``StepOutput`` and the built-in steps are
:mod:`tssd.steps`'s, also read from here (on first use) so a plugin imports one module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tssd.deferred import Deferred


@dataclass
class MethodConfig:
    """Which training method runs and its distillation settings (PAPER.md, "The method").

    The reconstruction study (bench/experiments/reconstruction.yaml, results in
    results/small/REPORT.md) varies each [choice] field alone from its default, and the rule in
    that file's header decides whether a default moves."""

    name: str = "tssd"
    """A method registered in :data:`METHODS` (baseline, tsd, ssd, tssd, ce_tt, kd)."""
    t_s: int = 2
    """Student timesteps: the timesteps used at inference."""
    t_t: int = 4
    """Teacher timesteps (> t_s) for the methods with a teacher pass; ignored by the others.

    The experiments derive it as 2 t_s [choice] (the study's ``tt_short``: 1.5 t_s)."""
    alpha: float = 1.0
    """Weight of the temporal self-distillation loss L_tsd [choice]."""
    beta: float = 1.0
    """Weight of the spatial self-distillation loss L_ssd [choice]."""
    kd_temperature: float = 2.0
    """Softmax temperature tau_kd of both KL terms; the loss is scaled by tau_kd^2 [choice].

    2, the usual value (PAPER.md; the study's ``kd_t4``: 4)."""
    detach_teacher: bool = True
    """Stop gradients through the teacher distribution in L_tsd (and the SSD target) [choice].

    True: the paper's L_tsd takes the teacher as a fixed target (PAPER.md), and the study's rule
    never moves a default against the paper's text on accuracy alone (``no_detach``: false)."""
    student_input: Literal["auto", "prefix", "reframe"] = "auto"
    """How the student sees event data: 'prefix' = first t_s frames of the t_t framing (one pass),
    'reframe' = the stream integrated into t_s frames (two passes). 'auto': prefix for static input
    (exact there), reframe for event input [choice].

    On events a prefix student sees only the first t_s/t_t of the stream, hence reframe there
    (the study's ``student_prefix``); on static input the prefix is exact and costs one pass (the
    study's ``student_pass`` runs the student alone)."""
    ssd_target: Literal["teacher", "student"] = "teacher"
    """What the weak classifier matches: the final teacher output (t_t) or the student output
    (t_s). The weak head is averaged over the same timesteps as its target. The ssd method alone
    has no teacher and always uses the student [choice].

    The teacher: the paper's weak classifier matches the network's final output (the study's
    ``ssd_target_student``: the student)."""
    task_on_teacher: bool = True
    """Add cross-entropy on the teacher output (the network run for t_t steps) to L_task [choice].

    True: the paper's teacher is the network run for t_t steps, and read literally (false, the
    study's ``literal``: cross-entropy on the student only, teacher detached) no loss term trains
    the outputs after step t_s, so that teacher can fall below its own student. Whether it stays
    true is decided by the rule in bench/experiments/reconstruction.yaml, on the study's results
    (results/small/REPORT.md)."""
    teacher: str = ""
    """kd only: the external teacher, as the config hash of a finished run under
    ``runtime.runs_root`` or a path to its run directory or ``inference.pt``."""
    kd_weight: float = 1.0
    """kd only: weight of the KL term toward the external teacher."""


METHOD_FIELDS = (
    "method.t_t",
    "method.alpha",
    "method.beta",
    "method.kd_temperature",
    "method.detach_teacher",
    "method.student_input",
    "method.ssd_target",
    "method.task_on_teacher",
    "method.teacher",
    "method.kd_weight",
    "model.weak_head",
)
"""The config fields only some methods read: every ``method.*`` field but ``name`` and ``t_s``
(which every method reads), and the weak head. A :class:`MethodSpec` says which of these it reads;
tests/test_methods.py checks this list against :class:`MethodConfig`."""


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its step, what it needs built, and the facts the suite reads."""

    step: Callable[..., Any]
    """``step(ctx, x, y) -> StepOutput``: a function, or a :class:`~tssd.deferred.Deferred`
    naming one (imported on its first call; :class:`tssd.train.StepModule` trains the function
    itself)."""
    uses_weak_head: bool
    """Build the weak classifier of spatial self-distillation (trained with the network)."""
    uses_teacher_steps: bool
    """The step also runs the network over ``method.t_t`` timesteps (the temporal teacher): the
    config must have ``t_t > t_s`` and event data is framed into ``t_t`` frames as well."""
    uses_external_teacher: bool = False
    """The step distils from a frozen, separately trained run named by ``method.teacher``."""
    loss_terms: tuple[str, ...] = ("task",)
    """The terms the step reports in :attr:`StepOutput.terms`, in column order (epochs.csv has
    a ``loss_<term>`` column for each; a term not declared here stops the run)."""
    reads: tuple[str, ...] | None = None
    """The :data:`METHOD_FIELDS` the step (or what it builds) reads. The others are reset to
    their defaults in :meth:`tssd.config.RunConfig.semantic_dict`, so they change no config
    hash. None: every field (a method that declares nothing keeps all of them in its hash)."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.reads or ()) - set(METHOD_FIELDS))
        if unknown:
            raise ValueError(
                f"MethodSpec.reads: {unknown} are not method-dependent config fields; expected "
                f"some of {', '.join(METHOD_FIELDS)}"
            )
        if not self.loss_terms or len(set(self.loss_terms)) != len(self.loss_terms):
            raise ValueError(
                f"MethodSpec.loss_terms: got {self.loss_terms!r}, expected distinct term names"
            )

    def unread_fields(self) -> tuple[str, ...]:
        """The :data:`METHOD_FIELDS` this method never reads (reset before hashing)."""
        if self.reads is None:
            return ()
        return tuple(f for f in METHOD_FIELDS if f not in self.reads)

    def timesteps(self, cfg: MethodConfig) -> tuple[int, ...]:
        """The framings of the input one training step needs: ``t_s``, and ``t_t`` for a method
        with teacher steps (an external teacher's own framing is added by the trainer)."""
        return tuple(sorted({cfg.t_s, cfg.t_t} if self.uses_teacher_steps else {cfg.t_s}))

    def sample_steps(self, cfg: MethodConfig, event: bool) -> int:
        """Timesteps simulated per training sample, the unit of the harness's cost model: the
        student is the prefix of one ``t_t`` pass, or a pass of its own (``reframe``: events
        under ``student_input: auto``, static data when set); an external teacher's forward
        counts as ``t_s``."""
        t_s, t_t = cfg.t_s, cfg.t_t
        if self.uses_teacher_steps:
            mode = student_input_mode(cfg, "event" if event else "static")
            return t_s + t_t if mode == "reframe" else t_t
        if self.uses_external_teacher:
            return 2 * t_s
        return t_s


def student_input_mode(cfg: MethodConfig, input_kind: str) -> str:
    """Resolve ``student_input: auto``: one pass (prefix) for static input, reframe for events."""
    if cfg.student_input != "auto":
        return cfg.student_input
    return "prefix" if input_kind == "static" else "reframe"


_SELF_DISTILLATION = (
    "method.kd_temperature",
    "method.detach_teacher",
    "method.student_input",
    "method.task_on_teacher",
)
"""What the temporal teacher pass reads besides t_t and alpha."""

METHODS: dict[str, MethodSpec] = {
    "baseline": MethodSpec(
        Deferred("tssd.steps:self_distillation_step", use_tsd=False, use_ssd=False),
        uses_weak_head=False,
        uses_teacher_steps=False,
        loss_terms=("task",),
        reads=(),
    ),
    "tsd": MethodSpec(
        Deferred("tssd.steps:self_distillation_step", use_tsd=True, use_ssd=False),
        uses_weak_head=False,
        uses_teacher_steps=True,
        loss_terms=("task", "tsd"),
        reads=("method.t_t", "method.alpha", *_SELF_DISTILLATION),
    ),
    "ssd": MethodSpec(
        Deferred("tssd.steps:self_distillation_step", use_tsd=False, use_ssd=True),
        uses_weak_head=True,
        uses_teacher_steps=False,
        loss_terms=("task", "ssd"),
        # without a teacher the weak head always matches the student: ssd_target is not read
        reads=("method.beta", "method.kd_temperature", "model.weak_head"),
    ),
    "tssd": MethodSpec(
        Deferred("tssd.steps:self_distillation_step", use_tsd=True, use_ssd=True),
        uses_weak_head=True,
        uses_teacher_steps=True,
        loss_terms=("task", "tsd", "ssd"),
        reads=(
            "method.t_t",
            "method.alpha",
            "method.beta",
            *_SELF_DISTILLATION,
            "method.ssd_target",
            "model.weak_head",
        ),
    ),
    # The control that attributes TSSD's gain: cross-entropy at T_s and at T_t (the default
    # TSSD's task loss), alpha = beta = 0. If TSSD is no better than this, its gain comes from
    # supervising more timesteps, not from distillation.
    "ce_tt": MethodSpec(
        Deferred("tssd.steps:self_distillation_step", use_tsd=True, use_ssd=False, distill=False),
        uses_weak_head=False,
        uses_teacher_steps=True,
        loss_terms=("task",),
        reads=("method.t_t", "method.student_input"),
    ),
    "kd": MethodSpec(
        Deferred("tssd.steps:kd_step"),
        uses_weak_head=False,
        uses_teacher_steps=False,
        uses_external_teacher=True,
        loss_terms=("task", "kd"),
        reads=("method.kd_temperature", "method.teacher", "method.kd_weight"),
    ),
}
"""Registered methods. ``baseline``: CE on the mean logits over t_s. ``tsd``: + alpha*L_tsd from the
t_t teacher. ``ssd``: + beta*L_ssd into the weak head (target: the student output). ``tssd``: both.
``kd``: + kd_weight*L_kd from an external teacher run (the comparison rows of table 5).
``ce_tt``: the control, CE on the student and on the t_t output, nothing distilled.
tests/test_bench_expand.py checks that changing the fields a method does not read leaves its
numbers unchanged."""

BUILTIN_LOSS_TERMS: tuple[str, ...] = tuple(
    dict.fromkeys(t for spec in METHODS.values() for t in spec.loss_terms)
)
"""The built-in methods' terms (task, tsd, ssd, kd): every epochs.csv has a ``loss_<term>`` column
for each (NaN where the run's method has no such term), the format of every run directory written
before methods declared their terms. A method's other terms add columns after them."""


def loss_columns(spec: MethodSpec) -> tuple[str, ...]:
    """The loss terms epochs.csv holds for a run of ``spec``: the built-in ones, then its own."""
    return BUILTIN_LOSS_TERMS + tuple(t for t in spec.loss_terms if t not in BUILTIN_LOSS_TERMS)


def register_method(name: str, spec: MethodSpec) -> None:
    """Add a method under ``name`` (a plugin's way in, :mod:`tssd.plugins`).

    Raises:
        ValueError: ``name`` is registered already.
    """
    if name in METHODS:
        raise ValueError(f"method {name!r} registered twice")
    METHODS[name] = spec


STEP_NAMES = ("StepContext", "StepOutput", "StepFn", "self_distillation_step", "kd_step")
"""Names of :mod:`tssd.steps` also read from this module (imported on first read)."""


def __getattr__(name: str) -> Any:
    if name in STEP_NAMES:
        return getattr(importlib.import_module("tssd.steps"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
