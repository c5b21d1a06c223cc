"""The harness's data files as validated, immutable objects.

Three kinds of YAML file feed the harness:

* ``bench/experiments/<id>.yaml``: what to run for one table or figure (a grid of cells, per-profile
  settings) and the paper's claims as named checks (:class:`Experiment`);
* ``bench/profiles/<id>.yaml``: how to run it (``quick``: embedded stand-in data on CPU; ``paper``:
  the paper's settings on real data) (:class:`Profile`);
* ``paper_tables/<id>.yaml`` and ``paper_tables/index.yaml``: the paper's tables as data, layout and
  reported values with source and status (:class:`Layout`, :class:`IndexEntry`).

Every loader rejects unknown keys and wrong types with a :class:`SpecError` naming the file, the
dotted key and what was expected, in the manner of :mod:`tssd.config`.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from bench import EXPERIMENTS_DIR, PAPER_TABLES_DIR, PROFILES_DIR, ROOT


class SpecError(ValueError):
    """A harness data file is malformed; the message names the file, the key and the expectation."""


Scalar = str | int | float | bool

AXIS_KEYS = {
    "t_s": "method.t_s",
    "t_t": "method.t_t",
    "alpha": "method.alpha",
    "beta": "method.beta",
}
"""Built-in scalar axes and the run-config field each one sets."""
MAPPED_AXES = ("dataset", "arch")
"""Axes whose values are mapped by the profile (to a stand-in in ``quick``)."""
FLOAT_AXES = ("alpha", "beta")
CLAIM_KINDS = ("greater", "monotonic", "spread", "equal")
VALUE_STATUSES = ("transcribed", "cited", "missing")


# ------------------------------------------------------------------------------------------------
# A small reader that knows which file it reads, so every error can name file and key.
# ------------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, source: str | Path):
        self.source = str(source)

    def fail(self, key: str, msg: str) -> NoReturn:
        raise SpecError(f"{self.source}: key '{key or '<root>'}': {msg}")

    def mapping(
        self,
        v: Any,
        key: str,
        *,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
        free: bool = False,
    ) -> dict[str, Any]:
        if v is None and not required:
            v = {}
        if not isinstance(v, dict):
            self.fail(key, f"expected a mapping, got {v!r}")
        required, optional = list(required), list(optional)
        if not free:
            allowed = required + optional
            for k in v:
                if k not in allowed:
                    sub = f"{key}.{k}" if key else str(k)
                    raise SpecError(
                        f"{self.source}: unknown key '{sub}'; allowed keys here: "
                        f"{', '.join(allowed)}"
                    )
        for k in required:
            if k not in v:
                sub = f"{key}.{k}" if key else k
                self.fail(sub, "is required")
        return v

    def string(self, v: Any, key: str, choices: Iterable[str] | None = None) -> str:
        if not isinstance(v, str) or not v:
            self.fail(key, f"expected a non-empty string, got {v!r}")
        if choices is not None and v not in choices:
            self.fail(key, f"got {v!r}, expected one of {', '.join(choices)}")
        return v

    def integer(self, v: Any, key: str, minimum: int | None = None) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(key, f"expected an integer, got {v!r}")
        if minimum is not None and v < minimum:
            self.fail(key, f"got {v}, expected an integer >= {minimum}")
        return v

    def number(self, v: Any, key: str, minimum: float | None = None) -> float:
        if isinstance(v, str):  # PyYAML reads 1e-4 as a string (YAML 1.1)
            try:
                v = float(v)
            except ValueError:
                self.fail(key, f"expected a number, got {v!r}")
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            self.fail(key, f"expected a finite number, got {v!r}")
        if minimum is not None and v < minimum:
            self.fail(key, f"got {v}, expected a number >= {minimum}")
        return float(v)

    def boolean(self, v: Any, key: str) -> bool:
        if not isinstance(v, bool):
            self.fail(key, f"expected true or false, got {v!r}")
        return v

    def scalar(self, v: Any, key: str) -> Scalar:
        if not isinstance(v, str | int | float | bool):
            self.fail(key, f"expected a scalar (string or number), got {v!r}")
        return v

    def str_list(self, v: Any, key: str) -> tuple[str, ...]:
        if not isinstance(v, list):
            self.fail(key, f"expected a list of strings, got {v!r}")
        return tuple(self.string(x, f"{key}[{i}]") for i, x in enumerate(v))

    def int_list(self, v: Any, key: str) -> tuple[int, ...]:
        if not isinstance(v, list) or not v:
            self.fail(key, f"expected a non-empty list of integers, got {v!r}")
        return tuple(self.integer(x, f"{key}[{i}]") for i, x in enumerate(v))

    def dotted_set(self, v: Any, key: str) -> dict[str, Any]:
        """A ``set:`` block: dotted run-config keys to values (checked when configs are built)."""
        v = self.mapping(v, key, free=True)
        for k in v:
            if not isinstance(k, str) or not all(p.isidentifier() for p in k.split(".")):
                self.fail(f"{key}.{k}", "expected a dotted run-config key such as method.alpha")
        return dict(v)

    def match(self, v: Any, key: str) -> dict[str, Scalar]:
        v = self.mapping(v, key, free=True)
        return {str(k): self.scalar(x, f"{key}.{k}") for k, x in v.items()}


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping; a missing or unparsable file is a :class:`SpecError` naming it."""
    if not path.is_file():
        raise SpecError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def rel(path: Path) -> str:
    """``path`` relative to the repository root when inside it (shorter error messages)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------------------
# Derived values: ``derive: {method.t_t: "2 * t_s"}`` (arithmetic over the cell's axis values).
# ------------------------------------------------------------------------------------------------

_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.FloorDiv,
    ast.Div,
    ast.USub,
)


def check_expression(expr: str, source: str, key: str) -> None:
    """Reject anything but numbers, axis names and + - * / // in a ``derive`` expression."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"{source}: key '{key}': not an expression: {expr!r} ({exc.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise SpecError(
                f"{source}: key '{key}': {expr!r} may only use numbers, axis names and + - * / //"
            )


