"""Every results CSV as a typed pandas frame: each kind's columns and dtypes, one writer, one
reader (bench/README.md, "Results files")."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.analyse.claims import ClaimResult, Comparison
from bench.plan.schema import Claim
from tssd.api import atomic_write_text

TEXT, FLOAT, INT, BOOL = "str", "float64", "Int64", "boolean"
AXES = "AXES"  # where a kind's header takes the experiment's axes
Rows = Iterable[dict[str, Any]] | pd.DataFrame  # a CSV's rows: values as text or typed


@dataclass(frozen=True)
class Kind:
    """One kind of CSV: its columns and their dtypes, and how its numbers are written."""

    columns: dict[str, str]  # column -> dtype in file order; AXES marks where the axes go
    other: str = TEXT  # the dtype of a column not declared
    float_format: str = "%.10g"
    na_rep: str = ""

    def header(self, axes: Iterable[str] = (), extra: Iterable[str] = ()) -> list[str]:
        """The declared columns with ``axes`` in place of :data:`AXES`, then ``extra``."""
        out = [name for c in self.columns for name in (axes if c == AXES else [c])]
        return out + [c for c in extra if c not in out]

    def dtype(self, column: str) -> str:
        """The dtype of ``column``."""
        return self.columns.get(column, self.other) if column != AXES else TEXT


def declare(columns: str, floats: str = "", ints: str = "", bools: str = "", **kw: Any) -> Kind:
    """A kind from its header (``columns``, space-separated) and which columns are not text."""
    dtypes = {c: FLOAT for c in floats.split()} | {c: INT for c in ints.split()}
    dtypes |= {c: BOOL for c in bools.split()}
    return Kind({c: dtypes.get(c, TEXT) for c in columns.split()}, **kw)


AGGREGATE = declare(
    "experiment profile cell AXES stands_for metric unit n n_planned mean std ci_lo ci_hi status "
    "reported reported_source delta tolerance verdict reason runs",
    floats="mean std ci_lo ci_hi reported delta tolerance",
    ints="n n_planned",
)
"""``<id>.csv``: one row per (cell, metric) (:mod:`bench.analyse.aggregate`)."""
CLAIMS = declare(
    "experiment profile claim kind source gate metric text verdict group outcome a_mean b_mean "
    "diff ci_lo ci_hi note p_reversal p_holm margin within_margin a_cell b_cell",
    floats="a_mean b_mean diff ci_lo ci_hi p_reversal p_holm margin",
    bools="gate within_margin",
)
"""``<id>_claims.csv``: one ``all`` row per claim, then one row per comparison."""
RUNS = declare(
    "experiment profile cell seed role run_id status reason test_acc val_acc train_acc wall_s "
    "peak_mem_mb method model dataset dataset_kind split split_hash t_s t_t backend "
    "backend_version torch_version device device_name git_commit git_dirty selection world_size "
    "started finished",
    floats="test_acc val_acc train_acc wall_s peak_mem_mb",
    ints="seed t_s t_t world_size",
    bools="git_dirty",
    other=FLOAT,
)
"""``<id>_runs.csv``: one row per run with its provenance, then per-seed metrics (floats)."""
CURVES = declare(
    "experiment profile cell AXES metric epoch n mean std", floats="mean std", ints="epoch n"
)
"""``<id>_curves.csv``: mean and std over seeds per cell, metric and epoch."""
FOREST = declare(
    "dataset stands_for value label diff ci_lo ci_hi a_mean b_mean outcome note",
    floats="diff ci_lo ci_hi a_mean b_mean",
)
"""``<id>_forest.csv``: one comparison of the forest's claim per row (bench.present.forest)."""
FIGDATA = declare(
    "panel panel_label element series x y lo hi n interval flag note", floats="y lo hi"
)
"""``<id>_figdata.csv``: what a figure draws; ``x`` and ``n`` are text (``3 vs 2`` seeds)."""
REFERENCE = declare("cell AXES metric unit seed value", floats="value", ints="seed", na_rep="nan")
"""The regression reference (``results/reference/quick/<id>.csv``): one row per seed."""


def _empty(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) or v == ""


def cell_text(v: Any) -> str:
    """A value as a text cell: a float with ten significant digits, nothing for a missing one."""
    return "" if _empty(v) else format(v, ".10g") if isinstance(v, float) else str(v)


def _bool(v: Any) -> bool:
    got = {"True": True, "False": False}.get(v, v) if isinstance(v, str) else v
    if not isinstance(got, bool):
        raise ValueError(f"got {v!r}, expected True, False or empty")
    return got


CASTS = {
    TEXT: lambda vs: pd.array([cell_text(v) for v in vs], dtype=TEXT),
    FLOAT: lambda vs: pd.array([math.nan if _empty(v) else float(v) for v in vs], dtype=FLOAT),
    INT: lambda vs: pd.array([None if _empty(v) else int(v) for v in vs], dtype=INT),
    BOOL: lambda vs: pd.array([None if _empty(v) else _bool(v) for v in vs], dtype=BOOL),
}


