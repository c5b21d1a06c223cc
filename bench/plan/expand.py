"""Experiment x profile -> cells -> hashed run configs. Grid points that map to one stand-in
are one cell (``stands_for`` keeps the paper's names); a run shared by cells or tables is planned
once, hashed on its canonical :class:`tssd.config.RunConfig`."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.plan.schema import (
    AXIS_KEYS,
    MAPPED_AXES,
    Experiment,
    Profile,
    Scalar,
    SpecError,
    evaluate,
    rel,
)

if TYPE_CHECKING:
    from tssd.api import RunConfig


@dataclass
class PlannedRun:
    """One training run of the plan: ``run_id`` is its config hash (``unavailable-<hash>`` when
    this checkout cannot run it, ``unavailable`` saying why), ``cfg`` its validated canonical
    config (runtime fields included), ``role`` ``cell`` or ``teacher``."""

    run_id: str
    cfg: RunConfig
    name: str
    seed: int
    role: str
    deps: tuple[str, ...] = ()
    unavailable: str | None = None
    est_s: float | None = None

    @property
    def config(self) -> dict[str, Any]:
        """The run config as a plain nested dict (what a run job carries)."""
        return self.cfg.to_dict()


@dataclass
class Cell:
    """One grid point after profile mapping, with its runs (one per seed)."""

    id: str
    key: dict[str, Scalar]
    stands_for: dict[str, list[Scalar]]
    seeds: list[int]
    runs: list[str]
    teachers: list[str] = field(default_factory=list)
    unavailable: str | None = None

    def matches(self, match: dict[str, Scalar] | None) -> bool:
        """True when every key of ``match`` is an axis of this cell with an equal value."""
        if match is None:
            return False
        return all(k in self.key and _eq(self.key[k], v) for k, v in match.items())


@dataclass
class Plan:
    """Everything one experiment needs under one profile."""

    experiment: Experiment
    profile: Profile
    cells: list[Cell]
    runs: dict[str, PlannedRun]
    runs_dir: Path

    def ordered_runs(self) -> list[PlannedRun]:
        """Runs with every dependency before its dependents."""
        out, seen = [], set()

        def visit(rid: str) -> None:
            if rid not in seen:
                seen.add(rid)
                for d in self.runs[rid].deps:
                    visit(d)
                out.append(self.runs[rid])

        for rid in self.runs:
            visit(rid)
        return out


def _eq(a: Scalar, b: Scalar) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a) == float(b)
    return str(a) == str(b)


def fmt_value(v: Scalar) -> str:
    """A cell value as text: integers plainly, floats without a trailing ``.0``."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def cell_id(key: dict[str, Scalar]) -> str:
    """Stable text id of a cell (``method=tssd,dataset=digits,t_s=2``)."""
    return ",".join(f"{k}={fmt_value(v)}" for k, v in key.items())


def apply_set(data: dict[str, Any], overrides: dict[str, Any]) -> None:
    """Apply a ``set:`` block (dotted keys) in place, by :func:`tssd.typed.set_dotted`."""
    from tssd.api import set_dotted

    for k, v in overrides.items():
        set_dotted(data, k, v, SpecError)


def apply_derive(
    data: dict[str, Any], derive: dict[str, str], names: dict[str, Any], where: tuple[str, str, str]
) -> None:
    """Set each derived key of ``data`` to its expression over the cell's axis values ``names``;
    an axis the cell lacks is a :class:`SpecError` naming ``where`` (file, key, cell id)."""
    src, key, cid = where
    for k, expr in derive.items():
        try:
            apply_set(data, {k: evaluate(expr, names)})
        except KeyError as exc:
            raise SpecError(
                f"{src}: key '{key}.{k}': cell {cid} has no axis {exc.args[0]!r}"
            ) from None


