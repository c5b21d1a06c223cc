"""Blocks shared by every architecture: time-distributed layers and the SpikingNet contract.

A spiking network here is a list of *stages* (each maps ``[T, B, C, H, W]`` to
``[T, B, C', H', W']``)
followed by a classifier producing per-timestep logits ``[T, B, classes]``. The weak classifier of
spatial self-distillation attaches to the output of one stage; it is a separate module
(:class:`tssd.models.heads.WeakClassifier`) and never part of the network itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tssd.neurons import NeuronSpec, SpikingNeuron, make_neuron


class TimeDistributed(nn.Sequential):
    """Apply stateless layers (conv, batch norm, pooling, linear) to every timestep at once by
    folding T into the batch: ``[T, B, ...] -> [T*B, ...] -> [T, B, ...]``.

    Batch norm therefore normalises over all T*B samples of a pass (the usual choice in this
    literature); in evaluation mode it uses running statistics and treats every step alike.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        t, b = x.shape[:2]
        y = super().forward(x.flatten(0, 1))
        return y.view(t, b, *y.shape[1:])


def conv_bn(c_in: int, c_out: int, k: int = 3, stride: int = 1) -> TimeDistributed:
    """Time-distributed conv (no bias) + batch norm."""
    return TimeDistributed(
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(c_out)
    )


def conv_bn_lif(
    c_in: int, c_out: int, neuron: NeuronSpec, k: int = 3, stride: int = 1
) -> nn.Sequential:
    """Conv-BN-LIF over time."""
    return nn.Sequential(conv_bn(c_in, c_out, k, stride), make_neuron(neuron))


@dataclass
class NetOutput:
    """Per-timestep logits ``[T, B, classes]`` and (optionally) one stage's output feature."""

    logits: torch.Tensor
    feature: torch.Tensor | None = None


class SpikingNet(nn.Module):
    """Stages + classifier. ``forward(x_seq, feature_stage=k)`` also returns stage ``k``'s output.

    Args:
        stages: modules over ``[T, B, ...]``, applied in order.
        classifier: maps the last stage's output to logits ``[T, B, classes]``.
        stage_channels: channel count of each stage's output (sizes the weak head).
        arch: registry name; ``arch_kwargs``: the factory arguments (both saved on export).
    """

    def __init__(
        self,
        stages: list[nn.Module],
        classifier: nn.Module,
        stage_channels: list[int],
        arch: str,
        arch_kwargs: dict,
    ):
        super().__init__()
        if len(stages) != len(stage_channels):
            raise ValueError("one channel count per stage expected")
        self.stages = nn.ModuleList(stages)
        self.classifier = classifier
        self.stage_channels = list(stage_channels)
        self.arch = arch
        self.arch_kwargs = dict(arch_kwargs)

    @property
    def middle_stage(self) -> int:
        """Index of the default attachment point of the weak classifier [choice]."""
        return len(self.stages) // 2

    def resolve_stage(self, stage: str | int) -> int:
        """Map 'middle' or an index to a valid stage index (the last stage is not allowed: the
        weak classifier must sit strictly inside the network).
        """
        idx = self.middle_stage if stage == "middle" else int(stage)
        if not 0 <= idx < len(self.stages) - 1:
            raise ValueError(
                f"weak head stage {stage!r} of {self.arch}: expected 'middle' or an "
                f"index in 0..{len(self.stages) - 2}"
            )
        return idx

    def forward(self, x: torch.Tensor, feature_stage: int | None = None) -> NetOutput:  # noqa: D102
        if x.dim() != 5:
            raise ValueError(f"{self.arch} expects input [T, B, C, H, W], got {tuple(x.shape)}")
        feature = None
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i == feature_stage:
                feature = x
        return NetOutput(self.classifier(x), feature)

    def spiking_layers(self) -> list[tuple[str, SpikingNeuron]]:
        """Every LIF layer with its qualified name, in forward order."""
        return [(n, m) for n, m in self.named_modules() if isinstance(m, SpikingNeuron)]


def encode_static(x: torch.Tensor, t: int) -> torch.Tensor:
    """Direct encoding: the analog image ``[B, C, H, W]`` repeated at each of ``t`` timesteps."""
    return x.unsqueeze(0).expand(t, *x.shape)


def to_sequence(x: torch.Tensor | dict[int, torch.Tensor], t: int) -> torch.Tensor:
    """The network input ``[T, B, ...]`` for ``t`` timesteps from a batch.

    Static ``[B, C, H, W]``: repeated ``t`` times (:func:`encode_static`). Event
    ``{T: [B, T, ...]}`` (one framing per T the run asked its dataset for, see
    :meth:`tssd.config.RunConfig.timesteps_needed`): the stream integrated into ``t`` frames.

    Raises:
        KeyError: the batch holds no framing into ``t`` frames (the method's
            :class:`~tssd.methods.MethodSpec` did not declare the timesteps it needs).
    """
    if isinstance(x, torch.Tensor):
        return encode_static(x, t)
    if t not in x:
        raise KeyError(f"the batch holds framings {sorted(x)}, not T={t}")
    return x[t].transpose(0, 1)


@torch.no_grad()
def count_macs(model: nn.Module, x_seq: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass per sample (all timesteps, conv and linear layers).

    Spiking layers turn many MACs into accumulates on real hardware; here we count the dense
    operations, the usual "same cost" evidence for an architecture that did not change.
    """
    total = 0

    def hook(mod: nn.Module, inp, out) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            per_out = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            total += out.numel() * per_out
        elif isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    was_training = model.training
    model.eval()
    try:
        model(x_seq)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total // x_seq.shape[1]


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable and frozen)."""
    return sum(p.numel() for p in model.parameters())