def frame(rows: Rows, kind: Kind, columns: list[str] | None = None) -> pd.DataFrame:
    """``rows`` as the kind's typed frame, with ``columns`` (default: those of ``rows``, then
    every declared one they lack; a missing one is empty); ValueError names a column's bad value."""
    if isinstance(rows, pd.DataFrame):
        data = {c: rows[c].tolist() for c in rows.columns}
    else:
        rows = list(rows)
        data = {c: [r.get(c) for r in rows] for c in dict.fromkeys(k for r in rows for k in r)}
    n = len(rows)
    if columns is None:
        columns = list(data) + [c for c in kind.header() if c not in data]
    out = {}
    for c in columns:
        try:
            out[c] = CASTS[kind.dtype(c)](data.get(c, [None] * n))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column {c!r}: {exc}") from None
    return pd.DataFrame(out, index=range(n))


def text(rows: Rows, kind: Kind, columns: list[str] | None = None) -> str:
    """The CSV text of ``rows`` as ``kind`` (columns as :func:`frame` takes them)."""
    return frame(rows, kind, columns).to_csv(
        index=False, lineterminator="\n", float_format=kind.float_format, na_rep=kind.na_rep
    )


def write(path: Path, rows: Rows, kind: Kind, columns: list[str] | None = None) -> Path:
    """Write ``rows`` as ``kind`` to ``path`` whole (a temporary file and a rename)."""
    atomic_write_text(path, text(rows, kind, columns))
    return path


def read(path: Path, kind: Kind, missing_ok: bool = False) -> pd.DataFrame:
    """The typed frame of the CSV at ``path`` (empty where it is absent and ``missing_ok``,
    else FileNotFoundError naming the command that writes it)."""
    if not path.is_file() and missing_ok:
        return frame([], kind)
    if not path.is_file():
        cmd = f"python -m bench run {path.stem.split('_')[0]} --profile {path.parent.name}"
        raise FileNotFoundError(f"{path}: not found; run `{cmd}` first")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:  # not even a header: no rows
        return frame([], kind)
    try:
        return frame(raw, kind)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def records(data: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a typed frame as dicts (floats NaN where empty, nullable values None)."""
    return data.to_dict("records")


def header_of(path: Path) -> list[str]:
    """The columns of the CSV at ``path`` (none for an empty file)."""
    try:
        return list(pd.read_csv(path, dtype=str, nrows=0).columns)
    except pd.errors.EmptyDataError:
        return []


# The claims CSV <-> ClaimResult

ALL = "all"  # the group of a claim's own row (its verdict and summary)
HEAD = ("kind", "source", "gate", "metric", "text")  # the claim's fields every row repeats
COMPARISON_FIELDS = [f.name for f in dataclasses.fields(Comparison)]


def claims_rows(experiment: str, profile: str, claims: list[ClaimResult]) -> list[dict[str, Any]]:
    """The claims CSV's rows of ``claims``: per claim its ``all`` row, then its comparisons."""
    rows = []
    for res in claims:
        head = {"experiment": experiment, "profile": profile, "claim": res.claim.id}
        head |= {k: getattr(res.claim, k) for k in HEAD} | {"verdict": res.verdict}
        rows.append({**head, "group": ALL, "outcome": res.verdict, "note": res.summary})
        rows += [{**head, **dataclasses.asdict(comp)} for comp in res.comparisons]
    return rows


def _comparison(row: dict[str, Any]) -> Comparison:
    return Comparison(
        **{k: row[k] for k in COMPARISON_FIELDS} | {"within_margin": bool(row["within_margin"])}
    )


def claims_from(rows: Rows) -> list[ClaimResult]:
    """The claims that claims CSV rows hold, in order (one without its ``all`` row: left out)."""
    typed = records(frame(rows, CLAIMS))
    out = []
    for cid in dict.fromkeys(r["claim"] for r in typed):
        mine = [r for r in typed if r["claim"] == cid]
        top = next((r for r in mine if r["group"] == ALL), None)
        if top is None:
            continue
        comps = [_comparison(r) for r in mine if r["group"] != ALL]
        fields = {k: top[k] for k in ("source", "metric")} | {"gate": bool(top["gate"])}
        claim = Claim(cid, top["kind"], top["text"], **fields)
        margin = next((c.margin for c in comps if not math.isnan(c.margin)), math.nan)
        out.append(ClaimResult(claim, top["verdict"], comps, margin=margin, summary=top["note"]))
    return out


def read_claims(path: Path, missing_ok: bool = True) -> list[ClaimResult]:
    """The claims of a claims CSV (none where it is absent and ``missing_ok``)."""
    return claims_from(read(path, CLAIMS, missing_ok))


def seed_values(runs: pd.DataFrame, metric: str) -> dict[str, dict[int, float]]:
    """``cell -> {seed: value}`` of ``metric`` over the cells' finished runs of a runs frame."""
    out: dict[str, dict[int, float]] = {}
    if metric not in runs.columns or RUNS.dtype(metric) != FLOAT:
        return out
    done = runs[(runs["role"] == "cell") & (runs["status"] == "finished")]
    for cell, seed, v in zip(done["cell"], done["seed"], done[metric], strict=True):
        if math.isfinite(v):
            out.setdefault(cell, {})[int(seed)] = float(v)
    return out
