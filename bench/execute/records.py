"""Run records: ``runs.jsonl`` and ``epochs.csv``, written as runs finish and checked on load
(bench/README.md, "Run records")."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.plan.schema import SpecError, rel
from tssd.api import atomic_write_text, config_hash

RECORDS = "records"
RUNS = "runs.jsonl"
EPOCHS = "epochs.csv"
STATUSES = ("finished", "failed")
KEYS = ("config", "reason", "run_id", "status", "summary")
FINISHED_KEYS = ("test_acc", "train_acc", "test_loss", "params", "macs_per_sample", "wall_s")
"""What a finished run's summary must hold for the tables (tssd.rundir's required metrics)."""
EPOCH_KEYS = ("run_id", "epoch", "loss", "train_acc", "test_acc", "epoch_time_s")


class RecordError(SpecError):
    """A record file that cannot be trusted (the message names the file, line and problem)."""


@dataclass
class Record:
    """One run's record."""

    run_id: str
    status: str
    config: dict[str, Any]
    summary: dict[str, Any]
    reason: str = ""
    epochs: list[dict[str, float]] = field(default_factory=list)

    def line(self) -> str:
        """Its line of runs.jsonl (without the newline)."""
        obj = {k: getattr(self, k) for k in KEYS}
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def records_dir(out_dir: Path) -> Path:
    """``results/<profile>/records/`` of a profile's output directory."""
    return out_dir / RECORDS


def load(directory: Path) -> dict[str, Record]:
    """Every record under ``directory`` (empty when it holds none), checked (RecordError)."""
    runs_path, epochs_path = directory / RUNS, directory / EPOCHS
    if not runs_path.is_file():
        if epochs_path.is_file() and epochs_path.read_text().strip():
            raise RecordError(f"{rel(epochs_path)}: epochs without {RUNS} beside it")
        return {}
    records: dict[str, Record] = {}
    first_line: dict[str, int] = {}
    try:
        text = runs_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(
            f"{rel(runs_path)}: unreadable ({exc}); expected UTF-8 JSON lines"
        ) from None
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        rec = _parse_line(raw, f"{rel(runs_path)}:{n}")
        if rec.run_id in first_line:
            raise RecordError(
                f"{rel(runs_path)}:{n}: run id {rec.run_id} appears twice (first on line "
                f"{first_line[rec.run_id]}); expected one record per run"
            )
        first_line[rec.run_id] = n
        records[rec.run_id] = rec
    _read_epochs(epochs_path, records)
    for rid, rec in records.items():
        want = rec.summary.get("epochs") if rec.status == "finished" else None
        if want is not None and len(rec.epochs) != want:
            raise RecordError(
                f"{rel(runs_path)}:{first_line[rid]}: run {rid} finished {want} epochs but "
                f"{rel(epochs_path)} holds {len(rec.epochs)}; expected one row per epoch"
            )
    return records


def _parse_line(raw: str, where: str) -> Record:
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise RecordError(
            f"{where}: not JSON ({exc.args[0]}); expected one object per line"
        ) from None
    if not isinstance(obj, dict):
        raise RecordError(f"{where}: a JSON {type(obj).__name__}; expected an object")
    missing = [k for k in KEYS if k not in obj]
    if missing:
        raise RecordError(f"{where}: key '{missing[0]}' missing; expected keys {', '.join(KEYS)}")
    rid, status, cfg, summary = obj["run_id"], obj["status"], obj["config"], obj["summary"]
    if not isinstance(rid, str) or not rid:
        raise RecordError(f"{where}: key 'run_id': got {rid!r}, expected the config hash")
    if status not in STATUSES:
        raise RecordError(f"{where}: key 'status': got {status!r}, expected finished or failed")
    for key, value in (("config", cfg), ("summary", summary)):
        if not isinstance(value, dict):
            raise RecordError(f"{where}: key '{key}': a {type(value).__name__}, expected an object")
    got = config_hash(cfg)
    if got != rid:
        raise RecordError(
            f"{where}: key 'config': hashes to {got}, not to its run id {rid}; the record was "
            "edited, or the config format changed without a migration of the records"
        )
    lacking = [k for k in FINISHED_KEYS if not isinstance(summary.get(k), (int, float))]
    if status == "finished" and lacking:
        raise RecordError(
            f"{where}: key 'summary.{lacking[0]}' missing; a finished run's summary holds "
            f"{', '.join(FINISHED_KEYS)}"
        )
    return Record(rid, status, cfg, summary, str(obj["reason"]))


def _num(text: str) -> float:
    return math.nan if text == "" else float(text)


