"""Export for inference: the trained network at T_s with the weak head removed.

The file is self-describing (architecture name and arguments, neuron spec, timesteps, input kind,
weights), so :func:`load_inference` rebuilds the model without the training config. Only tensors
and plain values are stored: it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tssd.data.base import DatasetInfo
from tssd.models import SpikingNet, build_model, to_sequence
from tssd.neurons.registry import spec_from_dict
from tssd.runtime import atomic_torch_save, load_error

FORMAT = "tssd-inference/1"


class InferenceModel(nn.Module):
    """The deployed SNN: runs ``timesteps`` steps and returns the time-averaged logits ``[B, K]``.

    Input: a static batch ``[B, C, H, W]`` (direct encoding) or event frames ``[B, T, C, H, W]``.
    """

    def __init__(self, net: SpikingNet, timesteps: int, input_kind: str, meta: dict[str, Any]):
        super().__init__()
        self.net, self.timesteps, self.input_kind, self.meta = net, timesteps, input_kind, meta

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if self.input_kind == "event":
            if x.dim() != 5 or x.shape[1] != self.timesteps:
                raise ValueError(
                    f"expected event frames [B, {self.timesteps}, C, H, W], got {tuple(x.shape)}"
                )
            seq = x.transpose(0, 1)
        else:
            seq = to_sequence(x, self.timesteps)
        return self.net(seq).logits.mean(0)


def export_inference(model: SpikingNet, cfg, info: DatasetInfo, path: str | Path) -> None:
    """Save the deployable network (no weak head, ``cfg.method.t_s`` steps) to ``path``."""
    atomic_torch_save(
        {
            "format": FORMAT,
            "arch": model.arch,
            "arch_kwargs": model.arch_kwargs,
            "neuron": asdict(cfg.neuron),
            "timesteps": cfg.method.t_s,
            "input_kind": info.kind,
            "dataset": info.name,
            "method": cfg.method.name,
            "config_hash": cfg.hash(),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        },
        path,
    )


def load_inference(
    path: str | Path, map_location: str | torch.device = "cpu", backend: str | None = None
) -> InferenceModel:
    """Rebuild an exported network in eval mode; ``backend`` runs it on another neuron backend.

    Raises:
        ValueError: a refused (foreign objects in the pickle) or corrupt file, or not an
            inference file; one line naming it.
    """
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any unpickling error means the same thing)
        raise ValueError(f"{path}: {load_error(exc)}") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(
            f"{path}: not a {FORMAT} file "
            f"(format={blob.get('format') if isinstance(blob, dict) else None!r})"
        )
    spec = spec_from_dict(blob["neuron"])
    if backend:
        spec.backend = backend
    kw = dict(blob["arch_kwargs"])
    net = build_model(
        blob["arch"],
        num_classes=kw.pop("num_classes"),
        in_channels=kw.pop("in_channels"),
        input_size=kw.pop("input_size"),
        neuron=spec,
        width=kw.pop("width", 0),
    )
    net.load_state_dict(blob["state_dict"])
    meta = {k: blob[k] for k in ("dataset", "method", "config_hash")}
    return InferenceModel(net, blob["timesteps"], blob["input_kind"], meta).eval()
