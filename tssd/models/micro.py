"""Micro networks for the quick profile: seconds per epoch on two CPU cores."""

from __future__ import annotations

from torch import nn

from tssd.models.base import SpikingNet, TimeDistributed, conv_bn_lif
from tssd.neurons import NeuronSpec


def micro_cnn(
    num_classes: int, in_channels: int, input_size: int, neuron: NeuronSpec, width: int = 16
) -> SpikingNet:
    """Three conv-BN-LIF stages (w, 2w, 2w channels; pooled to 2x2) and a linear read-out.

    Size-agnostic (adaptive pooling), so it takes 8x8 digits and larger emulated event frames alike.
    """
    w = width
    stages = [
        conv_bn_lif(in_channels, w, neuron),
        nn.Sequential(conv_bn_lif(w, 2 * w, neuron), TimeDistributed(nn.AdaptiveAvgPool2d(4))),
        nn.Sequential(conv_bn_lif(2 * w, 2 * w, neuron), TimeDistributed(nn.AdaptiveAvgPool2d(2))),
    ]
    classifier = TimeDistributed(nn.Flatten(), nn.Linear(2 * w * 4, num_classes))
    return SpikingNet(
        stages,
        classifier,
        [w, 2 * w, 2 * w],
        "micro_cnn",
        dict(num_classes=num_classes, in_channels=in_channels, input_size=input_size, width=width),
    )
