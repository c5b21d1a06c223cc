"""The weak intermediate classifier of spatial self-distillation (training only)."""

from __future__ import annotations

import torch
from torch import nn

from tssd.models.base import TimeDistributed, conv_bn
from tssd.neurons import NeuronSpec, make_neuron


class WeakClassifier(nn.Module):
    """Conv-BN-LIF, global average pool, linear: a small head over an intermediate feature.

    Runs over the same timesteps as the feature it is given and returns per-step logits
    ``[T, B, classes]``. It lives beside the network, never inside it, so the exported inference
    model is the plain SNN [paper: no inference overhead].
    """

    def __init__(self, in_channels: int, num_classes: int, neuron: NeuronSpec, hidden: int = 0):
        super().__init__()
        hidden = hidden or in_channels
        self.conv = conv_bn(in_channels, hidden)
        self.sn = make_neuron(neuron)
        self.pool = TimeDistributed(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = TimeDistributed(nn.Linear(hidden, num_classes))

    def forward(self, feature: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.fc(self.pool(self.sn(self.conv(feature))))