def _availability(cfg: RunConfig) -> str | None:
    """Why this checkout cannot run ``cfg`` (an unregistered dataset, method, model or neuron
    backend), or None. Other config errors are the experiment's fault and raise."""
    from tssd.api import BACKENDS, DATASETS, METHODS, MODELS

    checks = [
        (cfg.data.name, DATASETS, "dataset"),
        (cfg.method.name, METHODS, "method"),
        (cfg.model.name, MODELS, "model"),
        (cfg.neuron.backend, BACKENDS, "neuron backend"),
    ]
    for value, registry, what in checks:
        if value not in registry:
            return (
                f"{what} {value!r} is not registered in this checkout "
                f"(registered: {', '.join(registry)})"
            )
    return None


def estimate_seconds(cfg, profile: Profile) -> float | None:
    """Wall seconds of run ``cfg`` (a :class:`tssd.config.RunConfig`) from the profile's cost
    model, priced by :func:`tssd.cost.run_cost` (None when the model has no figure for it)."""
    from tssd.api import METHODS, StepCost, run_cost, shape_of

    cost = profile.cost
    try:
        shape = shape_of(cfg.data)
    except (KeyError, ValueError):
        return None
    m, model = cfg.method, cfg.model
    # a student in a pass of its own (events; static when set) adds t_s steps to the t_t pass
    steps = METHODS[m.name].sample_steps(m, shape.kind == "event")
    per_step = cost.sample_step_s.get(
        f"{model.name}:{model.width}",
        cost.sample_step_s.get(model.name, cost.sample_step_s["default"]),
    ) * cost.factors.get(cfg.data.name, 1.0)
    step = StepCost(
        train_step_s=per_step * steps * cfg.data.batch_size,
        # an evaluation is a forward pass only: about a third of a training step
        eval_image_s=per_step * m.t_s / 3,
        warm_compile_s=cost.compile.warm_s,
        cold_compile_s=cost.compile.cold_s,
        startup_s=cost.startup_s,
    )
    return run_cost(cfg, shape, step).total_s


def _run_name(key: dict[str, Scalar], seed: int, prefix: str = "") -> str:
    return prefix + "-".join(fmt_value(v) for v in key.values()) + f"-s{seed}"