def evaluate(expr: str, names: dict[str, Any]) -> Any:
    """Evaluate a checked ``derive`` expression; an unknown name raises KeyError."""
    tree = ast.parse(expr, mode="eval")

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return names[node.id]
        if isinstance(node, ast.UnaryOp):
            return -ev(node.operand)
        assert isinstance(node, ast.BinOp)
        a, b = ev(node.left), ev(node.right)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        if isinstance(node.op, ast.FloorDiv):
            return a // b
        return a / b

    return ev(tree)


# ------------------------------------------------------------------------------------------------
# Experiments
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherSpec:
    """A run that must finish before the cell's run: its config hash goes into ``into``.

    The teacher's config is the cell's own config (same dataset, architecture, seed, profile
    settings) with ``set`` applied on top, and the architecture ``arch`` (mapped by the profile)
    when given, e.g. a baseline ANN of the same architecture or a larger SNN.
    """

    set: dict[str, Any]
    arch: str | None
    into: str
    label: str


@dataclass(frozen=True)
class Variant:
    """A named value of an axis (e.g. method ``kd_ann``): run-config overrides, per-profile
    overrides and an optional teacher dependency."""

    name: str
    label: str
    set: dict[str, Any]
    profile_set: dict[str, dict[str, Any]]
    teacher: TeacherSpec | None = None
    derive: dict[str, str] = field(default_factory=dict)
    """Run-config keys computed from the cell's axes (e.g. ``method.t_t: "3 * t_s // 2"``),
    applied after ``set`` and the experiment's own ``derive``."""


