"""One training run: a config in, a run directory out.

The run directory's files (``config.yaml``, ``epochs.csv``, ``checkpoint.pt``, ``summary.json``,
``inference.pt``) and their format are :mod:`tssd.rundir`'s. ``epochs.csv`` has a loss column per
term of the method; ``checkpoint.pt`` holds the model, weak head, optimiser, scheduler and RNG
states after the last epoch; ``inference.pt`` is the T_s-step network without the weak head.

Re-running on the same directory resumes from the checkpoint; a finished run is returned as is
(``force=True`` redoes it). A NaN or infinite loss stops the run with status ``failed``; a failed
run never yields metrics. Every file is written to a temporary name, then renamed.

The data is loaded (the :class:`Trainer` built) before the run directory is created or touched,
so missing or corrupt data leaves nothing behind; an error found later with nothing trained (a
corrupt image met in the first epoch) removes the directory this call created, or the files it
wrote into an existing one. A directory holding epochs is never removed.

``checkpoint.pt`` holds tensors and plain values only and is loaded with
``torch.load(weights_only=True)``: run directories are a shared cache, and a planted pickle must
not run code. (Checkpoints written before the RNG state became plain lists hold one NumPy uint32
array; the four NumPy names it needs are allow-listed for loading.)
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tssd import data as data_mod
from tssd.config import OptimConfig, RunConfig, dump_yaml
from tssd.deferred import resolve
from tssd.distributed import DistInfo, all_sum, barrier, broadcast_flag
from tssd.distributed import setup as dist_setup
from tssd.distributed import teardown as dist_teardown
from tssd.errors import ConfigError, RunFailed
from tssd.export import export_inference, load_inference
from tssd.fileio import atomic_write_text
from tssd.losses import mean_logits
from tssd.methods import BUILTIN_LOSS_TERMS, METHODS, loss_columns
from tssd.models import build_for_run, count_macs, count_params
from tssd.neurons.registry import backend_version
from tssd.resources import check_fits
from tssd.rundir import (
    CHECKPOINT,
    CHECKPOINT_KEYS,
    CONFIG,
    EPOCHS,
    INFERENCE,
    SUMMARY,
    Metrics,
    RunDir,
    Summary,
    epoch_columns,
    metric_columns,
)
from tssd.runtime import (
    atomic_torch_save,
    deterministic,
    environment,
    load_error,
    peak_memory_mb,
    reset_peak_memory,
    resolve_device,
    rng_state,
    seed_everything,
    set_rng_state,
    torch_threads,
    use_compile_cache,
)
from tssd.steps import StepContext

EPOCH_COLUMNS = epoch_columns(BUILTIN_LOSS_TERMS)
"""epochs.csv's columns for a built-in method (a method with terms of its own adds columns,
:func:`tssd.methods.loss_columns`)."""
METRIC_COLUMNS = metric_columns(BUILTIN_LOSS_TERMS)
"""The columns that are a pure function of config and seed (bit-identical when deterministic)."""
SELECTION_RULE = "final_epoch"
WRITTEN_FIRST = (CONFIG, SUMMARY)
"""What a run writes before its first epoch ends (removed again when nothing was trained)."""


def _legacy_checkpoint_globals() -> list:
    """The NumPy names a checkpoint written before RNG states were plain lists needs (the MT19937
    key was a uint32 array): array reconstruction only, nothing that runs code."""
    import numpy as np

    return [np._core.multiarray._reconstruct, np.ndarray, np.dtype, np.dtypes.UInt32DType]


def load_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """``checkpoint.pt`` loaded with ``weights_only=True`` (tensors and plain values only).

    Raises:
        RunFailed: a foreign object in the pickle (refused before anything runs) or a corrupt
            file; one line naming the file.
    """
    try:
        with torch.serialization.safe_globals(_legacy_checkpoint_globals()):
            ck = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any unpickling error means the same thing)
        raise RunFailed(f"{path}: {load_error(exc)}; delete it or use --force") from exc
    if not isinstance(ck, dict):
        raise RunFailed(f"{path}: expected a checkpoint dict, got {type(ck).__name__}")
    missing = [k for k in CHECKPOINT_KEYS if k not in ck]
    if missing:  # another version's layout: resuming from it would fail half-way
        raise RunFailed(
            f"{path}: checkpoint without {', '.join(missing)} (expected the keys "
            f"{', '.join(CHECKPOINT_KEYS)}); delete it or use --force"
        )
    return ck


class RunInterrupted(RuntimeError):
    """Raised by the ``stop_after_epoch`` hook (tests simulate a kill between epochs with it)."""


def read_summary(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's summary.json as its flat dict, or None when the run never started (a shortcut
    for :meth:`tssd.rundir.RunDir.read_summary`).

    Raises:
        RunFailed: the file cannot be read or parsed.
    """
    s = RunDir(run_dir).read_summary()
    return None if s is None else s.as_dict()


