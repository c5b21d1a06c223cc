"""The run directory: its format, read and written only through this module.

A run directory (``<results>/runs/<config-hash>/`` under the harness) holds::

    config.yaml         the resolved config (every field, defaults included)
    epochs.csv          one row per finished epoch (:func:`epoch_columns`)
    checkpoint.pt       everything a resumed run needs (tssd.train)
    summary.json        status (running | finished | failed), provenance, final metrics
    inference.pt        the exported inference network; finished runs only
    harness_error.json  written by the harness when the run raised something other than
                        RunFailed (missing data, a bug): an :class:`ErrorRecord`

``summary.json`` is one flat JSON object: the provenance (written when the run starts: config
hash, seed, method, dataset and split, backend and versions, device, git commit, ...), then
``status``; a finished run adds its :class:`Metrics`, a failed one ``error`` and ``epochs_done``.
:class:`Summary` reads and writes exactly that layout, key order included, so directories written
before this module read identically and new ones are written as before.

The writer is :mod:`tssd.train`; the readers are the harness's runner (``bench.execute.run``),
aggregator (``bench.analyse.aggregate``), worker (``bench.execute.worker``) and scale-out launchers
(``bench.execute.scaleout``), which all ask :meth:`RunDir.state` what a directory says. Every file
is written to a temporary name, then renamed.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from tssd.errors import RunFailed
from tssd.fileio import atomic_write_text

CONFIG = "config.yaml"
EPOCHS = "epochs.csv"
CHECKPOINT = "checkpoint.pt"
SUMMARY = "summary.json"
INFERENCE = "inference.pt"
HARNESS_ERROR = "harness_error.json"

Status = Literal["running", "finished", "failed"]
STATUSES: tuple[str, ...] = ("running", "finished", "failed")
TERMINAL: tuple[str, ...] = ("finished", "failed")
"""A run in one of these states is done: it is never re-run unless asked (``--force``)."""


def epoch_columns(loss_terms: tuple[str, ...] | list[str]) -> list[str]:
    """The columns of epochs.csv for a run whose loss terms are ``loss_terms``."""
    return [
        "epoch",
        "lr",
        "loss",
        *(f"loss_{k}" for k in loss_terms),
        "train_acc",
        "val_acc",
        "val_loss",
        "test_acc",
        "test_loss",
        "epoch_time_s",
        "wall_s",
        "peak_mem_mb",
    ]


def metric_columns(loss_terms: tuple[str, ...] | list[str]) -> list[str]:
    """The epochs.csv columns that are a pure function of config and seed (bit-identical when
    deterministic): all but the timings and memory."""
    cols = epoch_columns(loss_terms)
    return cols[: cols.index("epoch_time_s")]


def _fmt(v: Any) -> str:
    # repr of a float round-trips exactly: identical metrics give identical text.
    return repr(float(v)) if isinstance(v, float) else str(v)


def format_epochs(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """epochs.csv's text for ``rows`` (every row holds every column)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(r[k]) for k in columns})
    return buf.getvalue()


@dataclass(frozen=True)
class Metrics:
    """The final measurements of a finished run (accuracies as fractions, selection rule: the
    final epoch). Fields that older summaries may lack are None when absent and stay absent when
    written back."""

    epochs: int
    test_acc: float
    test_loss: float
    train_acc: float
    val_acc: float | None = None
    """Validation accuracy after the last epoch (runs with a validation split only)."""
    val_loss: float | None = None
    test_acc_by_timesteps: dict[str, float] | None = None
    """Final test accuracy at each extra inference timestep, keyed by T: ``eval.timesteps`` and a
    teacher's T_t (:meth:`tssd.config.RunConfig.extra_eval_timesteps`)."""
    firing_rates: dict[str, float] | None = None
    """Mean firing rate of each spiking layer on the test set after the last epoch."""
    params: int = 0
    macs_per_sample: int = 0
    weak_head_params: int | None = None
    wall_s: float = 0.0
    """Training wall time over every session of the run (resumes included)."""
    peak_mem_mb: float = 0.0
    finished: str | None = None
    """ISO time the run finished."""
    session_wall_s: float | None = None
    """Wall time of the session that finished it (data loading included)."""
    neurobench: dict[str, Any] | None = None
    """NeuroBench's metrics of the deployed network and the energy estimate
    (:func:`tssd.metrics.measure`); absent where neurobench was not installed or
    ``eval.neurobench`` was off (``python -m tssd metrics RUN_DIR`` adds it later)."""


