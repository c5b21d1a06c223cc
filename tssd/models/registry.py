"""Architectures by name (snake_case keys equal to factory names).

The built-in ones are declared here by name (:class:`~tssd.deferred.Deferred`): their modules
(torch) are imported when a network is first built, so validating a config imports no torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tssd.deferred import Deferred
from tssd.neurons.spec import NeuronSpec

if TYPE_CHECKING:
    from tssd.models.base import SpikingNet
    from tssd.models.heads import WeakClassifier


@dataclass
class WeakHeadConfig:
    """The weak intermediate classifier of spatial self-distillation (training only)."""

    stage: str = "middle"
    """Attachment point: 'middle' or the index of a backbone stage ('0', '1', ...) [choice].

    'middle', PAPER.md's default (the reconstruction study's ``head_stage1``: after stage 1)."""
    channels: int = 0
    """Hidden channels of the head's conv; 0 = ``fraction`` of the attached feature's."""
    fraction: float = 0.0
    """With ``channels`` 0: the head's hidden channels as this fraction (below 1) of the
    attached feature's (rounded half up, at least 1), so that one setting means the same width
    at every stage and network width; 0 = all of them."""

    def hidden(self, feature_channels: int) -> int:
        """The head's hidden channels on a feature of ``feature_channels`` channels."""
        if self.channels:
            return self.channels
        if self.fraction:
            return max(1, math.floor(feature_channels * self.fraction + 0.5))
        return feature_channels


@dataclass
class ModelConfig:
    """The architecture, looked up by name in :data:`MODELS`."""

    name: str = "micro_cnn"
    width: int = 0
    """Channel multiplier hint passed to the factory; 0 = the architecture's default."""
    weak_head: WeakHeadConfig = field(default_factory=WeakHeadConfig)


MODELS: dict[str, Callable[..., SpikingNet]] = {
    name: Deferred(f"tssd.models.{module}:{name}")
    for module, name in (
        ("micro", "micro_cnn"),
        ("resnet", "resnet19"),
        ("resnet", "resnet34"),
        ("resnet", "sew_resnet34"),
        ("vgg", "vgg9"),
    )
}
"""Factories by name: the built-in ones declared (imported on first build), plugins' added by
:func:`register_model`."""


def register_model(fn: Callable[..., SpikingNet]) -> Callable[..., SpikingNet]:
    """Decorator: register a factory under its function name."""
    if fn.__name__ in MODELS:
        raise ValueError(f"model {fn.__name__!r} registered twice")
    MODELS[fn.__name__] = fn
    return fn


def build_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    input_size: int,
    neuron: NeuronSpec,
    width: int = 0,
) -> SpikingNet:
    """Build a registered architecture; ``width=0`` keeps its default width."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(MODELS)}")
    kwargs = dict(num_classes=num_classes, in_channels=in_channels, input_size=input_size)
    if width:
        kwargs["width"] = width
    return MODELS[name](neuron=neuron, **kwargs)


def build_for_run(
    cfg, data, weak_head: bool
) -> tuple[SpikingNet, int | None, WeakClassifier | None]:
    """The network a run config (``cfg.model``, ``cfg.neuron``) trains on data of ``data``'s
    shape (anything with ``num_classes``, ``in_channels`` and ``input_size``: a DatasetInfo or a
    DatasetShape) and, with ``weak_head``, the weak classifier at its configured stage, created
    after the network: ``(model, stage, head)``, stage and head None without."""
    model = build_model(
        cfg.model.name,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        input_size=data.input_size,
        neuron=cfg.neuron,
        width=cfg.model.width,
    )
    if not weak_head:
        return model, None, None
    from tssd.models.heads import WeakClassifier

    stage = model.resolve_stage(cfg.model.weak_head.stage)
    channels = model.stage_channels[stage]
    head = WeakClassifier(
        channels, data.num_classes, cfg.neuron, cfg.model.weak_head.hidden(channels)
    )
    return model, stage, head
