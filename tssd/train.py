"""One training run: a config in, a run directory out.

Run directory layout (the contract the harness reads)::

    config.yaml      the resolved config (every field, defaults included)
    epochs.csv       one row per finished epoch (see EPOCH_COLUMNS)
    checkpoint.pt    model, weak head, optimiser, scheduler and RNG states after the last epoch
    summary.json     status (running | finished | failed), final metrics and provenance
    inference.pt     the exported inference network (T_s steps, no weak head); finished runs only

Re-running on the same directory resumes from the checkpoint; a finished run is returned as is
(``force=True`` redoes it). A NaN or infinite loss stops the run with status ``failed``; a failed
run never yields metrics. Every file is written to a temporary name, then renamed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from tssd import data as data_mod
from tssd.config import RunConfig, dump_yaml
from tssd.export import export_inference, load_inference
from tssd.losses import mean_logits
from tssd.methods import METHODS, StepContext
from tssd.models import WeakClassifier, build_model, count_macs, count_params
from tssd.neurons.registry import backend_version
from tssd.runtime import (
    atomic_torch_save,
    atomic_write_text,
    deterministic,
    environment,
    peak_memory_mb,
    reset_peak_memory,
    resolve_device,
    rng_state,
    seed_everything,
    set_rng_state,
    torch_threads,
)

LOSS_TERMS = ("task", "tsd", "ssd", "kd")
EPOCH_COLUMNS = [
    "epoch",
    "lr",
    "loss",
    *(f"loss_{k}" for k in LOSS_TERMS),
    "train_acc",
    "test_acc",
    "test_loss",
    "epoch_time_s",
    "wall_s",
    "peak_mem_mb",
]
METRIC_COLUMNS = EPOCH_COLUMNS[: EPOCH_COLUMNS.index("epoch_time_s")]
"""The columns that are a pure function of config and seed (bit-identical when deterministic)."""
SELECTION_RULE = "final_epoch"


class RunFailed(RuntimeError):
    """The run stopped on a non-finite loss (or another fatal condition); see summary.json."""


class RunInterrupted(RuntimeError):
    """Raised by the ``stop_after_epoch`` hook (tests simulate a kill between epochs with it)."""


def _fmt(v: Any) -> str:
    # repr of a float round-trips exactly: identical metrics give identical text.
    return repr(float(v)) if isinstance(v, float) else str(v)


def _rows_to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=EPOCH_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _fmt(r[k]) for k in EPOCH_COLUMNS})
    return buf.getvalue()


def read_summary(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's summary.json, or None when the run never started."""
    p = Path(run_dir) / "summary.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise RunFailed(
            f"{p}: corrupt summary ({exc}); delete the run directory or use --force"
        ) from exc


def _progress_printer(stream=sys.stdout) -> Callable[[dict[str, Any]], None]:
    def show(ev: dict[str, Any]) -> None:
        r = ev["row"]
        terms = " ".join(
            f"{k} {r['loss_' + k]:.3f}" for k in LOSS_TERMS if not math.isnan(r["loss_" + k])
        )
        eta = ev["eta_s"]
        print(
            f"[{ev['name']}] epoch {r['epoch']}/{ev['epochs']} | lr {r['lr']:.4g} | "
            f"loss {r['loss']:.4f} ({terms}) | train {100 * r['train_acc']:.2f}% | "
            f"test {100 * r['test_acc']:.2f}% | {r['epoch_time_s']:.1f}s/epoch | "
            f"ETA {eta:.0f}s",
            file=stream,
            flush=True,
        )

    return show