_REQUIRED_METRICS = (
    "epochs",
    "test_acc",
    "test_loss",
    "train_acc",
    "params",
    "macs_per_sample",
    "wall_s",
    "peak_mem_mb",
)
_METRIC_KEYS = tuple(f.name for f in fields(Metrics))
_FAILURE_KEYS = ("error", "epochs_done")


@dataclass
class Summary:
    """What ``summary.json`` says: status, provenance and, once finished, metrics."""

    status: Status
    provenance: dict[str, Any] = field(default_factory=dict)
    """Everything recorded when the run started (config hash, seed, method, model, dataset,
    split and its hash, t_s/t_t, backend and version, selection rule, world size, amp, torch and
    python versions, device, host, git commit and dirty flag, teacher, start time), in file
    order; keys this version does not know are kept here too."""
    metrics: Metrics | None = None
    """Finished runs only."""
    error: str | None = None
    """Failed runs only: why (one line naming the epoch and what to change)."""
    epochs_done: int | None = None
    """Failed runs only: epochs trained before the failure."""

    @property
    def config_hash(self) -> str | None:
        """The config hash of the run this directory holds."""
        return self.provenance.get("config_hash")

    def as_dict(self) -> dict[str, Any]:
        """The flat on-disk form (what ``tssd.train.train`` returns)."""
        out = {**self.provenance, "status": self.status}
        if self.error is not None:
            out["error"] = self.error
        if self.epochs_done is not None:
            out["epochs_done"] = self.epochs_done
        if self.metrics is not None:
            for k in _METRIC_KEYS:
                v = getattr(self.metrics, k)
                if v is not None:
                    out[k] = v
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = SUMMARY) -> Summary:
        """Parse the on-disk form.

        Raises:
            RunFailed: not an object, an unknown status, or a finished run without its metrics
                (naming ``where`` and what was expected).
        """
        if not isinstance(data, dict):
            raise RunFailed(
                f"{where}: corrupt summary (expected a JSON object, got {type(data).__name__}); "
                "delete the run directory or use --force"
            )
        status = data.get("status")
        if status not in STATUSES:
            raise RunFailed(
                f"{where}: corrupt summary (key 'status': got {status!r}, expected one of "
                f"{', '.join(STATUSES)}); delete the run directory or use --force"
            )
        metrics = None
        if status == "finished":
            missing = [k for k in _REQUIRED_METRICS if k not in data]
            if missing:
                raise RunFailed(
                    f"{where}: corrupt summary (a finished run without {', '.join(missing)}); "
                    "delete the run directory or use --force"
                )
            metrics = Metrics(**{k: data[k] for k in _METRIC_KEYS if k in data})
        skip = {"status", *_FAILURE_KEYS, *(_METRIC_KEYS if metrics is not None else ())}
        return cls(
            status,
            {k: v for k, v in data.items() if k not in skip},
            metrics,
            data.get("error"),
            data.get("epochs_done"),
        )


@dataclass(frozen=True)
class ErrorRecord:
    """What ``harness_error.json`` says: the run raised something other than RunFailed."""

    kind: str
    """``unavailable`` (the data is missing: the run is not run) or ``error`` (bad data, a bug:
    the run counts as failed until retried)."""
    error: str
    """The message (for a bug, followed by a short traceback)."""

    @property
    def first_line(self) -> str:
        """The message's first line (what tables show)."""
        return self.error.splitlines()[0] if self.error else ""


@dataclass
class RunState:
    """What a run directory says about its run, before anything is launched."""

    status: str
    """finished | failed | partial | new | error (a harness error record, or an unreadable
    summary) | unavailable (a harness record of missing data; the harness also uses it for a
    run its checkout cannot run)."""
    epochs_done: int = 0
    error: str = ""
    summary: Summary | None = None
    """The parsed summary, when there is a readable one."""