@dataclass(frozen=True)
class Axis:
    """A grid axis: scalar values written to ``key``, or named :class:`Variant` values."""

    name: str
    key: str | None = None
    variants: dict[str, Variant] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims as a named check over the cells (see :mod:`bench.claims`)."""

    id: str
    kind: str
    text: str
    source: str
    gate: bool
    metric: str
    a: dict[str, Scalar]
    b: dict[str, Scalar]
    per: tuple[str, ...]
    over: tuple[str, ...]
    threshold: float
    bound: float


@dataclass(frozen=True)
class ExperimentProfile:
    """Per-profile settings of one experiment."""

    seeds: tuple[int, ...] | None
    set: dict[str, Any]


@dataclass(frozen=True)
class Experiment:
    """One table or figure: its cells, per-profile settings and claims."""

    id: str
    kind: str
    title: str
    layout: str
    grid: tuple[dict[str, Any], ...]
    """Blocks of axis -> values (a list, or ``{profile: list}``); cells = union of products."""
    set: dict[str, Any]
    derive: dict[str, str]
    axes: dict[str, Axis]
    metrics: tuple[str, ...]
    profiles: dict[str, ExperimentProfile]
    claims: tuple[Claim, ...]
    curves: bool
    path: Path
    forest: dict[str, str] | None = None
    """``{claim, axis}``: also render that claim's comparisons as differences with intervals,
    one line per value of ``axis`` (:mod:`bench.forest`)."""

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
        seen: list[str] = []
        for block in self.grid:
            for a in block:
                if a not in seen:
                    seen.append(a)
        return seen


def _forest(r: _Reader, v: Any) -> dict[str, str] | None:
    if v is None:
        return None
    v = r.mapping(v, "forest", required=("claim", "axis"))
    return {
        "claim": r.string(v["claim"], "forest.claim"),
        "axis": r.string(v["axis"], "forest.axis"),
    }


def _variant(r: _Reader, name: str, v: Any, key: str) -> Variant:
    v = r.mapping(v, key, optional=("label", "set", "profiles", "teacher", "derive"))
    derive = {
        str(k): str(e) for k, e in r.mapping(v.get("derive"), f"{key}.derive", free=True).items()
    }
    for k, expr in derive.items():
        check_expression(expr, r.source, f"{key}.derive.{k}")
    profile_set = {}
    for p, pv in r.mapping(v.get("profiles"), f"{key}.profiles", free=True).items():
        pv = r.mapping(pv, f"{key}.profiles.{p}", optional=("set",))
        profile_set[str(p)] = r.dotted_set(pv.get("set"), f"{key}.profiles.{p}.set")
    teacher = None
    if "teacher" in v:
        tk = f"{key}.teacher"
        t = r.mapping(v["teacher"], tk, required=("set",), optional=("arch", "into", "label"))
        teacher = TeacherSpec(
            set=r.dotted_set(t["set"], f"{tk}.set"),
            arch=r.string(t["arch"], f"{tk}.arch") if "arch" in t else None,
            into=r.string(t.get("into", "method.teacher"), f"{tk}.into"),
            label=r.string(t.get("label", "teacher"), f"{tk}.label"),
        )
    return Variant(
        name=name,
        label=r.string(v.get("label", name), f"{key}.label"),
        set=r.dotted_set(v.get("set"), f"{key}.set"),
        derive=derive,
        profile_set=profile_set,
        teacher=teacher,
    )


def _claim(r: _Reader, v: Any, key: str) -> Claim:
    v = r.mapping(
        v,
        key,
        required=("id", "kind", "text", "a"),
        optional=("b", "per", "over", "gate", "metric", "source", "threshold", "bound"),
    )
    kind = r.string(v["kind"], f"{key}.kind", CLAIM_KINDS)
    per = v.get("per", [])
    over = v.get("over", [])
    per = (per,) if isinstance(per, str) else r.str_list(per, f"{key}.per")
    over = (over,) if isinstance(over, str) else r.str_list(over, f"{key}.over")
    if kind in ("greater", "equal") and "b" not in v:
        r.fail(f"{key}.b", f"a '{kind}' claim compares cells a with cells b; b is required")
    if kind in ("monotonic", "spread") and not over:
        r.fail(f"{key}.over", f"a '{kind}' claim needs the axis (or axes) it runs over")
    if kind == "spread" and "bound" not in v:
        r.fail(f"{key}.bound", "a 'spread' claim needs its bound (in metric units)")
    return Claim(
        id=r.string(v["id"], f"{key}.id"),
        kind=kind,
        text=r.string(v["text"], f"{key}.text"),
        source=r.string(v.get("source", "inferred"), f"{key}.source", ("paper", "inferred")),
        gate=r.boolean(v.get("gate", False), f"{key}.gate"),
        metric=r.string(v.get("metric", "test_acc"), f"{key}.metric"),
        a=r.match(v["a"], f"{key}.a"),
        b=r.match(v.get("b"), f"{key}.b"),
        per=per,
        over=over,
        threshold=r.number(v.get("threshold", 0.0), f"{key}.threshold"),
        bound=r.number(v.get("bound", 0.0), f"{key}.bound", minimum=0.0),
    )


def load_experiment(path: str | Path) -> Experiment:
    """Load and validate ``bench/experiments/<id>.yaml`` (structure only; run configs are checked
    when :mod:`bench.expand` builds them)."""
    path = Path(path)
    r = _Reader(rel(path))
    d = r.mapping(
        read_yaml(path),
        "",
        required=("id", "kind", "title", "layout", "grid"),
        optional=(
            "set",
            "derive",
            "methods",
            "variants",
            "axes",
            "metrics",
            "profiles",
            "claims",
            "curves",
            "forest",
        ),
    )
    eid = r.string(d["id"], "id")
    if eid != path.stem:
        r.fail("id", f"got {eid!r}, expected the file name {path.stem!r}")
    kind = r.string(d["kind"], "kind", ("table", "figure"))
    axes: dict[str, Axis] = {}
    for name, v in r.mapping(d.get("methods"), "methods", free=True).items():
        axes.setdefault("method", Axis("method", key="method.name"))
        axes["method"].variants[str(name)] = _variant(r, str(name), v, f"methods.{name}")
    for axis, vs in r.mapping(d.get("variants"), "variants", free=True).items():
        vs = r.mapping(vs, f"variants.{axis}", free=True)
        axes[str(axis)] = Axis(
            str(axis),
            variants={
                str(n): _variant(r, str(n), v, f"variants.{axis}.{n}") for n, v in vs.items()
            },
        )
    for axis, v in r.mapping(d.get("axes"), "axes", free=True).items():
        v = r.mapping(v, f"axes.{axis}", required=("key",))
        axes[str(axis)] = Axis(str(axis), key=r.string(v["key"], f"axes.{axis}.key"))
    grid = d["grid"]
    if isinstance(grid, dict):
        grid = [grid]
    if not isinstance(grid, list) or not grid:
        r.fail("grid", "expected a mapping of axis -> values, or a non-empty list of them")
    blocks = []
    for i, block in enumerate(grid):
        bk = f"grid[{i}]"
        block = r.mapping(block, bk, free=True)
        if not block:
            r.fail(bk, "an empty grid block has no cells")
        out = {}
        for axis, values in block.items():
            ak = f"{bk}.{axis}"
            known = axis in AXIS_KEYS or axis in MAPPED_AXES or axis in axes or axis == "method"
            if not known:
                r.fail(
                    ak,
                    f"unknown axis; built-in axes: method, {', '.join(MAPPED_AXES)}, "
                    f"{', '.join(AXIS_KEYS)}; others need an entry under 'axes' or 'variants'",
                )
            lists = values if isinstance(values, dict) else {None: values}
            checked = {}
            for prof, vals in lists.items():
                pk = ak if prof is None else f"{ak}.{prof}"
                if not isinstance(vals, list) or not vals:
                    r.fail(pk, f"expected a non-empty list of values, got {vals!r}")
                vals = [r.scalar(x, f"{pk}[{j}]") for j, x in enumerate(vals)]
                if axis in FLOAT_AXES:
                    vals = [r.number(x, f"{pk}[{j}]") for j, x in enumerate(vals)]
                if axis in axes and axes[axis].variants:
                    for j, x in enumerate(vals):
                        if x not in axes[axis].variants and axis != "method":
                            r.fail(f"{pk}[{j}]", f"{x!r} is not defined under variants.{axis}")
                if len(set(map(str, vals))) != len(vals):
                    r.fail(pk, f"duplicate values in {vals!r}")
                checked[prof] = vals
            out[str(axis)] = checked.get(None, checked)
        blocks.append(out)
    derive = {str(k): str(v) for k, v in r.mapping(d.get("derive"), "derive", free=True).items()}
    for k, expr in derive.items():
        check_expression(expr, r.source, f"derive.{k}")
    profiles = {}
    for p, pv in r.mapping(d.get("profiles"), "profiles", free=True).items():
        pk = f"profiles.{p}"
        pv = r.mapping(pv, pk, optional=("seeds", "set"))
        seeds = r.int_list(pv["seeds"], f"{pk}.seeds") if "seeds" in pv else None
        profiles[str(p)] = ExperimentProfile(seeds, r.dotted_set(pv.get("set"), f"{pk}.set"))
    metrics = r.str_list(d.get("metrics", ["test_acc"]), "metrics")
    claims_raw = d.get("claims", [])
    if not isinstance(claims_raw, list):
        r.fail("claims", "expected a list of claims")
    claims = tuple(_claim(r, c, f"claims[{i}]") for i, c in enumerate(claims_raw))
    ids = [c.id for c in claims]
    if len(set(ids)) != len(ids):
        r.fail("claims", f"claim ids must be unique, got {ids}")
    exp = Experiment(
        id=eid,
        kind=kind,
        title=r.string(d["title"], "title"),
        layout=r.string(d["layout"], "layout"),
        grid=tuple(blocks),
        set=r.dotted_set(d.get("set"), "set"),
        derive=derive,
        axes=axes,
        metrics=metrics,
        profiles=profiles,
        claims=claims,
        curves=r.boolean(d.get("curves", False), "curves"),
        forest=_forest(r, d.get("forest")),
        path=path,
    )
    names = exp.axis_names()
    if exp.forest is not None:
        if exp.forest["claim"] not in ids:
            r.fail("forest.claim", f"no claim {exp.forest['claim']!r} (claims: {', '.join(ids)})")
        if exp.forest["axis"] not in names:
            r.fail("forest.axis", f"not an axis of this grid ({', '.join(names)})")
    for i, c in enumerate(claims):
        for part in ("a", "b"):
            for k in getattr(c, part):
                if k not in names:
                    r.fail(
                        f"claims[{i}].{part}.{k}", f"not an axis of this grid ({', '.join(names)})"
                    )
        for k in (*c.per, *c.over):
            if k not in names:
                r.fail(f"claims[{i}]", f"axis {k!r} in per/over is not an axis of this grid")
    return exp


def experiment_path(eid: str) -> Path:
    """The file of experiment ``eid``; an unknown id names the known ones."""
    p = EXPERIMENTS_DIR / f"{eid}.yaml"
    if not p.is_file():
        raise SpecError(f"unknown experiment {eid!r}; known: {', '.join(experiment_ids())}")
    return p


def experiment_ids() -> list[str]:
    """Every experiment under ``bench/experiments``: tables, then figures, each in numeric order,
    then studies of this suite's own (the reconstruction study)."""

    def order(p: Path) -> tuple[int, int, str]:
        stem = p.stem
        digits = "".join(ch for ch in stem if ch.isdigit())
        kind = 0 if stem.startswith("table") else 1 if stem.startswith("figure") else 2
        return (kind, int(digits or 0), stem)

    return [p.stem for p in sorted(EXPERIMENTS_DIR.glob("*.yaml"), key=order)]


