"""The harness's data files (experiments, profiles, paper tables) as validated, immutable objects;
an error names the file, the dotted key and what was expected."""

from __future__ import annotations

import ast
import dataclasses
import functools
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench import EXPERIMENTS_DIR, PAPER_TABLES_DIR, PROFILES_DIR, ROOT
from tssd.api import Builder, read_yaml_file


class SpecError(ValueError):
    """A harness data file is malformed; the message names the file, the key and the expectation."""


Scalar = str | int | float | bool
AXIS_KEYS = {a: f"method.{a}" for a in ("t_s", "t_t", "alpha", "beta")}
"""Built-in scalar axes and the run-config field each one sets."""
MAPPED_AXES = ("dataset", "arch")
"""Axes whose values the profile maps (to a stand-in in ``quick``)."""
FLOAT_AXES = ("alpha", "beta")
DOTTED = dict(dotted=True)
"""A ``set:`` block: dotted run-config keys to values (checked when run configs are built)."""
OPTIONAL = dict(empty_ok=True)


def read_yaml(path: Path) -> dict[str, Any]:
    """One YAML mapping (:func:`tssd.typed.read_yaml_file`); a bad file is a :class:`SpecError`."""
    return read_yaml_file(path, SpecError, "file")


def rel(path: Path) -> str:
    """``path`` relative to the repository root when inside it (shorter error messages)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _builder(path: Path) -> Builder:
    return Builder(rel(path), SpecError, strict_strings=True)


def _load(cls: type, path: Path, raw: dict[str, Any] | None = None) -> tuple[Builder, Any]:
    """``cls`` built from the file ``path`` (or its ``raw`` mapping), whose id is its name."""
    b = _builder(path)
    obj = b.build(cls, read_yaml(path) if raw is None else raw)
    if obj.id != path.stem:
        b.fail("id", f"got {obj.id!r}, expected the file name {path.stem!r}")
    return b, obj


def _unique(b: Builder, key: str, ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        b.fail(key, f"{key[:-1]} ids must be unique, got {ids}")


# Derived values: ``derive: {method.t_t: "2 * t_s"}``, arithmetic over the cell's axis values.
_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
}
_ALLOWED = (*_OPS, ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load)


def check_expression(expr: str, source: str, key: str) -> None:
    """Reject anything but numbers, axis names and + - * / // in a ``derive`` expression."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"{source}: key '{key}': not an expression: {expr!r} ({exc.msg})") from None
    if not all(isinstance(node, _ALLOWED) for node in ast.walk(tree)):
        raise SpecError(
            f"{source}: key '{key}': {expr!r} may only use numbers, axis names and + - * / //"
        )


def evaluate(expr: str, names: dict[str, Any]) -> Any:
    """Evaluate a checked ``derive`` expression; an unknown name raises KeyError."""

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return names[node.id]
        if isinstance(node, ast.UnaryOp):
            return _OPS[type(node.op)](ev(node.operand))
        assert isinstance(node, ast.BinOp)
        return _OPS[type(node.op)](ev(node.left), ev(node.right))

    return ev(ast.parse(expr, mode="eval").body)


# Experiments


@dataclass(frozen=True)
class TeacherSpec:
    """A run that must finish before the cell's: the cell's config with ``set`` (and the profile's
    mapping of ``arch``) on top; its config hash goes into the cell's ``into``."""

    set: dict[str, Any] = field(metadata=DOTTED)
    arch: str | None = None
    into: str = "method.teacher"
    label: str = "teacher"


@dataclass(frozen=True)
class Overrides:
    """A ``set:`` block on its own (a variant's per-profile settings)."""

    set: dict[str, Any] = field(default_factory=dict, metadata=DOTTED)


