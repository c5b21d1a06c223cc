"""``python -m tssd data stats CONFIG.yaml --timesteps 5,7,10``: what the network's input holds
at each number of timesteps T, for the dataset of a run config.

Why: a TSSD teacher runs at more timesteps (T_t) than its student (T_s), and what that extra
time gives it depends on the data. A static image is fed unchanged at every step (direct
encoding), so a T_t pass receives T_t / T_s times the student's input; an event stream is cut
into T frames, so more frames each hold fewer events and a sample's total is the same at every
T. This measures it instead of asserting it: per T, the input per sample (summed over its T
steps), the input per step, the fraction of input entries that are nonzero in a step, and the
per-sample input relative to the smallest T's.

"Input" is the sum of ``|x|`` over the entries the network receives: for event frames (counts)
the number of events; for static images, which are standardised (negative and positive), their
L1 mass. Each T of an event dataset is framed as a run frames it (:func:`build_dataset` with the
T asked for; cached frames are reused), and splits are read without ``data.augment`` (random
crops and shifts would make the numbers differ from call to call). Sums are taken in float64 on
chunks of samples, so a full test split at T=10 needs no float64 copy of the whole split.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Iterator

import torch

from tssd.config import ConfigError, load_config, parse_timesteps
from tssd.data.base import build_dataset, iterate_batches

CHUNK_ENTRIES = 1 << 22
"""Input entries converted to float64 at once (32 MiB)."""

KIND_TEXT = {
    "static": "static: the same image at every step",
    "event": "events: one stream cut into T frames",
}


def _input_chunks(split, n: int, per_sample_entries: int) -> Iterator:
    """The first ``n`` inputs of ``split``, a chunk at a time (a tensor, or a dict by T)."""
    chunk = max(1, CHUNK_ENTRIES // max(1, per_sample_entries))
    seen = 0
    for x, _ in iterate_batches(split, chunk):  # in order; a TensorSplit by indexing
        size = len(next(iter(x.values())) if isinstance(x, dict) else x)
        if seen + size > n:
            x = {t: v[: n - seen] for t, v in x.items()} if isinstance(x, dict) else x[: n - seen]
        yield x
        seen += size
        if seen >= n:
            return


def measure(split, timesteps: tuple[int, ...], limit: int = 0) -> list[dict]:
    """One row per T (ascending) over the first ``limit`` samples of ``split`` (0: all).

    Each row: ``T``, ``samples``, ``input_total`` (sum of ``|x|`` over the samples and their T
    steps), ``input_per_sample``, ``input_per_step`` (mean over samples and steps),
    ``nonzero_per_step`` (mean fraction of a step's entries that are nonzero) and
    ``ratio_to_smallest_t`` (``input_per_sample`` over the smallest T's; None when that is 0).

    Static inputs (``[N, C, H, W]``, repeated at every step) are measured once and scaled by T;
    event inputs (``{T: [N, T, C, H, W]}``) are measured in every framing.
    """
    timesteps = tuple(sorted(set(timesteps)))
    n = min(limit, len(split)) if limit > 0 else len(split)
    first = split[0][0] if n else None
    if isinstance(first, dict):
        missing = [t for t in timesteps if t not in first]
        if missing:
            raise ValueError(f"the split holds no framing for T={missing}")
        entries = sum(first[t].numel() for t in timesteps)
    else:
        entries = first.numel() if first is not None else 1
    total = dict.fromkeys(timesteps, 0.0)
    nonzero = dict.fromkeys(timesteps, 0.0)  # sum over samples and steps of a step's fraction
    for x in _input_chunks(split, n, entries) if n else ():
        if isinstance(x, dict):
            for t in timesteps:
                v = x[t].to(torch.float64)
                total[t] += v.abs().sum().item()
                per_step = v[0, 0].numel()
                nonzero[t] += (v != 0).sum().item() / per_step
        else:
            v = x.to(torch.float64)
            per_step = v[0].numel()
            for t in timesteps:
                total[t] += t * v.abs().sum().item()
                nonzero[t] += t * (v != 0).sum().item() / per_step
    rows = []
    for t in timesteps:
        per_sample = total[t] / n if n else 0.0
        rows.append(
            {
                "T": t,
                "samples": n,
                "input_total": total[t],
                "input_per_sample": per_sample,
                "input_per_step": total[t] / (n * t) if n else 0.0,
                "nonzero_per_step": nonzero[t] / (n * t) if n else 0.0,
            }
        )
    base = rows[0]["input_per_sample"] if rows else 0.0
    for r in rows:
        r["ratio_to_smallest_t"] = r["input_per_sample"] / base if base else None  # JSON null
    return rows


def format_table(head: dict, rows: list[dict]) -> str:
    """The header lines and one line per T."""
    lines = [
        f"{head['dataset']}, {head['split']} split, {head['samples']} of "
        f"{head['samples_in_split']} samples; {KIND_TEXT.get(head['kind'], head['kind'])}",
        f"input = {head['input']}"
        + ("; measured without data.augment" if head["without_augment"] else ""),
        f"{'T':>5} {'samples':>8} {'input/sample':>14} {'input/step':>12} "
        f"{'nonzero/step':>13} {'ratio':>7}",
    ]
    for r in rows:
        lines.append(
            f"{r['T']:>5} {r['samples']:>8} {r['input_per_sample']:>14.2f} "
            f"{r['input_per_step']:>12.2f} {r['nonzero_per_step']:>13.4f} "
            + (
                f"{r['ratio_to_smallest_t']:>7.3f}"
                if r["ratio_to_smallest_t"] is not None
                else "    n/a"
            )
        )
    return "\n".join(lines)


def _input_text(info) -> str:
    """What "input" adds up for this dataset (the header's second line)."""
    if info.kind != "event":
        return "sum of |x| over the pixels the network receives (standardised)"
    sensor = info.extra.get("sensor")
    if sensor and sensor != info.input_size:
        return (
            f"sum of the frame counts resized from {sensor}x{sensor} to "
            f"{info.input_size}x{info.input_size} (not an event count)"
        )
    return "events (the sum of the frame counts)"


def main(args: argparse.Namespace) -> int:
    """Run ``data stats``; bad input raises :class:`ConfigError` or a ``DataError`` (exit 2)."""
    cfg = load_config(args.config, args.set)
    source = args.config or "<defaults>"
    steps = tuple(sorted(parse_timesteps(args.timesteps or ""))) or cfg.timesteps_needed()
    if args.limit < 0:
        raise ConfigError(f"--limit: got {args.limit}, expected an integer >= 0 (0: all)")
    data = dataclasses.replace(cfg.data, augment=False)
    bundle = build_dataset(data, steps)
    split = getattr(bundle, args.split)
    if split is None:
        raise ConfigError(
            f"{source}: --split {args.split}: the config has no validation split (key "
            f"'data.options.val_per_class' is unset or 0); expected a config with "
            f"data.options.val_per_class > 0, or --split test or train"
        )
    rows = measure(split, steps, args.limit)
    kind = bundle.info.kind
    head = {
        "config": source,
        "dataset": cfg.data.name,
        "split": args.split,
        "kind": kind,
        "kind_text": KIND_TEXT.get(kind, kind),
        "samples": rows[0]["samples"],
        "samples_in_split": len(split),
        "input": _input_text(bundle.info),
        "without_augment": bool(cfg.data.augment),
    }
    if args.json:
        print(json.dumps({**head, "rows": rows}, indent=2))
    else:
        print(format_table(head, rows))
    return 0