# ------------------------------------------------------------------------------------------------
# Profiles
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping:
    """How a profile realises a paper dataset or architecture: ``stand_in`` names it in cells,
    tables and figures; ``set`` holds its run-config overrides."""

    name: str
    stand_in: str
    label: str
    set: dict[str, Any]


@dataclass(frozen=True)
class Tolerance:
    """How far an aggregate may sit from its reference and still pass, with the reason.

    Two kinds. Against a single reported number (the paper's), a fixed ``abs`` in points.
    Against a reference that holds every seed's value (the committed quick reference), a
    statistical test: ``false_alarm`` is the chance that one whole check (every compared cell of
    an experiment together) fails although nothing changed; see :func:`bench.stats.shift_tolerance`.
    """

    abs: float
    reason: str
    false_alarm: float = 0.0
    """> 0: the statistical test, with this false-alarm rate per check (all cells together)."""
    floor_std: float = 0.0
    """Smallest seed std the test assumes (the metric's resolution, e.g. one test image): a
    cell whose reference seeds happen to agree exactly must not fail on one image."""

    def of(self, ref_values: tuple[float, ...], m: int, k: int) -> tuple[float, float]:
        """``(tolerance, per-cell alpha)`` for a fresh mean of ``m`` seeds against reference
        values ``ref_values``, in a check of ``k`` compared cells (alpha NaN: fixed tolerance)."""
        from bench.stats import mean_std, per_check_alpha, shift_tolerance

        if self.false_alarm <= 0 or len(ref_values) < 2:
            return self.abs, math.nan
        alpha = per_check_alpha(self.false_alarm, max(1, k))
        std = max(mean_std(ref_values)[1], self.floor_std)
        return max(self.abs, shift_tolerance(std, len(ref_values), m, alpha)), alpha