def expand(
    exp: Experiment,
    profile: Profile,
    *,
    runs_dir: str | Path,
    data_root: str | None = None,
    seeds: list[int] | None = None,
    threads: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> Plan:
    """The :class:`Plan` of ``exp`` under ``profile``, its runs under ``runs_dir`` (where ``kd``
    finds its teachers); ``data_root``, ``seeds`` and ``threads`` replace the profile's and
    ``overrides`` (``--set``) apply last to every run. SpecError: a missing mapping or an invalid
    config, naming file, cell and key."""
    from tssd.api import ConfigError, from_dict, load_plugins

    try:
        load_plugins()
    except ConfigError as exc:  # a bad TSSD_PLUGINS entry: one line, like a bad experiment
        raise SpecError(str(exc)) from None
    runs_dir = Path(runs_dir).resolve()
    src = rel(exp.path)
    ep = exp.profiles.get(profile.id)
    runs: dict[str, PlannedRun] = {}
    cells: dict[str, Cell] = {}

    def plan(
        data: dict[str, Any], seed: int, role: str, where: str, deps=(), inherited=None
    ) -> tuple[str, str | None]:
        """Build ``data`` and add its run (once per run id): the id, and why the run cannot run
        here (its own reason, else ``inherited``) or None."""
        data["seed"] = seed
        rt = data.setdefault("runtime", {})
        rt["progress"] = False
        rt["runs_root"] = str(runs_dir)
        # one on-disk compile cache for every run and worker of this results folder: each
        # distinct graph of a ``runtime.compile`` run compiles cold once (not hashed)
        rt.setdefault("compile_cache", str(runs_dir / ".compile-cache"))
        if threads is not None:
            rt["threads"] = threads
        elif profile.threads:
            rt["threads"] = profile.threads
        if data_root:
            data.setdefault("data", {})["root"] = str(data_root)
        apply_set(data, overrides or {})
        source = f"{src} ({where})"
        try:
            # the fields the method does not read take their defaults before validation: a
            # value set for another method's sake never makes this run invalid
            cfg = from_dict(data, source, check=False).canonical()
            why = _availability(cfg)
            if why is None:
                cfg.validate(source)
        except ConfigError as exc:
            raise SpecError(str(exc)) from None
        rid = cfg.hash() if why is None else "unavailable-" + cfg.hash()
        if rid not in runs:
            est = estimate_seconds(cfg, profile) if why is None else None
            runs[rid] = PlannedRun(rid, cfg, cfg.name, seed, role, deps, why or inherited, est)
        return rid, why or inherited

    for block in exp.blocks(profile.id):
        for values in itertools.product(*block.values()):
            paper = dict(zip(block, values, strict=True))
            key = {a: profile.map_value(a, v) if a in MAPPED_AXES else v for a, v in paper.items()}
            cid = cell_id(key)
            base = json.loads(json.dumps(profile.base))
            for a in MAPPED_AXES:
                if a in paper:
                    table = profile.datasets if a == "dataset" else profile.archs
                    apply_set(base, table[paper[a]].set)
            apply_set(base, exp.set)
            apply_set(base, ep.set if ep is not None else {})
            apply_derive(base, exp.derive, paper, (src, "derive", cid))
            teacher = None
            for a, v in paper.items():
                axis = exp.axes.get(a)
                if axis is not None and axis.variants and v in axis.variants:
                    var = axis.variants[v]
                    if a == "method" and "method.name" not in var.set:
                        apply_set(base, {"method.name": v})
                    apply_set(base, var.set)
                    apply_set(base, var.profile_set(profile.id))
                    apply_derive(base, var.derive, paper, (src, f"variants.{a}.{v}.derive", cid))
                    teacher = var.teacher or teacher
                elif a == "method":
                    apply_set(base, {"method.name": v})
                elif a in AXIS_KEYS or (axis is not None and axis.key):
                    apply_set(base, {AXIS_KEYS.get(a) or axis.key: v})
                elif a not in MAPPED_AXES:
                    raise SpecError(f"{src}: axis {a!r} has no run-config key")
            seed_list = list(seeds or (ep is not None and ep.seeds) or profile.seeds)
            run_ids, teacher_ids, why_cell = [], [], None
            for seed in seed_list:
                data = json.loads(json.dumps(base))
                deps: tuple[str, ...] = ()
                if teacher is not None:
                    tdata = json.loads(json.dumps(base))
                    if teacher.arch is not None:
                        if teacher.arch not in profile.archs:
                            raise SpecError(
                                f"{rel(profile.path)}: no mapping for teacher arch "
                                f"{teacher.arch!r} used by {src}"
                            )
                        apply_set(tdata, profile.archs[teacher.arch].set)
                    apply_set(tdata, teacher.set)
                    tdata["name"] = _run_name(key, seed, f"{teacher.label}-")
                    tid, twhy = plan(tdata, seed, "teacher", f"teacher of cell {cid}, seed {seed}")
                    teacher_ids.append(tid)
                    deps = (tid,)
                    apply_set(data, {teacher.into: tid})
                    if twhy is not None:
                        why_cell = f"teacher: {twhy}"
                data["name"] = _run_name(key, seed)
                rid, why = plan(data, seed, "cell", f"cell {cid}, seed {seed}", deps, why_cell)
                run_ids.append(rid)
                why_cell = why_cell or why
            if cid not in cells:
                stands = {a: [paper[a]] for a in MAPPED_AXES if a in paper}
                cells[cid] = Cell(cid, key, stands, seed_list, run_ids, teacher_ids, why_cell)
                continue
            if cells[cid].runs != run_ids:
                raise SpecError(
                    f"{src}: grid points {cells[cid].stands_for} and {paper} both map to cell "
                    f"{cid} under profile {profile.id} but their run configs differ; give "
                    "them distinct stand-ins or identical settings"
                )
            for a in MAPPED_AXES:
                if a in paper and paper[a] not in cells[cid].stands_for[a]:
                    cells[cid].stands_for[a].append(paper[a])
    return Plan(exp, profile, list(cells.values()), runs, runs_dir)
