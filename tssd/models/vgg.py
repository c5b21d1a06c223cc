"""VGG-9 for event data (2 polarity channels, 48x48): the network of the paper's event tables."""

from __future__ import annotations

from torch import nn

from tssd.models.base import SpikingNet, TimeDistributed, conv_bn_lif
from tssd.neurons import NeuronSpec


def vgg9(
    num_classes: int,
    in_channels: int = 2,
    input_size: int = 48,
    neuron: NeuronSpec | None = None,
    width: int = 64,
) -> SpikingNet:
    """Eight conv-BN-LIF layers in four pooled blocks (64-128 / 256-256 / 512-512 / 512-512 at
    width 64) and one linear layer [recipe/choice: the VGG-9 of the authors' event pipeline].
    """
    neuron = neuron or NeuronSpec()
    w = width
    plan = [(w, 2 * w), (4 * w, 4 * w), (8 * w, 8 * w), (8 * w, 8 * w)]
    stages, c, size = [], in_channels, input_size
    for a, b in plan:
        stages.append(
            nn.Sequential(
                conv_bn_lif(c, a, neuron),
                conv_bn_lif(a, b, neuron),
                TimeDistributed(nn.AvgPool2d(2)),
            )
        )
        c, size = b, size // 2
    if size < 1:
        raise ValueError(f"vgg9: input_size {input_size} is too small for four 2x2 poolings")
    classifier = TimeDistributed(nn.Flatten(), nn.Linear(c * size * size, num_classes))
    return SpikingNet(
        stages,
        classifier,
        [b for _, b in plan],
        "vgg9",
        dict(num_classes=num_classes, in_channels=in_channels, input_size=input_size, width=width),
    )