FINISHED_FILES = (CONFIG, EPOCHS, CHECKPOINT, INFERENCE)
"""What a finished run directory holds besides summary.json (tssd.train writes them all)."""
CHECKPOINT_KEYS = ("epoch", "rows", "config_hash", "model", "head", "opt", "sched", "rng")
"""The keys of checkpoint.pt (:meth:`tssd.train.Trainer.state`)."""
NOT_FINISHED = "not a finished run of this config"
"""What every refusal of a run directory says (then why, then how to redo it)."""


class RunDir:
    """One run directory (see the module docstring for its files)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def file(self, name: str) -> Path:
        """The path of one of its files (``SUMMARY``, ``EPOCHS``, ...)."""
        return self.path / name

    # ---- summary.json ----------------------------------------------------------------------------
    def read_summary(self) -> Summary | None:
        """The summary, or None when the run never started.

        Raises:
            RunFailed: the file cannot be read or parsed (naming it).
        """
        p = self.file(SUMMARY)
        if not p.is_file():
            return None
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunFailed(
                f"{p}: corrupt summary ({exc}); delete the run directory or use --force"
            ) from exc
        except OSError as exc:
            raise RunFailed(f"{p}: unreadable summary ({exc.strerror or exc})") from exc
        return Summary.from_dict(data, str(p))

    def write_summary(self, summary: Summary) -> None:
        """Write summary.json (through a temporary file and a rename)."""
        atomic_write_text(self.file(SUMMARY), json.dumps(summary.as_dict(), indent=2))

    # ---- epochs.csv ------------------------------------------------------------------------------
    def epochs_done(self) -> int:
        """Rows of epochs.csv (0 when absent); cheap enough to poll every second."""
        try:
            with open(self.file(EPOCHS), "rb") as f:
                return max(0, sum(1 for _ in f) - 1)
        except FileNotFoundError:
            return 0

    def read_epochs(self) -> list[dict[str, float]]:
        """epochs.csv as a list of dicts of floats (empty when absent)."""
        p = self.file(EPOCHS)
        if not p.is_file():
            return []
        with open(p, newline="") as f:
            return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]

    def write_epochs(self, rows: list[dict[str, Any]], columns: list[str]) -> None:
        """Write epochs.csv (through a temporary file and a rename)."""
        atomic_write_text(self.file(EPOCHS), format_epochs(rows, columns))

    # ---- harness_error.json ----------------------------------------------------------------------
    def read_error(self) -> ErrorRecord | None:
        """The harness's error record, or None. Tolerant: a file that cannot be read or parsed
        is itself an error record saying so (never an exception)."""
        p = self.file(HARNESS_ERROR)
        if not p.is_file():
            return None
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            return ErrorRecord("error", f"{p}: unreadable ({exc})")
        if not isinstance(data, dict):
            return ErrorRecord(
                "error", f"{p}: unreadable (expected a JSON object, got {type(data).__name__})"
            )
        kind = "unavailable" if data.get("kind") == "unavailable" else "error"
        return ErrorRecord(kind, str(data.get("error", "")))

    def record_error(self, kind: str, message: str) -> None:
        """Write harness_error.json (creating the directory)."""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            self.file(HARNESS_ERROR), json.dumps({"kind": kind, "error": message}, indent=2)
        )

    def clear_error(self) -> None:
        """Remove harness_error.json (before the run is tried again)."""
        self.file(HARNESS_ERROR).unlink(missing_ok=True)

    # ---- everything together ---------------------------------------------------------------------
    def finished_problem(self, summary: Summary, expected_hash: str | None = None) -> str:
        """Why a directory whose summary says finished is not a finished run (of the config
        hashed ``expected_hash``, when given), or "" when nothing is wrong. Cheap: the files a
        finished run holds, the summary's config hash, and epochs.csv's rows against the
        epochs the summary declares; :meth:`verify` also reads config.yaml and the checkpoint.
        """
        missing = [name for name in FINISHED_FILES if not self.file(name).is_file()]
        if missing:
            return f"{', '.join(missing)} missing"
        if expected_hash is not None and summary.config_hash != expected_hash:
            return f"{SUMMARY} is of config {summary.config_hash}, expected {expected_hash}"
        declared = summary.metrics.epochs if summary.metrics is not None else 0
        if self.epochs_done() < declared:
            return f"{EPOCHS} holds {self.epochs_done()} epochs, {SUMMARY} declares {declared}"
        return ""

    def refusal(self, why: str) -> str:
        """The one line that refuses this directory as a finished run."""
        return f"{self.path}: {NOT_FINISHED} ({why}); delete it or re-run with --force"

    def verify(self, expected_hash: str | None = None) -> Summary:
        """Check a finished run before it is trusted: :meth:`finished_problem`, then that
        config.yaml hashes to the summary's config hash (and to ``expected_hash``) and that
        checkpoint.pt has :data:`CHECKPOINT_KEYS` and the same config hash. Imports torch and
        :mod:`tssd.config`.

        Raises:
            RunFailed: one line naming the directory, ":data:`NOT_FINISHED`" and why.
        """
        summary = self.read_summary()
        if summary is None or summary.status != "finished":
            status = "no summary" if summary is None else f"status {summary.status}"
            raise RunFailed(self.refusal(f"{SUMMARY}: {status}"))
        why = self.finished_problem(summary, expected_hash)
        if why:
            raise RunFailed(self.refusal(why))
        from tssd.config import ConfigError, load_config

        try:
            got = load_config(self.file(CONFIG)).hash()
        except ConfigError as exc:
            raise RunFailed(self.refusal(f"{CONFIG}: {str(exc).splitlines()[0]}")) from None
        if got != summary.config_hash:
            raise RunFailed(
                self.refusal(f"{CONFIG} hashes to {got}, {SUMMARY} to {summary.config_hash}")
            )
        ck = self.read_checkpoint_meta()
        missing = [k for k in CHECKPOINT_KEYS if k not in ck]
        if missing:
            raise RunFailed(self.refusal(f"{CHECKPOINT} lacks {', '.join(missing)}"))
        if ck["config_hash"] != got:
            raise RunFailed(
                self.refusal(f"{CHECKPOINT} is of config {ck['config_hash']}, {CONFIG} of {got}")
            )
        return summary

    def read_checkpoint_meta(self) -> dict[str, Any]:
        """checkpoint.pt's top-level dict, memory-mapped (tensors are not read), loaded with
        ``weights_only``.

        Raises:
            RunFailed: a refused or corrupt file, or not a dict (naming it).
        """
        import torch

        from tssd.runtime import load_error

        path = self.file(CHECKPOINT)
        try:
            ck = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as exc:  # noqa: BLE001  (any unpickling error means the same thing)
            raise RunFailed(self.refusal(f"{CHECKPOINT}: {load_error(exc)}")) from None
        if not isinstance(ck, dict):
            raise RunFailed(self.refusal(f"{CHECKPOINT} holds a {type(ck).__name__}, not a dict"))
        return ck

    def state(self, expected_hash: str | None = None, deep: bool = False) -> RunState:
        """What the directory says: a finished or failed summary first, then a harness error
        record, then partial training (epochs or a checkpoint) or nothing (``new``). An
        unreadable summary is ``error``, and so is a finished summary the directory does not
        bear out (:meth:`finished_problem`; with ``deep``, :meth:`verify`): the run is then
        never reported as finished."""
        try:
            summary = self.read_summary()
        except RunFailed as exc:
            return RunState("error", error=str(exc))
        if summary is not None and summary.status == "finished":
            try:
                if deep:
                    self.verify(expected_hash)
                else:
                    why = self.finished_problem(summary, expected_hash)
                    if why:
                        raise RunFailed(self.refusal(why))
            except RunFailed as exc:
                return RunState("error", self.epochs_done(), str(exc), summary)
        if summary is not None and summary.status in TERMINAL:
            return RunState(summary.status, self.epochs_done(), summary.error or "", summary)
        record = self.read_error()
        if record is not None:
            return RunState(record.kind, self.epochs_done(), record.error, summary)
        n = self.epochs_done()
        partial = n or self.file(CHECKPOINT).is_file()
        return RunState("partial" if partial else "new", n, summary=summary)