def _progress_printer(stream=sys.stdout) -> Callable[[dict[str, Any]], None]:
    def show(ev: dict[str, Any]) -> None:
        r = ev["row"]
        terms = " ".join(
            f"{k[5:]} {v:.3f}" for k, v in r.items() if k.startswith("loss_") and not math.isnan(v)
        )
        eta = ev["eta_s"]
        test = "-" if math.isnan(r["test_acc"]) else f"{100 * r['test_acc']:.2f}%"
        val = r.get("val_acc", math.nan)
        val = "" if math.isnan(val) else f"val {100 * val:.2f}% | "
        print(
            f"[{ev['name']}] epoch {r['epoch']}/{ev['epochs']} | lr {r['lr']:.4g} | "
            f"loss {r['loss']:.4f} ({terms}) | train {100 * r['train_acc']:.2f}% | "
            f"{val}test {test} | {r['epoch_time_s']:.1f}s/epoch | "
            f"ETA {eta:.0f}s",
            file=stream,
            flush=True,
        )

    return show


def make_optimizer(params: list[torch.nn.Parameter], o: OptimConfig) -> torch.optim.Optimizer:
    """The optimiser ``optim`` names (SGD with momentum, or AdamW) over ``params``."""
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)


class StepModule(nn.Module):
    """The network, the weak head and the method's step as one module, so that DDP wraps a single
    forward and synchronises the gradients of both (the head exists only in training). A step
    declared as a :class:`~tssd.deferred.Deferred` is resolved here, so ``torch.compile`` traces
    the step function itself."""

    def __init__(self, model: nn.Module, head: nn.Module | None, step, ctx: StepContext):
        super().__init__()
        self.model, self.head, self.step, self.ctx = model, head, resolve(step), ctx

    def forward(self, x, y):  # noqa: D102
        out = self.step(self.ctx, x, y)
        return out.loss, out.terms, out.student