@dataclass(frozen=True)
class Regression:
    """What ``bench regression`` re-runs and how the reference it compares with was made."""

    experiments: tuple[str, ...]
    seeds: tuple[int, ...]
    """The seeds CI re-runs: a subset of the reference's."""
    reference_seeds: tuple[int, ...]
    """The seeds the committed reference holds (``bench reference`` runs them all)."""


@dataclass(frozen=True)
class CostModel:
    """The ``--dry-run`` estimate: ``startup_s + epochs * samples * steps * sample_step_s``."""

    startup_s: float
    sample_step_s: dict[str, float]
    dataset_sizes: dict[str, tuple[int, int]]
    """train and test samples per dataset."""
    dataset_factor: dict[str, float]
    """cost of a sample-step relative to the architecture's figure (e.g. larger frames)."""
    event_datasets: frozenset[str]
    """datasets whose TSD teacher is a second pass (reframed input): t_s + t_t steps."""


@dataclass(frozen=True)
class Profile:
    """How every experiment runs under this profile."""

    id: str
    description: str
    seeds: tuple[int, ...]
    workers: int
    threads: int
    base: dict[str, Any]
    datasets: dict[str, Mapping]
    archs: dict[str, Mapping]
    compare: str
    reference_dir: str
    compare_metrics: tuple[str, ...]
    tolerance: Tolerance
    tolerance_by_dataset: dict[str, Tolerance]
    cost: CostModel
    regression: Regression | None
    slurm: dict[str, Any]
    """Resources of the ``slurm`` launcher's job arrays."""
    path: Path

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


def _mapping_block(r: _Reader, v: Any, key: str) -> dict[str, Mapping]:
    out = {}
    for name, m in r.mapping(v, key, free=True).items():
        mk = f"{key}.{name}"
        m = r.mapping(m, mk, optional=("stand_in", "label", "set"))
        stand_in = r.string(m.get("stand_in", str(name)), f"{mk}.stand_in")
        out[str(name)] = Mapping(
            str(name),
            stand_in,
            r.string(m.get("label", stand_in), f"{mk}.label"),
            r.dotted_set(m.get("set"), f"{mk}.set"),
        )
    return out