class Trainer:
    """Builds everything a run needs from its config; :meth:`fit` runs the epochs."""

    def __init__(self, cfg: RunConfig, out_dir: Path):
        self.cfg, self.out = cfg, out_dir
        self.device = resolve_device(cfg.runtime.device)
        self.method = METHODS[cfg.method.name]
        self.teacher = None
        timesteps = cfg.timesteps_needed()
        if self.method.uses_external_teacher:
            self.teacher_path = resolve_teacher(cfg)
            self.teacher = load_inference(self.teacher_path, map_location=self.device)
            self.teacher.requires_grad_(False)
            timesteps = (*timesteps, self.teacher.timesteps)
        self.bundle = data_mod.build_dataset(cfg.data, timesteps)
        info = self.bundle.info
        seed_everything(cfg.seed)
        self.model = build_model(
            cfg.model.name,
            num_classes=info.num_classes,
            in_channels=info.in_channels,
            input_size=info.input_size,
            neuron=cfg.neuron,
            width=cfg.model.width,
        ).to(self.device)
        self.feature_stage = None
        self.head = None
        if self.method.uses_weak_head:
            self.feature_stage = self.model.resolve_stage(cfg.model.weak_head.stage)
            self.head = WeakClassifier(
                self.model.stage_channels[self.feature_stage],
                info.num_classes,
                cfg.neuron,
                cfg.model.weak_head.channels,
            ).to(self.device)
        params = list(self.model.parameters()) + (list(self.head.parameters()) if self.head else [])
        o = cfg.optim
        if o.name == "sgd":
            self.opt = torch.optim.SGD(
                params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay
            )
        else:
            self.opt = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
        if o.schedule == "step":
            self.sched = torch.optim.lr_scheduler.StepLR(self.opt, o.step_size, o.gamma)
        elif o.schedule == "cosine":
            self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, o.epochs)
        else:
            self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda _: 1.0)
        self.ctx = StepContext(
            self.model, self.head, cfg.method, self.feature_stage, info.kind, self.teacher
        )

    # ---- one epoch -----------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training set; returns the mean loss terms and train accuracy."""
        self.model.train()
        if self.head is not None:
            self.head.train()
        sums = dict.fromkeys(("loss", *LOSS_TERMS), 0.0)
        seen = correct = 0
        for x, y in data_mod.iterate_batches(
            self.bundle.train,
            self.cfg.data.batch_size,
            seed=self.cfg.seed,
            epoch=epoch,
            shuffle=True,
            num_workers=self.cfg.runtime.num_workers,
        ):
            x, y = data_mod.move(x, self.device), y.to(self.device)
            out = self.method.step(self.ctx, x, y)
            if not torch.isfinite(out.loss):
                terms = {k: float(v) for k, v in out.terms.items()}
                raise RunFailed(
                    f"non-finite loss {float(out.loss.detach())} at epoch {epoch} "
                    f"(terms: {terms}); lower optim.lr or check the inputs"
                )
            self.opt.zero_grad(set_to_none=True)
            out.loss.backward()
            self.opt.step()
            n = len(y)
            seen += n
            sums["loss"] += float(out.loss.detach()) * n
            for k, v in out.terms.items():
                sums[k] += float(v) * n
            correct += int((out.student.argmax(-1) == y).sum())
        used = set(out.terms)
        return {
            "loss": sums["loss"] / seen,
            **{f"loss_{k}": (sums[k] / seen if k in used else float("nan")) for k in LOSS_TERMS},
            "train_acc": correct / seen,
        }

    @torch.no_grad()
    def evaluate(self, t: int, record_rates: bool = False) -> dict[str, Any]:
        """Test accuracy and loss of the deployed network (no weak head) at ``t`` timesteps."""
        self.model.eval()
        layers = self.model.spiking_layers()
        for _, layer in layers:
            layer.record = record_rates
            layer.reset_record()
        correct = seen = 0
        loss = 0.0
        try:
            for x, y in data_mod.iterate_batches(
                self.bundle.test,
                self.cfg.data.test_batch_size,
                num_workers=self.cfg.runtime.num_workers,
            ):
                x, y = data_mod.move(x, self.device), y.to(self.device)
                logits = mean_logits(self.model(data_mod.to_sequence(x, t)).logits)
                loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(-1) == y).sum())
                seen += len(y)
            rates = {name: layer.firing_rate for name, layer in layers} if record_rates else {}
        finally:
            for _, layer in layers:
                layer.record = False
        return {"acc": correct / seen, "loss": loss / seen, "firing_rates": rates}

    # ---- checkpoints ---------------------------------------------------------------------------
    def state(self, epoch: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Everything a resumed run needs, after ``epoch`` (0-based) finished."""
        return {
            "epoch": epoch,
            "rows": rows,
            "config_hash": self.cfg.hash(),
            "model": self.model.state_dict(),
            "head": self.head.state_dict() if self.head is not None else None,
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
            "rng": rng_state(),
        }

    def load_state(self, ck: dict[str, Any]) -> None:
        """Restore what :meth:`state` saved."""
        self.model.load_state_dict(ck["model"])
        if self.head is not None:
            self.head.load_state_dict(ck["head"])
        self.opt.load_state_dict(ck["opt"])
        self.sched.load_state_dict(ck["sched"])
        set_rng_state(ck["rng"])


def resolve_teacher(cfg: RunConfig) -> Path:
    """The external teacher's ``inference.pt`` for method kd (a config hash or a path)."""
    ref = cfg.method.teacher
    p = Path(ref)
    candidates = [p, p / "inference.pt", Path(cfg.runtime.runs_root) / ref / "inference.pt"]
    for c in candidates:
        if c.is_file():
            return c
    raise RunFailed(
        f"method.teacher={ref!r}: no inference.pt found (looked at "
        f"{', '.join(str(c) for c in candidates)}); train the teacher run first"
    )


def train(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    force: bool = False,
    progress: Callable[[dict[str, Any]], None] | bool | None = None,
    stop_after_epoch: int | None = None,
) -> dict[str, Any]:
    """Run (or resume, or return) the training run ``cfg`` in ``out_dir``; return its summary.

    Args:
        cfg: the validated run config.
        out_dir: the run directory (created; resumed when it holds a checkpoint of this config).
        force: redo the run from scratch even if it finished or failed.
        progress: a callback receiving one event per epoch, True for the terminal printer, or
            None to follow ``cfg.runtime.progress``.
        stop_after_epoch: raise :class:`RunInterrupted` after this epoch's checkpoint (tests).

    Raises:
        RunFailed: non-finite loss; summary.json then has status ``failed``.
    """
    out = Path(out_dir)
    summary = read_summary(out)
    if summary is not None and summary.get("config_hash") != cfg.hash() and not force:
        raise RunFailed(
            f"{out}: holds run {summary.get('config_hash')}, not {cfg.hash()}; "
            "use another directory or --force"
        )
    if force and out.exists():
        for name in ("checkpoint.pt", "summary.json", "epochs.csv", "inference.pt"):
            (out / name).unlink(missing_ok=True)
        summary = None
    if summary is not None and summary.get("status") in ("finished", "failed"):
        return summary
    if progress is None:
        progress = cfg.runtime.progress
    if progress is True:
        progress = _progress_printer()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", dump_yaml(cfg))
    with deterministic(cfg.runtime.deterministic), torch_threads(cfg.runtime.threads):
        return _run(cfg, out, progress or None, stop_after_epoch)


def _run(cfg: RunConfig, out: Path, progress, stop_after_epoch: int | None) -> dict[str, Any]:
    t_start = time.time()
    tr = Trainer(cfg, out)
    env = environment(tr.device)
    info = tr.bundle.info
    base = {
        "name": cfg.name,
        "config_hash": cfg.hash(),
        "seed": cfg.seed,
        "method": cfg.method.name,
        "model": cfg.model.name,
        "dataset": info.name,
        "dataset_kind": info.kind,
        "split": info.split,
        "split_hash": info.split_hash,
        "t_s": cfg.method.t_s,
        "t_t": cfg.method.t_t if tr.method.uses_teacher_steps else None,
        "backend": cfg.neuron.backend,
        "backend_version": backend_version(cfg.neuron.backend),
        "selection": SELECTION_RULE,
        "world_size": 1,
        **env,
        "teacher": str(tr.teacher_path) if tr.teacher is not None else None,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    rows: list[dict[str, Any]] = []
    start_epoch, wall_before = 0, 0.0
    ck_path = out / "checkpoint.pt"
    if ck_path.is_file():
        try:
            ck = torch.load(ck_path, map_location=tr.device, weights_only=False)
        except Exception as exc:  # noqa: BLE001  (any unpickling error means the same thing)
            raise RunFailed(
                f"{ck_path}: corrupt checkpoint ({exc}); delete it or use --force"
            ) from exc
        if ck.get("config_hash") != cfg.hash():
            raise RunFailed(
                f"{ck_path}: checkpoint of config {ck.get('config_hash')}, not {cfg.hash()}"
            )
        tr.load_state(ck)
        rows, start_epoch = ck["rows"], ck["epoch"] + 1
        wall_before = rows[-1]["wall_s"] if rows else 0.0
    atomic_write_text(out / "summary.json", json.dumps({**base, "status": "running"}, indent=2))

    epochs = cfg.optim.epochs
    t0 = time.time()
    try:
        for epoch in range(start_epoch, epochs):
            reset_peak_memory(tr.device)
            te = time.time()
            stats = tr.train_epoch(epoch)
            lr = tr.opt.param_groups[0]["lr"]
            tr.sched.step()
            ev = tr.evaluate(cfg.method.t_s)
            dt = time.time() - te
            row = {
                "epoch": epoch + 1,
                "lr": lr,
                **stats,
                "test_acc": ev["acc"],
                "test_loss": ev["loss"],
                "epoch_time_s": dt,
                "wall_s": wall_before + time.time() - t0,
                "peak_mem_mb": peak_memory_mb(tr.device),
            }
            rows.append(row)
            atomic_write_text(out / "epochs.csv", _rows_to_csv(rows))
            last = epoch + 1 == epochs
            if last or (epoch + 1) % cfg.runtime.checkpoint_every == 0:
                atomic_torch_save(tr.state(epoch, rows), ck_path)
            if progress:
                done_here = epoch + 1 - start_epoch
                eta = (time.time() - t0) / done_here * (epochs - epoch - 1)
                progress({"name": cfg.name, "epochs": epochs, "row": row, "eta_s": eta})
            if stop_after_epoch is not None and epoch + 1 == stop_after_epoch and not last:
                raise RunInterrupted(f"stopped after epoch {epoch + 1} (stop_after_epoch)")
    except RunFailed as exc:
        atomic_write_text(
            out / "summary.json",
            json.dumps(
                {**base, "status": "failed", "error": str(exc), "epochs_done": len(rows)}, indent=2
            ),
        )
        raise

    final = tr.evaluate(cfg.method.t_s, record_rates=cfg.eval.firing_rates)
    extra = {str(t): tr.evaluate(t)["acc"] for t in sorted(set(cfg.eval.timesteps))}
    x_probe = _probe_input(tr, cfg.method.t_s)
    export_inference(tr.model, cfg, info, out / "inference.pt")
    summary = {
        **base,
        "status": "finished",
        "epochs": epochs,
        "test_acc": final["acc"],
        "test_loss": final["loss"],
        "train_acc": rows[-1]["train_acc"],
        "test_acc_by_timesteps": extra,
        "firing_rates": final["firing_rates"],
        "params": count_params(tr.model),
        "macs_per_sample": count_macs(tr.model, x_probe),
        "weak_head_params": count_params(tr.head) if tr.head is not None else 0,
        "wall_s": rows[-1]["wall_s"],
        "peak_mem_mb": max(r["peak_mem_mb"] for r in rows),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "session_wall_s": time.time() - t_start,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def _probe_input(tr: Trainer, t: int) -> torch.Tensor:
    x, _ = next(iter(data_mod.iterate_batches(tr.bundle.test, 1)))
    return data_mod.to_sequence(data_mod.move(x, tr.device), t)


def read_epochs(run_dir: str | Path) -> list[dict[str, float]]:
    """epochs.csv as a list of dicts of floats."""
    with open(Path(run_dir) / "epochs.csv", newline="") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