@dataclass(frozen=True)
class Variant:
    """A named value of an axis (e.g. method ``kd_ann``): run-config overrides (``set``, then per
    profile), keys derived from the cell's axes (after the experiment's ``derive``), a teacher."""

    label: str = ""
    set: dict[str, Any] = field(default_factory=dict, metadata=DOTTED)
    profiles: dict[str, Overrides] = field(default_factory=dict)
    teacher: TeacherSpec | None = None
    derive: dict[str, str] = field(default_factory=dict)
    name: str = field(default="", metadata=dict(skip=True))

    def profile_set(self, profile: str) -> dict[str, Any]:
        """The overrides of this variant under ``profile``."""
        return self.profiles[profile].set if profile in self.profiles else {}


@dataclass(frozen=True)
class Axis:
    """A grid axis: scalar values written to ``key``, or named :class:`Variant` values."""

    name: str
    key: str | None = None
    variants: dict[str, Variant] = field(default_factory=dict)


@dataclass(frozen=True)
class AxisKey:
    """``axes: {name: {key: run.config.key}}``: a scalar axis of the experiment's own."""

    key: str


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims as a named check over the cells (bench/README.md, "Verdicts");
    a ``margin`` of 0 turns equivalence off for it."""

    id: str
    kind: Literal["greater", "monotonic", "spread", "equal"]
    text: str
    source: Literal["paper", "inferred"] = "inferred"
    gate: bool = False
    metric: str = "test_acc"
    a: dict[str, Scalar] = field(default_factory=dict)
    b: dict[str, Scalar] = field(default_factory=dict)
    per: tuple[str, ...] | str = ()
    over: tuple[str, ...] | str = ()
    threshold: float = 0.0
    bound: float = field(default=0.0, metadata=dict(min=0.0))
    margin: float | None = field(default=None, metadata=dict(min=0.0))


@dataclass(frozen=True)
class ExperimentProfile:
    """Per-profile settings of one experiment."""

    seeds: tuple[int, ...] | None = field(default=None, metadata=dict(nonempty=True))
    set: dict[str, Any] = field(default_factory=dict, metadata=DOTTED)


@dataclass(frozen=True)
class Forest:
    """Draw a claim's comparisons as differences with intervals, one line per ``axis`` value
    (:mod:`bench.present.forest`); ``difference`` says what each difference is, in words."""

    claim: str
    axis: str
    difference: str = field(default="TSSD − baseline", metadata=OPTIONAL)


@dataclass(frozen=True)
class Titled:
    """A table or figure: its id (the file's name), kind and title."""

    id: str
    kind: Literal["table", "figure"]
    title: str


@dataclass(frozen=True)
class Experiment(Titled):
    """One table or figure: its cells, per-profile settings and claims. ``grid``: blocks of
    axis -> values (a list, or ``{profile: list}``); the cells are the union of their products."""

    layout: str
    grid: Any
    set: dict[str, Any] = field(default_factory=dict, metadata=DOTTED)
    derive: dict[str, str] = field(default_factory=dict)
    methods: dict[str, Variant] = field(default_factory=dict)
    variants: dict[str, dict[str, Variant]] = field(default_factory=dict)
    axis_keys: dict[str, AxisKey] = field(default_factory=dict, metadata=dict(key="axes"))
    metrics: tuple[str, ...] = ("test_acc",)
    profiles: dict[str, ExperimentProfile] = field(default_factory=dict)
    claims: tuple[Claim, ...] = ()
    curves: bool = False
    forest: Forest | None = None
    path: Path = field(default=Path(), metadata=dict(skip=True))

    @functools.cached_property
    def axes(self) -> dict[str, Axis]:
        """Every axis that is not built in: variant axes (methods too) and scalar ones."""
        out = {"method": Axis("method", "method.name", self.methods)} if self.methods else {}
        out |= {a: Axis(a, variants=vs) for a, vs in self.variants.items()}
        return out | {a: Axis(a, key=k.key) for a, k in self.axis_keys.items()}

    def blocks(self, profile: str) -> list[dict[str, list[Scalar]]]:
        """The grid blocks with per-profile value lists resolved for ``profile``."""
        out = []
        for block in self.grid:
            resolved = {}
            for axis, values in block.items():
                if isinstance(values, dict):
                    if profile not in values:
                        raise SpecError(
                            f"{rel(self.path)}: key 'grid.{axis}': no values for "
                            f"profile '{profile}' (has {', '.join(values)})"
                        )
                    values = values[profile]
                resolved[axis] = list(values)
            out.append(resolved)
        return out

    def axis_names(self) -> list[str]:
        """Every axis used by any grid block, in first-appearance order."""
        return list(dict.fromkeys(a for block in self.grid for a in block))


def _named(variants: dict[str, Variant]) -> dict[str, Variant]:
    return {n: dataclasses.replace(v, name=n, label=v.label or n) for n, v in variants.items()}


def _grid(b: Builder, raw: Any, axes: dict[str, Axis]) -> tuple[dict[str, Any], ...]:
    grid = [raw] if isinstance(raw, dict) else raw
    if not isinstance(grid, list) or not grid:
        b.fail("grid", "expected a mapping of axis -> values, or a non-empty list of them")
    blocks = []
    for i, block in enumerate(grid):
        if not isinstance(block, dict) or not block:
            b.fail(f"grid[{i}]", "expected a non-empty mapping of axis -> values")
        out = {}
        for axis, values in block.items():
            ak = f"grid[{i}].{axis}"
            if not (axis in AXIS_KEYS or axis in MAPPED_AXES or axis in axes or axis == "method"):
                b.fail(
                    ak,
                    f"unknown axis; built-in axes: method, {', '.join(MAPPED_AXES)}, "
                    f"{', '.join(AXIS_KEYS)}; others need an entry under 'axes' or 'variants'",
                )
            variants = axes[axis].variants if axis in axes and axis != "method" else {}
            checked = {}
            for prof, vals in (values if isinstance(values, dict) else {None: values}).items():
                pk = ak if prof is None else f"{ak}.{prof}"
                if not isinstance(vals, list) or not vals:
                    b.fail(pk, f"expected a non-empty list of values, got {vals!r}")
                tp = float if axis in FLOAT_AXES else Scalar
                vals = [b.value(x, tp, f"{pk}[{j}]") for j, x in enumerate(vals)]
                for j, x in enumerate(vals):
                    if variants and x not in variants:
                        b.fail(f"{pk}[{j}]", f"{x!r} is not defined under variants.{axis}")
                if len(set(map(str, vals))) != len(vals):
                    b.fail(pk, f"duplicate values in {vals!r}")
                checked[prof] = vals
            out[str(axis)] = checked.get(None, checked)
        blocks.append(out)
    return tuple(blocks)


def _tuple(axes: tuple[str, ...] | str) -> tuple[str, ...]:
    return (axes,) if isinstance(axes, str) else axes


def load_experiment(path: str | Path) -> Experiment:
    """Load and validate ``bench/experiments/<id>.yaml`` (structure only; run configs are checked
    when :mod:`bench.plan.expand` builds them)."""
    path = Path(path)
    b, exp = _load(Experiment, path)
    exp = dataclasses.replace(
        exp,
        grid=_grid(b, exp.grid, exp.axes),  # the axes' variant names are all it reads
        methods=_named(exp.methods),
        variants={a: _named(vs) for a, vs in exp.variants.items()},
        claims=tuple(
            dataclasses.replace(c, per=_tuple(c.per), over=_tuple(c.over)) for c in exp.claims
        ),
        path=path,
    )
    variants = [(f"methods.{n}", v) for n, v in exp.methods.items()] + [
        (f"variants.{a}.{n}", v) for a, vs in exp.variants.items() for n, v in vs.items()
    ]
    for key, v in [("", None), *variants]:
        for k, expr in (v.derive if v else exp.derive).items():
            check_expression(expr, b.source, f"{key + '.' if key else ''}derive.{k}")
    ids = [c.id for c in exp.claims]
    _unique(b, "claims", ids)
    names = exp.axis_names()
    not_an_axis = f"not an axis of this grid ({', '.join(names)})"
    if exp.forest is not None:
        if exp.forest.claim not in ids:
            b.fail("forest.claim", f"no claim {exp.forest.claim!r} (claims: {', '.join(ids)})")
        if exp.forest.axis not in names:
            b.fail("forest.axis", not_an_axis)
    for i, c in enumerate(exp.claims):
        key = f"claims[{i}]"
        if c.kind == "equal" and not c.b:
            b.fail(f"{key}.b", "an 'equal' claim compares cells a with cells b; b is required")
        if c.kind in ("monotonic", "spread") and not c.over:
            b.fail(f"{key}.over", f"a '{c.kind}' claim needs the axis (or axes) it runs over")
        if c.kind == "spread" and c.bound == 0.0:
            b.fail(f"{key}.bound", "a 'spread' claim needs its bound (in metric units)")
        if c.margin is not None and c.kind in ("spread", "equal"):
            b.fail(
                f"{key}.margin",
                f"a '{c.kind}' claim takes no margin "
                + ("(its bound is its margin)" if c.kind == "spread" else "(it is exact)"),
            )
        for part in ("a", "b"):
            for k in getattr(c, part):
                if k not in names:
                    b.fail(f"{key}.{part}.{k}", not_an_axis)
        for k in (*c.per, *c.over):
            if k not in names:
                b.fail(key, f"axis {k!r} in per/over is not an axis of this grid")
    return exp


def experiment_path(eid: str) -> Path:
    """The file of experiment ``eid``; an unknown id names the known ones."""
    p = EXPERIMENTS_DIR / f"{eid}.yaml"
    if not p.is_file():
        raise SpecError(f"unknown experiment {eid!r}; known: {', '.join(experiment_ids())}")
    return p


def experiment_ids() -> list[str]:
    """Every experiment under ``bench/experiments``: tables, then figures, each in numeric order,
    then the suite's own studies."""

    def order(p: Path) -> tuple[int, int, str]:
        digits = "".join(ch for ch in p.stem if ch.isdigit())
        kind = 0 if p.stem.startswith("table") else 1 if p.stem.startswith("figure") else 2
        return (kind, int(digits or 0), p.stem)

    return [p.stem for p in sorted(EXPERIMENTS_DIR.glob("*.yaml"), key=order)]


# Profiles


@dataclass(frozen=True)
class Mapping:
    """How a profile realises a paper dataset or architecture: ``stand_in`` names it in cells,
    tables and figures; ``set`` holds its run-config overrides."""

    stand_in: str = ""
    label: str = ""
    set: dict[str, Any] = field(default_factory=dict, metadata=DOTTED)
    name: str = field(default="", metadata=dict(skip=True))


@dataclass(frozen=True)
class Tolerance:
    """How far an aggregate may sit from its reference and pass, and why: a fixed ``abs`` against
    one reported number, or, against every seed's value, a t-test whose ``false_alarm`` is a whole
    check's, with a seed std of at least ``floor_std`` (bench/profiles/quick.yaml)."""

    abs: float = field(default=0.0, metadata=dict(min=0.0))
    reason: str = ""
    false_alarm: float = field(default=0.0, metadata=dict(min=0.0))
    floor_std: float = field(default=0.0, metadata=dict(min=0.0))

    def of(self, ref_values: tuple[float, ...], m: int, k: int) -> tuple[float, float]:
        """``(tolerance, per-cell alpha)`` for a fresh mean of ``m`` seeds against reference
        values ``ref_values``, in a check of ``k`` compared cells (alpha NaN: fixed tolerance)."""
        from bench.stats import mean_std, per_check_alpha, shift_tolerance

        if self.false_alarm <= 0 or len(ref_values) < 2:
            return self.abs, float("nan")
        alpha = per_check_alpha(self.false_alarm, max(1, k))
        std = max(mean_std(ref_values)[1], self.floor_std)
        return max(self.abs, shift_tolerance(std, len(ref_values), m, alpha)), alpha


@dataclass(frozen=True)
class Regression:
    """What ``bench regression`` re-runs (``seeds``, a subset of the committed reference's
    ``reference_seeds``, which ``bench reference`` runs)."""

    experiments: tuple[str, ...] = field(metadata=dict(nonempty=True))
    seeds: tuple[int, ...] = field(metadata=dict(nonempty=True))
    reference_seeds: tuple[int, ...] = field(metadata=dict(nonempty=True))


@dataclass(frozen=True)
class CompileCost:
    """Compile times of a ``runtime.compile`` step: ``warm_s`` with its graphs in the compile
    cache (every run after the first of its kind), ``cold_s`` with nothing cached."""

    warm_s: float = field(default=0.0, metadata=dict(min=0.0))
    cold_s: float = field(default=0.0, metadata=dict(min=0.0))


@dataclass(frozen=True)
class CostModel:
    """The ``--dry-run`` estimate of a run (:func:`tssd.cost.run_cost`): seconds per sample and
    timestep of a training step, times a per-dataset factor (1 when not given)."""

    startup_s: float = field(metadata=dict(min=0.0))
    sample_step_s: dict[str, float]
    factors: dict[str, float] = field(default_factory=dict)
    compile: CompileCost = field(default_factory=CompileCost)


SLURM_KEYS = {"partition": str} | dict.fromkeys(
    ("timeout_min", "gpus_per_node", "cpus_per_task", "mem_gb", "tasks_per_node", "nodes"), int
)
"""The ``slurm`` resources the harness checks; any ``slurm_*`` key passes through to submitit."""


@dataclass(frozen=True)
class FigureStyle:
    """How figures look, never what they are drawn from (its layers and keys: bench/style.yaml);
    an unset field keeps the layer below's."""

    panel_width: float | None = field(default=None, metadata=dict(gt=0.0))
    panel_height: float | None = field(default=None, metadata=dict(gt=0.0))
    dpi: int | None = field(default=None, metadata=dict(min=10))
    font_family: str | None = None
    font_scale: float | None = field(default=None, metadata=dict(gt=0.0))
    context: Literal["paper", "notebook", "talk", "poster"] | None = None
    theme: Literal["whitegrid", "darkgrid", "white", "dark", "ticks"] | None = None
    palette: tuple[str, ...] | None = None
    baseline_color: str | None = None
    diverging_cmap: str | None = None
    heatmap_range: float | None = field(default=None, metadata=dict(gt=0.0))
    forest_clip: float | None = field(default=None, metadata=dict(gt=1.0))
    dataset_labels: dict[str, str] | None = None


@dataclass(frozen=True)
class Profile:
    """How every experiment runs under this profile (``bench/profiles/<id>.yaml``)."""

    id: str
    description: str
    seeds: tuple[int, ...] = field(metadata=dict(nonempty=True))
    base: dict[str, Any]
    datasets: dict[str, Mapping]
    archs: dict[str, Mapping]
    compare: Literal["paper", "reference", "none"]
    cost: CostModel
    workers: int = field(default=0, metadata=dict(min=0))
    threads: int = field(default=0, metadata=dict(min=0))
    reference_dir: str = ""
    compare_metrics: tuple[str, ...] = ("test_acc",)
    tolerance: Tolerance = field(default=Tolerance(reason="nothing is compared (compare: none)"))
    tolerance_by_dataset: dict[str, Tolerance] = field(default_factory=dict)
    equivalence_margin: float | None = field(default=None, metadata=dict(min=0.0))
    regression: Regression | None = None
    slurm: dict[str, Any] = field(default_factory=dict)
    style: FigureStyle = field(default_factory=FigureStyle)
    path: Path = field(default=Path(), metadata=dict(skip=True))

    def map_value(self, axis: str, value: Scalar) -> Scalar:
        """The cell value of a paper value on a mapped axis (dataset/arch -> stand-in)."""
        table = self.datasets if axis == "dataset" else self.archs if axis == "arch" else None
        if table is None:
            return value
        if value not in table:
            raise SpecError(
                f"{rel(self.path)}: no mapping for {axis} {value!r} (known: {', '.join(table)})"
            )
        return table[value].stand_in

    def tolerance_for(self, dataset: Scalar | None) -> Tolerance:
        """The tolerance of cells on ``dataset`` (a stand-in or paper name)."""
        return self.tolerance_by_dataset.get(str(dataset), self.tolerance)


def _mappings(block: dict[str, Mapping]) -> dict[str, Mapping]:
    out = {}
    for n, m in block.items():
        stand_in = m.stand_in or n
        out[n] = dataclasses.replace(m, name=n, stand_in=stand_in, label=m.label or stand_in)
    return out


def load_profile(path_or_id: str | Path) -> Profile:
    """Load ``bench/profiles/<id>.yaml`` (an id or a path)."""
    path = Path(path_or_id)
    if not path.suffix:
        path = PROFILES_DIR / f"{path_or_id}.yaml"
        if not path.is_file():
            known = ", ".join(profile_ids())
            raise SpecError(f"unknown profile {str(path_or_id)!r}; known: {known}")
    raw = read_yaml(path)
    by_dataset = raw.get("tolerance_by_dataset") or {}
    if not isinstance(by_dataset, dict):
        _builder(path).fail("tolerance_by_dataset", f"expected a mapping, got {by_dataset!r}")
    by_dataset = by_dataset.items()
    for key, tol in [("tolerance", raw.get("tolerance"))] + [
        (f"tolerance_by_dataset.{k}", v) for k, v in by_dataset
    ]:
        if isinstance(tol, dict) and "abs" not in tol and "false_alarm" not in tol:
            _builder(path).fail(
                key, "expected 'abs' (a fixed tolerance) or 'false_alarm' (a statistical test)"
            )
    b, p = _load(Profile, path, raw)
    if p.compare != "none" and "tolerance" not in raw:
        b.fail("tolerance", f"compare: {p.compare} needs a tolerance")
    for key, tol in [("tolerance", p.tolerance), *p.tolerance_by_dataset.items()]:
        if not tol.reason:
            b.fail(f"{key}.reason", "is required (why this tolerance)")
        if tol.false_alarm >= 1.0:
            b.fail(f"{key}.false_alarm", f"got {tol.false_alarm}, expected a rate in (0, 1)")
    if p.compare == "reference" and not p.reference_dir:
        b.fail("reference_dir", "compare: reference needs the directory of the reference CSVs")
    if "default" not in p.cost.sample_step_s:
        b.fail("cost.sample_step_s.default", "is required (used for architectures not listed)")
    reg = p.regression
    if reg is not None:
        extra = sorted(set(reg.seeds) - set(reg.reference_seeds))
        if extra:
            b.fail("regression.seeds", f"seeds {extra} are not in regression.reference_seeds")
        if len(reg.reference_seeds) < 10:
            b.fail(
                "regression.reference_seeds",
                f"got {len(reg.reference_seeds)} seeds, expected at least 10 (the test's "
                "tolerance comes from the reference's seed spread)",
            )
    for key, val in p.slurm.items():
        if key in SLURM_KEYS:
            rules = dict(min=1) if SLURM_KEYS[key] is int else {}
            b.value(val, SLURM_KEYS[key], f"slurm.{key}", rules)
        elif not key.startswith("slurm_"):
            b.fail(f"slurm.{key}", f"unknown key; allowed: {', '.join(SLURM_KEYS)} or slurm_*")
    return dataclasses.replace(
        p, datasets=_mappings(p.datasets), archs=_mappings(p.archs), path=path
    )


def profile_ids() -> list[str]:
    """Every profile under ``bench/profiles``."""
    return [p.stem for p in sorted(PROFILES_DIR.glob("*.yaml"))]


# paper_tables: layouts and reported values


@dataclass(frozen=True)
class Reported:
    """One reported number of the paper: the value, where it comes from and its status."""

    value: float | None = None
    status: Literal["transcribed", "cited", "missing"] = "missing"
    source: str = field(default="", metadata=OPTIONAL)


MISSING = Reported(None, "missing", "")


@dataclass(frozen=True)
class Column:
    """A column of a table: the cells it holds (``match``) and the metric shown."""

    id: str
    label: str
    match: dict[str, Scalar] = field(default_factory=dict)
    metric: str | None = None


@dataclass(frozen=True)
class Row:
    """A row: the cells it holds (``match``; None for reported-only rows such as prior methods)
    and the paper's values per column."""

    id: str
    label: str
    match: dict[str, Scalar] | None = None
    values: dict[str, Reported] = field(default_factory=dict)

    def reported(self, column: str) -> Reported:
        """The paper's value at ``column`` (``missing`` when the file has none)."""
        return self.values.get(column, MISSING)


@dataclass(frozen=True)
class FigureValues:
    """A figure's reported values: not digitised, so always ``missing``."""

    status: Literal["missing"] = "missing"
    source: str = field(default="", metadata=OPTIONAL)
    note: str = field(default="", metadata=OPTIONAL)


@dataclass(frozen=True)
class Layout(Titled):
    """A table or figure of the paper as data (``baseline``: the keys that make a row a baseline,
    which the other rows are shown against: bench/README.md, "Tables")."""

    status: Literal["inferred", "transcribed"]
    metric: str = "test_acc"
    unit: str = field(default="%", metadata=OPTIONAL)
    bold: Literal["max", "min", "none"] = "max"
    digits: int = field(default=2, metadata=dict(min=0))
    columns: tuple[Column, ...] = ()
    rows: tuple[Row, ...] = ()
    baseline: dict[str, Scalar] | None = None
    caption: str = field(default="", metadata=OPTIONAL)
    plot: dict[str, Any] = field(default_factory=dict)
    reported: FigureValues = FigureValues()
    path: Path = field(default=Path(), metadata=dict(skip=True))


def load_layout(path: str | Path) -> Layout:
    """Load and validate ``paper_tables/<id>.yaml``."""
    path = Path(path)
    path = path if path.is_absolute() else ROOT / path
    b, lay = _load(Layout, path)
    col_ids = [c.id for c in lay.columns]
    _unique(b, "columns", col_ids)
    for i, row in enumerate(lay.rows):
        for cid, rep in row.values.items():
            key = f"rows[{i}].values.{cid}"
            if cid not in col_ids:
                b.fail(key, f"not a column of this table ({', '.join(col_ids)})")
            if rep.status == "missing" and rep.value is not None:
                b.fail(
                    f"{key}.value",
                    "a missing value has no number (set status to transcribed or cited, with "
                    "its source)",
                )
            if rep.status != "missing" and rep.value is None:
                b.fail(f"{key}.value", f"status {rep.status} needs the number")
            if rep.status != "missing" and not rep.source:
                b.fail(f"{key}.source", f"status {rep.status} needs the source of the number")
    _unique(b, "rows", [x.id for x in lay.rows])
    if lay.kind == "table" and (not lay.columns or not lay.rows):
        b.fail("columns" if not lay.columns else "rows", "a table needs columns and rows")
    if lay.baseline is not None and not any(
        r.match is not None and all(r.match.get(k) == v for k, v in lay.baseline.items())
        for r in lay.rows
    ):
        b.fail("baseline", f"no row's match contains {lay.baseline}: name a row's keys")
    return dataclasses.replace(lay, path=path)


@dataclass(frozen=True)
class IndexEntry:
    """``paper_tables/index.yaml``: what a table or figure id holds (inferred where marked)."""

    id: str
    kind: Literal["table", "figure", "diagram"]
    content: str
    status: Literal["inferred", "transcribed"]
    datasets: str = ""
    architecture: str = ""
    rerun: str = ""
    layout: str = ""
    experiment: str = ""


@dataclass(frozen=True)
class Index:
    """``paper_tables/index.yaml`` as a whole."""

    entries: tuple[IndexEntry, ...]
    note: str = ""


def load_index(path: str | Path | None = None) -> dict[str, IndexEntry]:
    """Load and validate ``paper_tables/index.yaml``."""
    path = Path(path) if path is not None else PAPER_TABLES_DIR / "index.yaml"
    b = _builder(path)
    out: dict[str, IndexEntry] = {}
    for i, e in enumerate(b.build(Index, read_yaml(path)).entries):
        if e.id in out:
            b.fail(f"entries[{i}].id", f"duplicate id {e.id!r}")
        out[e.id] = e
    return out