def _tolerance(r: _Reader, v: Any, key: str) -> Tolerance:
    v = r.mapping(v, key, required=("reason",), optional=("abs", "false_alarm", "floor_std"))
    if "abs" not in v and "false_alarm" not in v:
        r.fail(key, "expected 'abs' (a fixed tolerance) or 'false_alarm' (a statistical test)")
    fa = r.number(v.get("false_alarm", 0.0), f"{key}.false_alarm", 0.0)
    if fa >= 1.0:
        r.fail(f"{key}.false_alarm", f"got {fa}, expected a rate in (0, 1), e.g. 0.01")
    return Tolerance(
        r.number(v.get("abs", 0.0), f"{key}.abs", 0.0),
        r.string(v["reason"], f"{key}.reason"),
        fa,
        r.number(v.get("floor_std", 0.0), f"{key}.floor_std", 0.0),
    )


def _regression(r: _Reader, v: Any) -> Regression | None:
    if v is None:
        return None
    v = r.mapping(v, "regression", required=("experiments", "seeds", "reference_seeds"))
    reg = Regression(
        r.str_list(v["experiments"], "regression.experiments"),
        r.int_list(v["seeds"], "regression.seeds"),
        r.int_list(v["reference_seeds"], "regression.reference_seeds"),
    )
    extra = sorted(set(reg.seeds) - set(reg.reference_seeds))
    if extra:
        r.fail("regression.seeds", f"seeds {extra} are not in regression.reference_seeds")
    if len(reg.reference_seeds) < 10:
        r.fail(
            "regression.reference_seeds",
            f"got {len(reg.reference_seeds)} seeds, expected at least 10 (the test's tolerance "
            "comes from the reference's seed spread)",
        )
    return reg


def load_profile(path_or_id: str | Path) -> Profile:
    """Load ``bench/profiles/<id>.yaml`` (an id or a path)."""
    path = Path(path_or_id)
    if not path.suffix:
        path = PROFILES_DIR / f"{path_or_id}.yaml"
        if not path.is_file():
            known = ", ".join(p.stem for p in sorted(PROFILES_DIR.glob("*.yaml")))
            raise SpecError(f"unknown profile {str(path_or_id)!r}; known: {known}")
    r = _Reader(rel(path))
    d = r.mapping(
        read_yaml(path),
        "",
        required=(
            "id",
            "description",
            "seeds",
            "base",
            "datasets",
            "archs",
            "compare",
            "cost",
        ),
        optional=(
            "tolerance",
            "workers",
            "threads",
            "reference_dir",
            "compare_metrics",
            "tolerance_by_dataset",
            "regression",
            "slurm",
        ),
    )
    pid = r.string(d["id"], "id")
    if pid != path.stem:
        r.fail("id", f"got {pid!r}, expected the file name {path.stem!r}")
    base = r.mapping(d["base"], "base", free=True)
    compare = r.string(d["compare"], "compare", ("paper", "reference", "none"))
    if compare != "none" and "tolerance" not in d:
        r.fail("tolerance", f"compare: {compare} needs a tolerance")
    if compare == "reference" and "reference_dir" not in d:
        r.fail("reference_dir", "compare: reference needs the directory of the reference CSVs")
    c = r.mapping(d["cost"], "cost", required=("startup_s", "sample_step_s", "datasets"))
    steps = {
        str(k): r.number(v, f"cost.sample_step_s.{k}", 0.0)
        for k, v in r.mapping(c["sample_step_s"], "cost.sample_step_s", free=True).items()
    }
    if "default" not in steps:
        r.fail("cost.sample_step_s.default", "is required (used for architectures not listed)")
    sizes, factors, events = {}, {}, set()
    for k, v in r.mapping(c["datasets"], "cost.datasets", free=True).items():
        ck = f"cost.datasets.{k}"
        v = r.mapping(v, ck, required=("train", "test"), optional=("kind", "factor"))
        sizes[str(k)] = (
            r.integer(v["train"], f"{ck}.train", 1),
            r.integer(v["test"], f"{ck}.test", 1),
        )
        factors[str(k)] = r.number(v.get("factor", 1.0), f"{ck}.factor", 0.0)
        if r.string(v.get("kind", "static"), f"{ck}.kind", ("static", "event")) == "event":
            events.add(str(k))
    by_ds = {
        str(k): _tolerance(r, v, f"tolerance_by_dataset.{k}")
        for k, v in r.mapping(
            d.get("tolerance_by_dataset"), "tolerance_by_dataset", free=True
        ).items()
    }
    return Profile(
        id=pid,
        description=r.string(d["description"], "description"),
        seeds=r.int_list(d["seeds"], "seeds"),
        workers=r.integer(d.get("workers", 0), "workers", 0),
        threads=r.integer(d.get("threads", 0), "threads", 0),
        base=base,
        datasets=_mapping_block(r, d["datasets"], "datasets"),
        archs=_mapping_block(r, d["archs"], "archs"),
        compare=compare,
        reference_dir=r.string(d["reference_dir"], "reference_dir") if "reference_dir" in d else "",
        compare_metrics=r.str_list(d.get("compare_metrics", ["test_acc"]), "compare_metrics"),
        tolerance=(
            _tolerance(r, d["tolerance"], "tolerance")
            if "tolerance" in d
            else Tolerance(0.0, "nothing is compared (compare: none)")
        ),
        tolerance_by_dataset=by_ds,
        cost=CostModel(
            r.number(c["startup_s"], "cost.startup_s", 0.0),
            steps,
            sizes,
            factors,
            frozenset(events),
        ),
        regression=_regression(r, d.get("regression")),
        slurm=_slurm_block(r, d.get("slurm")),
        path=path,
    )