class Trainer:
    """Builds everything a run needs from its config; :func:`train` drives the epochs."""

    def __init__(
        self,
        cfg: RunConfig,
        dist_info: DistInfo | None = None,
        device: torch.device | None = None,
    ):
        self.cfg = cfg
        self.dist = dist_info or DistInfo()
        self.device = device or resolve_device(cfg.runtime.device)
        self.method = METHODS[cfg.method.name]
        self.loss_terms = loss_columns(self.method)  # epochs.csv's: built-in ones, then its own
        self.teacher = None
        timesteps = cfg.timesteps_needed()
        if self.method.uses_external_teacher:
            self.teacher_path = resolve_teacher(cfg)
            try:
                self.teacher = load_inference(self.teacher_path, map_location=self.device)
            except ValueError as exc:
                raise RunFailed(f"method.teacher: {exc}") from exc
            self.teacher.requires_grad_(False)
            timesteps = (*timesteps, self.teacher.timesteps)
        self.bundle = data_mod.build_dataset(cfg.data, timesteps)
        info = self.bundle.info
        if cfg.data.batch_size % self.dist.world:
            raise ValueError(
                f"data.batch_size={cfg.data.batch_size} (the global batch) must be "
                f"divisible by the number of processes ({self.dist.world})"
            )
        seed_everything(cfg.seed)
        self.model, self.feature_stage, self.head = build_for_run(
            cfg, info, self.method.uses_weak_head
        )
        self.ctx = StepContext(
            self.model, self.head, cfg.method, self.feature_stage, info.kind, self.teacher
        )
        self.step_module = StepModule(self.model, self.head, self.method.step, self.ctx)
        if self.dist.enabled and self.device.type == "cuda":
            self.step_module = nn.SyncBatchNorm.convert_sync_batchnorm(self.step_module)
            self.model, self.head = self.step_module.model, self.step_module.head
            self.ctx.model, self.ctx.head = self.model, self.head
        self.step_module.to(self.device)
        if cfg.runtime.channels_last:
            self.step_module.to(memory_format=torch.channels_last)
        self.runner: nn.Module = self.step_module
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.runner = nn.parallel.DistributedDataParallel(self.step_module, device_ids=ids)
        if cfg.runtime.compile:
            # the whole step: network, method (weak head, loss terms) and, through AOTAutograd,
            # the backward. Shapes static: the last, smaller batch of an epoch gets a graph of its
            # own instead of one dynamic graph that then serves every batch, slower (a whole small
            # TSSD run: 185 s static, 261 s dynamic, 226 s eager; bench/profiles/small.yaml)
            use_compile_cache(cfg.runtime.compile_cache)
            self.runner = torch.compile(self.runner, dynamic=False)
        params = [p for p in self.step_module.parameters() if p.requires_grad]
        o = cfg.optim
        self.opt = make_optimizer(params, o)
        if o.schedule == "step":
            self.sched = torch.optim.lr_scheduler.StepLR(self.opt, o.step_size, o.gamma)
        elif o.schedule == "cosine":
            self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, o.epochs)
        else:
            self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda _: 1.0)

    def autocast(self):
        """bf16 autocast when ``runtime.amp == 'bf16'``, else a no-op context."""
        enabled = self.cfg.runtime.amp == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    # ---- one epoch -----------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training set; returns the mean loss terms and train accuracy
        (reduced over all ranks)."""
        self.step_module.train()
        sums = dict.fromkeys(("loss", *self.loss_terms), 0.0)
        seen = correct = 0
        used: set[str] = set()
        local_batch = self.cfg.data.batch_size // self.dist.world
        for x, y in data_mod.iterate_batches(
            self.bundle.train,
            local_batch,
            seed=self.cfg.seed,
            epoch=epoch,
            shuffle=True,
            rank=self.dist.rank,
            world=self.dist.world,
            num_workers=self.cfg.runtime.num_workers,
        ):
            x, y = data_mod.move(x, self.device), y.to(self.device)
            with self.autocast():
                loss, terms, student = self.runner(x, y)
            if broadcast_flag(not bool(torch.isfinite(loss)), self.dist):
                shown = {k: float(v) for k, v in terms.items()}
                raise RunFailed(
                    f"non-finite loss {float(loss.detach())} at epoch {epoch + 1} "
                    f"(terms: {shown}); lower optim.lr or check the inputs"
                )
            undeclared = set(terms) - set(self.method.loss_terms)
            if undeclared:
                raise ValueError(
                    f"method {self.cfg.method.name!r} reported loss term(s) {sorted(undeclared)} "
                    f"it does not declare (MethodSpec.loss_terms = {self.method.loss_terms}); "
                    "declare every term its step reports"
                )
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            n = len(y)
            seen += n
            sums["loss"] += float(loss.detach()) * n
            for k, v in terms.items():
                sums[k] += float(v) * n
            used.update(terms)
            correct += int((student.argmax(-1) == y).sum())
        keys = ["loss", *self.loss_terms]
        *totals, correct, seen = all_sum([sums[k] for k in keys] + [correct, seen], self.dist)
        sums = dict(zip(keys, totals, strict=True))
        return {
            "loss": sums["loss"] / seen,
            **{
                f"loss_{k}": (sums[k] / seen if k in used else float("nan"))
                for k in self.loss_terms
            },
            "train_acc": correct / seen,
        }

    @torch.no_grad()
    def evaluate(self, t: int, record_rates: bool = False, split: str = "test") -> dict[str, Any]:
        """Accuracy and loss of the deployed network (no weak head) at ``t`` timesteps on the
        test split (or ``split="val"``, the validation split), each rank taking a disjoint
        share of it."""
        self.model.eval()
        layers = self.model.spiking_layers()
        for _, layer in layers:
            layer.record = record_rates
            layer.reset_record()
        correct = seen = 0
        loss = 0.0
        try:
            for x, y in data_mod.iterate_batches(
                self.bundle.val if split == "val" else self.bundle.test,
                self.cfg.data.test_batch_size,
                rank=self.dist.rank,
                world=self.dist.world,
                pad=False,
                num_workers=self.cfg.runtime.num_workers,
            ):
                x, y = data_mod.move(x, self.device), y.to(self.device)
                with self.autocast():
                    logits = mean_logits(self.model(data_mod.to_sequence(x, t)).logits).float()
                loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
                correct += int((logits.argmax(-1) == y).sum())
                seen += len(y)
            counts = [v for _, layer in layers for v in (layer.spike_sum, layer.element_count)]
            counts = all_sum(counts, self.dist) if record_rates else counts
        finally:
            for _, layer in layers:
                layer.record = False
        correct, seen, loss = all_sum([correct, seen, loss], self.dist)
        rates = (
            {
                name: counts[2 * i] / counts[2 * i + 1] if counts[2 * i + 1] else float("nan")
                for i, (name, _) in enumerate(layers)
            }
            if record_rates
            else {}
        )
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

    Under ``torchrun`` every rank calls this; the run is data-parallel and only rank 0 writes.

    Args:
        cfg: the validated run config.
        out_dir: the run directory (created; resumed when it holds a checkpoint of this config).
        force: redo the run from scratch even if it finished or failed.
        progress: a callback receiving one event per epoch, True for the terminal printer, or
            None to follow ``cfg.runtime.progress``.
        stop_after_epoch: raise :class:`RunInterrupted` after this epoch's checkpoint (tests).

    Raises:
        RunFailed: non-finite loss (summary.json then has status ``failed``), a refused or
            corrupt checkpoint, a directory holding another run, a missing KD teacher.
        DataError: missing or corrupt data (:mod:`tssd.data`), raised before ``out_dir`` is
            created or changed (or, when found during the first epoch, after undoing what this
            call wrote).
        ConfigError: ``out_dir`` is a file, or the config asks for a device this machine lacks.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"{out}: the run directory is a file; expected a directory (or a new path)"
        )
    summary = RunDir(out).read_summary()
    if summary is not None and summary.config_hash != cfg.hash() and not force:
        raise RunFailed(
            f"{out}: holds run {summary.config_hash}, not {cfg.hash()}; "
            "use another directory or --force"
        )
    dist_info, device = dist_setup(cfg.runtime.device)
    try:
        if not force and summary is not None and summary.status in ("finished", "failed"):
            why = RunDir(out).finished_problem(summary) if summary.status == "finished" else ""
            if why:  # files of a finished run deleted: never a number
                raise RunFailed(RunDir(out).refusal(why))
            return summary.as_dict()
        if progress is None:
            progress = cfg.runtime.progress
        if progress is True:
            progress = _progress_printer()
        if not dist_info.is_main:
            progress = None
        created = not out.exists()
        with deterministic(cfg.runtime.deterministic), torch_threads(cfg.runtime.threads):
            t_start = time.time()
            # A run that cannot fit is refused before its data or network is allocated.
            check_fits(cfg, device, source=f"run {out}")
            # Data first: a missing or corrupt dataset fails here, before the directory exists.
            tr = Trainer(cfg, dist_info, device)
            if force and out.exists() and dist_info.is_main:
                for name in (CHECKPOINT, SUMMARY, EPOCHS, INFERENCE):
                    (out / name).unlink(missing_ok=True)
            barrier(dist_info)
            if dist_info.is_main:
                out.mkdir(parents=True, exist_ok=True)
                atomic_write_text(out / CONFIG, dump_yaml(cfg))
            try:
                return _run(cfg, out, tr, progress or None, stop_after_epoch, dist_info, t_start)
            except RunFailed:
                raise  # a failed run is a result: its summary.json says why
            except Exception:
                if dist_info.is_main:
                    _discard_untrained(out, created)
                raise
    finally:
        dist_teardown(dist_info)


def _discard_untrained(out: Path, created: bool) -> None:
    """After an error, remove what this call wrote when no epoch was ever trained in ``out``:
    the directory itself when this call created it, else the files written before epoch 1."""
    if (out / EPOCHS).exists() or (out / CHECKPOINT).exists():
        return  # holds training: never removed
    if created:
        shutil.rmtree(out, ignore_errors=True)
        return
    for name in WRITTEN_FIRST:
        (out / name).unlink(missing_ok=True)


def _run(
    cfg: RunConfig,
    out: Path,
    tr: Trainer,
    progress,
    stop_after_epoch: int | None,
    dist_info: DistInfo,
    t_start: float,
) -> dict[str, Any]:
    main = dist_info.is_main
    info = tr.bundle.info
    run_dir = RunDir(out)
    columns = epoch_columns(tr.loss_terms)
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
        "data_files": info.files,  # path, size and sha256 of every file the data came from
        "t_s": cfg.method.t_s,
        "t_t": cfg.method.t_t if tr.method.uses_teacher_steps else None,
        "backend": cfg.neuron.backend,
        "backend_version": backend_version(cfg.neuron.backend),
        "selection": SELECTION_RULE,
        "world_size": dist_info.world,
        "amp": cfg.runtime.amp,
        "channels_last": cfg.runtime.channels_last,
        "compile": cfg.runtime.compile,
        **environment(tr.device),
        "teacher": str(tr.teacher_path) if tr.teacher is not None else None,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    rows: list[dict[str, Any]] = []
    start_epoch, wall_before = 0, 0.0
    ck_path = out / CHECKPOINT
    if ck_path.is_file():
        ck = load_checkpoint(ck_path, tr.device)
        if ck.get("config_hash") != cfg.hash():
            raise RunFailed(
                f"{ck_path}: checkpoint of config {ck.get('config_hash')}, not {cfg.hash()}"
            )
        tr.load_state(ck)
        rows, start_epoch = ck["rows"], ck["epoch"] + 1
        # a checkpoint written before a column existed (val_acc) resumes with it unmeasured
        rows = [{**dict.fromkeys(columns, math.nan), **r} for r in rows]
        wall_before = rows[-1]["wall_s"] if rows else 0.0
    if main:
        run_dir.write_summary(Summary("running", base))

    epochs = cfg.optim.epochs
    t0 = time.time()
    try:
        for epoch in range(start_epoch, epochs):
            reset_peak_memory(tr.device)
            te = time.time()
            stats = tr.train_epoch(epoch)
            lr = tr.opt.param_groups[0]["lr"]
            tr.sched.step()
            last = epoch + 1 == epochs
            due = last or (epoch + 1) % cfg.eval.every == 0
            unmeasured = {"acc": math.nan, "loss": math.nan}
            # With a validation split, validation is the curve and test is measured once, after
            # the last epoch (what is reported); without one, test is measured when due.
            has_val = tr.bundle.val is not None
            vev = tr.evaluate(cfg.method.t_s, split="val") if due and has_val else unmeasured
            ev = unmeasured
            if last or (due and not has_val):
                # the last evaluation also records firing rates: it is the final one
                ev = tr.evaluate(cfg.method.t_s, record_rates=last and cfg.eval.firing_rates)
            if last:
                final = ev
            dt = time.time() - te
            row = {
                "epoch": epoch + 1,
                "lr": lr,
                **stats,
                "val_acc": vev["acc"],
                "val_loss": vev["loss"],
                "test_acc": ev["acc"],
                "test_loss": ev["loss"],
                "epoch_time_s": dt,
                "wall_s": wall_before + time.time() - t0,
                "peak_mem_mb": peak_memory_mb(tr.device),
            }
            rows.append(row)
            if main:
                run_dir.write_epochs(rows, columns)
                if last or (epoch + 1) % cfg.runtime.checkpoint_every == 0:
                    atomic_torch_save(tr.state(epoch, rows), ck_path)
            barrier(dist_info)  # no rank runs ahead of a checkpoint it might resume from
            if progress:
                done_here = epoch + 1 - start_epoch
                eta = (time.time() - t0) / done_here * (epochs - epoch - 1)
                progress({"name": cfg.name, "epochs": epochs, "row": row, "eta_s": eta})
            if stop_after_epoch is not None and epoch + 1 == stop_after_epoch and not last:
                raise RunInterrupted(f"stopped after epoch {epoch + 1} (stop_after_epoch)")
    except RunFailed as exc:
        if main:
            run_dir.write_summary(Summary("failed", base, error=str(exc), epochs_done=len(rows)))
        raise

    if start_epoch >= epochs:  # resumed after the last epoch's checkpoint
        final = tr.evaluate(cfg.method.t_s, record_rates=cfg.eval.firing_rates)
    extra = {str(t): tr.evaluate(t)["acc"] for t in cfg.extra_eval_timesteps()}
    x_probe = _probe_input(tr, cfg.method.t_s)
    metrics = Metrics(
        epochs=epochs,
        test_acc=final["acc"],
        test_loss=final["loss"],
        train_acc=rows[-1]["train_acc"],
        val_acc=rows[-1]["val_acc"] if tr.bundle.val is not None else None,
        val_loss=rows[-1]["val_loss"] if tr.bundle.val is not None else None,
        test_acc_by_timesteps=extra,
        firing_rates=final["firing_rates"],
        params=count_params(tr.model),
        macs_per_sample=count_macs(tr.model, x_probe),
        weak_head_params=count_params(tr.head) if tr.head is not None else 0,
        wall_s=rows[-1]["wall_s"],
        peak_mem_mb=max(r["peak_mem_mb"] for r in rows),
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        session_wall_s=time.time() - t_start,
    )
    summary = Summary("finished", base, metrics)
    if main:
        export_inference(tr.model, cfg, info, out / INFERENCE)
        run_dir.write_summary(summary)
        nb = _neurobench(cfg, out, tr)
        if nb is not None:
            summary = Summary("finished", base, dataclasses.replace(metrics, neurobench=nb))
            run_dir.write_summary(summary)
    barrier(dist_info)
    return summary.as_dict()


def _neurobench(cfg: RunConfig, out: Path, tr: Trainer) -> dict[str, Any] | None:
    """NeuroBench's metrics of the exported network (:mod:`tssd.metrics`), or None when
    ``eval.neurobench`` is off or neurobench is not installed.

    Measured after the run is written finished, on a copy loaded from ``inference.pt``: it
    changes no trained number. A measurement that fails leaves the finished run as it is, says
    so in one line on stderr (naming the metric and the run) and is retried by
    ``python -m tssd metrics RUN_DIR``: hours of training are never lost to a metric.
    """
    if not cfg.eval.neurobench:
        return None
    from tssd import metrics as nbm

    if not nbm.available():
        return None
    ev = cfg.eval
    try:
        model = load_inference(out / INFERENCE, map_location=tr.device)
        test = tr.bundle.test
        loader = nbm.FirstSamples(
            test, ev.neurobench_samples, cfg.data.test_batch_size, model.timesteps, tr.device
        )
        return nbm.measure(
            model,
            loader,
            where=str(out),
            pj_per_ac=ev.energy_pj_per_ac,
            pj_per_mac=ev.energy_pj_per_mac,
            test_size=len(test),
        )
    except Exception as exc:  # noqa: BLE001  (the run is finished; only its extra metric failed)
        msg = " ".join(str(exc).split())
        print(
            f"neurobench: {msg}; the run stays finished without NeuroBench metrics "
            f"(python -m tssd metrics {out} measures it again)",
            file=sys.stderr,
        )
        return None


def _probe_input(tr: Trainer, t: int) -> torch.Tensor:
    x, _ = next(iter(data_mod.iterate_batches(tr.bundle.test, 1)))
    return data_mod.to_sequence(data_mod.move(x, tr.device), t)


def read_epochs(run_dir: str | Path) -> list[dict[str, float]]:
    """epochs.csv as a list of dicts of floats (:meth:`tssd.rundir.RunDir.read_epochs`).

    Raises:
        FileNotFoundError: the run has no epochs.csv.
    """
    if not (Path(run_dir) / EPOCHS).is_file():
        raise FileNotFoundError(f"{Path(run_dir) / EPOCHS}: not found (no epoch finished)")
    return RunDir(run_dir).read_epochs()