def _read_epochs(path: Path, records: dict[str, Record]) -> None:
    header, rows = list(EPOCH_KEYS), []
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header, rows = list(reader.fieldnames or []), list(reader)
    missing = [c for c in EPOCH_KEYS if c not in header]
    if missing:
        raise RecordError(
            f"{rel(path)}: column '{missing[0]}' missing; expected at least {', '.join(EPOCH_KEYS)}"
        )
    for n, row in enumerate(rows, 2):
        rid = row["run_id"]
        rec = records.get(rid)
        if rec is None:
            raise RecordError(f"{rel(path)}:{n}: run id {rid!r} has no record in {RUNS}")
        values = {}
        for k, v in ((k, v) for k, v in row.items() if k != "run_id"):
            try:
                values[k] = _num(v)
            except (TypeError, ValueError):
                raise RecordError(
                    f"{rel(path)}:{n}: column '{k}': got {v!r}, expected a number or empty"
                ) from None
        if values["epoch"] != len(rec.epochs) + 1:
            raise RecordError(
                f"{rel(path)}:{n}: run {rid} epoch {values['epoch']:g} after "
                f"{len(rec.epochs)} epochs; expected epochs 1, 2, ... in order, each once"
            )
        rec.epochs.append(values)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return format(v, ".7g") if isinstance(v, float) else str(v)


def _epoch_columns(records: Iterable[Record]) -> list[str]:
    """run_id, epoch, then every other column in the order runs wrote them (the required ones
    even when no run has an epoch: a run that failed in its first epoch has none)."""
    return list(dict.fromkeys([*EPOCH_KEYS, *(k for r in records for e in r.epochs for k in e)]))


def texts(records: dict[str, Record]) -> tuple[str, str]:
    """The text of runs.jsonl and of epochs.csv for ``records``."""
    recs = [records[k] for k in sorted(records)]
    cols = _epoch_columns(recs)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in recs:
        for e in r.epochs:
            w.writerow({"run_id": r.run_id, **{k: _fmt(e.get(k)) for k in cols[1:]}})
    return "".join(r.line() + "\n" for r in recs), buf.getvalue()


def write(directory: Path, records: dict[str, Record]) -> list[Path]:
    """Rewrite both files whole (each through a temporary file and a rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in zip((RUNS, EPOCHS), texts(records), strict=True):
        atomic_write_text(directory / name, text)
    return [directory / RUNS, directory / EPOCHS]


def from_run_dir(run_id: str, run_dir: Path) -> Record | None:
    """The record of a finished or failed run directory (None otherwise), epochs as stored."""
    from tssd.api import RunDir, load_config

    d = RunDir(run_dir)
    st = d.state()
    s = st.summary
    if st.status not in STATUSES or s is None:
        return None
    cfg = load_config(str(run_dir / "config.yaml"))
    semantic = json.loads(json.dumps(cfg.semantic_dict()))
    if config_hash(semantic) != run_id:
        raise RecordError(
            f"{rel(run_dir / 'config.yaml')}: hashes to {config_hash(semantic)}, not to its run "
            f"directory's name {run_id}; expected the run's own config"
        )
    summary = json.loads(json.dumps(s.as_dict()))
    reason = (s.error or "failed") if st.status == "failed" else ""
    epochs = [{k: _num(_fmt(v)) for k, v in e.items()} for e in d.read_epochs()]
    if st.status == "finished":
        epochs = epochs[: summary.get("epochs", len(epochs))]
    return Record(run_id, st.status, semantic, summary, reason, epochs)


REMEASURED = ("neurobench",)
"""Summary keys measured after training (``python -m tssd metrics``): new ones update a record."""


def remeasured(old: Record, new: Record) -> bool:
    """Whether ``new`` is ``old`` with only its after-training measurements changed."""

    def rest(r: Record) -> Record:
        summary = {k: v for k, v in r.summary.items() if k not in REMEASURED}
        return Record(r.run_id, r.status, r.config, summary, r.reason, r.epochs)

    return texts({0: rest(old)}) == texts({0: rest(new)})


def upsert(directory: Path, new: list[Record], lock: Path, replace: bool = True) -> list[Path]:
    """Add ``new`` to the records under a file lock; one replaces a record of its run only with
    ``replace`` (it finished here) or by new after-training measurements (remeasured)."""
    from filelock import FileLock

    if not new:
        return []
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock)):
        records = load(directory)
        changed = False
        for rec in new:
            old = records.get(rec.run_id)
            if old is None or (
                texts({0: old}) != texts({0: rec}) and (replace or remeasured(old, rec))
            ):
                records[rec.run_id] = rec
                changed = True
        return write(directory, records) if changed else []