SLURM_KEYS = {
    "partition": str,
    "timeout_min": int,
    "gpus_per_node": int,
    "cpus_per_task": int,
    "mem_gb": int,
    "tasks_per_node": int,
    "nodes": int,
}


def _slurm_block(r: _Reader, v: Any) -> dict[str, Any]:
    """The profile's ``slurm`` resources (the ``--launcher slurm`` job array's parameters); any
    ``slurm_*`` key passes through to submitit unchecked."""
    out: dict[str, Any] = {}
    for k, val in r.mapping(v, "slurm", free=True).items():
        key = str(k)
        if key in SLURM_KEYS:
            if SLURM_KEYS[key] is int:
                out[key] = r.integer(val, f"slurm.{key}", 1)
            else:
                out[key] = r.string(val, f"slurm.{key}")
        elif key.startswith("slurm_"):
            out[key] = val
        else:
            r.fail(f"slurm.{key}", f"unknown key; allowed: {', '.join(SLURM_KEYS)} or slurm_*")
    return out


def profile_ids() -> list[str]:
    """Every profile under ``bench/profiles``."""
    return [p.stem for p in sorted(PROFILES_DIR.glob("*.yaml"))]


# ------------------------------------------------------------------------------------------------
# paper_tables: layouts and reported values
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reported:
    """One reported number of the paper: the value, where it comes from and its status."""

    value: float | None
    status: str
    source: str


MISSING = Reported(None, "missing", "")


@dataclass(frozen=True)
class Column:
    """A column of a table: the cells it holds (``match``) and the metric shown."""

    id: str
    label: str
    match: dict[str, Scalar]
    metric: str | None


@dataclass(frozen=True)
class Row:
    """A row: the cells it holds (``match``; None for reported-only rows such as prior methods)
    and the paper's values per column."""

    id: str
    label: str
    match: dict[str, Scalar] | None
    values: dict[str, Reported]

    def reported(self, column: str) -> Reported:
        """The paper's value at ``column`` (``missing`` when the file has none)."""
        return self.values.get(column, MISSING)


@dataclass(frozen=True)
class Layout:
    """A table or figure of the paper as data."""

    id: str
    kind: str
    title: str
    status: str
    metric: str
    unit: str
    bold: str
    digits: int
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    caption: str
    plot: dict[str, Any]
    path: Path


def _reported(r: _Reader, v: Any, key: str) -> Reported:
    v = r.mapping(v, key, required=("status",), optional=("value", "source"))
    status = r.string(v["status"], f"{key}.status", VALUE_STATUSES)
    value = v.get("value")
    source = v.get("source", "")
    if status == "missing":
        if value is not None:
            r.fail(
                f"{key}.value",
                "a missing value has no number (set status to transcribed "
                "or cited, with its source)",
            )
        return Reported(None, "missing", str(source or ""))
    if value is None:
        r.fail(f"{key}.value", f"status {status} needs the number")
    if not source:
        r.fail(f"{key}.source", f"status {status} needs the source of the number")
    return Reported(r.number(value, f"{key}.value"), status, r.string(source, f"{key}.source"))


def load_layout(path: str | Path) -> Layout:
    """Load and validate ``paper_tables/<id>.yaml``."""
    path = Path(path)
    if not path.is_absolute():
        path = ROOT / path
    r = _Reader(rel(path))
    d = r.mapping(
        read_yaml(path),
        "",
        required=("id", "kind", "title", "status"),
        optional=(
            "metric",
            "unit",
            "bold",
            "digits",
            "columns",
            "rows",
            "caption",
            "plot",
            "reported",
        ),
    )
    lid = r.string(d["id"], "id")
    if lid != path.stem:
        r.fail("id", f"got {lid!r}, expected the file name {path.stem!r}")
    kind = r.string(d["kind"], "kind", ("table", "figure"))
    columns = []
    for i, c in enumerate(d.get("columns") or []):
        ck = f"columns[{i}]"
        c = r.mapping(c, ck, required=("id", "label"), optional=("match", "metric"))
        columns.append(
            Column(
                r.string(c["id"], f"{ck}.id"),
                r.string(c["label"], f"{ck}.label"),
                r.match(c.get("match"), f"{ck}.match"),
                r.string(c["metric"], f"{ck}.metric") if "metric" in c else None,
            )
        )
    col_ids = [c.id for c in columns]
    if len(set(col_ids)) != len(col_ids):
        r.fail("columns", f"column ids must be unique, got {col_ids}")
    rows = []
    for i, row in enumerate(d.get("rows") or []):
        rk = f"rows[{i}]"
        row = r.mapping(row, rk, required=("id", "label"), optional=("match", "values"))
        values = {}
        for cid, v in r.mapping(row.get("values"), f"{rk}.values", free=True).items():
            if cid not in col_ids:
                r.fail(f"{rk}.values.{cid}", f"not a column of this table ({', '.join(col_ids)})")
            values[str(cid)] = _reported(r, v, f"{rk}.values.{cid}")
        match = r.match(row["match"], f"{rk}.match") if row.get("match") is not None else None
        rows.append(
            Row(
                r.string(row["id"], f"{rk}.id"),
                r.string(row["label"], f"{rk}.label"),
                match,
                values,
            )
        )
    row_ids = [x.id for x in rows]
    if len(set(row_ids)) != len(row_ids):
        r.fail("rows", f"row ids must be unique, got {row_ids}")
    if kind == "table" and (not columns or not rows):
        r.fail("columns" if not columns else "rows", "a table needs columns and rows")
    if kind == "figure":
        rep = r.mapping(d.get("reported"), "reported", optional=("status", "source", "note"))
        if rep.get("status", "missing") != "missing":
            r.fail(
                "reported.status",
                "figure values are not digitised; only 'missing' is "
                "supported (add a table file to compare numbers)",
            )
    return Layout(
        id=lid,
        kind=kind,
        title=r.string(d["title"], "title"),
        status=r.string(d["status"], "status", ("inferred", "transcribed")),
        metric=r.string(d.get("metric", "test_acc"), "metric"),
        unit=str(d.get("unit", "%")),
        bold=r.string(d.get("bold", "max"), "bold", ("max", "min", "none")),
        digits=r.integer(d.get("digits", 2), "digits", 0),
        columns=tuple(columns),
        rows=tuple(rows),
        caption=str(d.get("caption", "")),
        plot=r.mapping(d.get("plot"), "plot", free=True),
        path=path,
    )


@dataclass(frozen=True)
class IndexEntry:
    """``paper_tables/index.yaml``: what a table or figure id holds (inferred where marked)."""

    id: str
    kind: str
    content: str
    datasets: str
    architecture: str
    rerun: str
    status: str
    layout: str
    experiment: str


def load_index(path: str | Path | None = None) -> dict[str, IndexEntry]:
    """Load and validate ``paper_tables/index.yaml``."""
    path = Path(path) if path is not None else PAPER_TABLES_DIR / "index.yaml"
    r = _Reader(rel(path))
    d = r.mapping(read_yaml(path), "", required=("entries",), optional=("note",))
    if not isinstance(d["entries"], list):
        r.fail("entries", "expected a list")
    out: dict[str, IndexEntry] = {}
    for i, e in enumerate(d["entries"]):
        k = f"entries[{i}]"
        e = r.mapping(
            e,
            k,
            required=("id", "kind", "content", "status"),
            optional=("datasets", "architecture", "rerun", "layout", "experiment"),
        )
        eid = r.string(e["id"], f"{k}.id")
        if eid in out:
            r.fail(f"{k}.id", f"duplicate id {eid!r}")
        out[eid] = IndexEntry(
            id=eid,
            kind=r.string(e["kind"], f"{k}.kind", ("table", "figure", "diagram")),
            content=r.string(e["content"], f"{k}.content"),
            datasets=str(e.get("datasets", "")),
            architecture=str(e.get("architecture", "")),
            rerun=str(e.get("rerun", "")),
            status=r.string(e["status"], f"{k}.status", ("inferred", "transcribed")),
            layout=str(e.get("layout", "")),
            experiment=str(e.get("experiment", "")),
        )
    return out
