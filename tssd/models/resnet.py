"""Spiking ResNets: ResNet-19 (CIFAR), ResNet-34 and SEW-ResNet-34 (ImageNet)."""

from __future__ import annotations

import torch
from torch import nn

from tssd.models.base import SpikingNet, TimeDistributed, conv_bn, conv_bn_lif
from tssd.neurons import NeuronSpec, make_neuron


class SpikingBasicBlock(nn.Module):
    """conv-BN-LIF-conv-BN plus the (projected) input, then LIF (spiking ResNet, tdBN style)."""

    def __init__(self, c_in: int, c_out: int, stride: int, neuron: NeuronSpec):
        super().__init__()
        self.branch = nn.Sequential(
            conv_bn_lif(c_in, c_out, neuron, stride=stride), conv_bn(c_out, c_out)
        )
        self.shortcut = (
            conv_bn(c_in, c_out, k=1, stride=stride)
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )
        self.sn = make_neuron(neuron)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.sn(self.branch(x) + self.shortcut(x))


class SEWBasicBlock(nn.Module):
    """Spike-element-wise block with ADD: ``SN(BN(conv(SN(BN(conv x))))) + shortcut(x)``; the
    projection shortcut is conv-BN-LIF so both summands are spikes (SEW-ResNet, ADD function).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, neuron: NeuronSpec):
        super().__init__()
        self.branch = nn.Sequential(
            conv_bn_lif(c_in, c_out, neuron, stride=stride), conv_bn_lif(c_out, c_out, neuron)
        )
        self.shortcut = (
            conv_bn_lif(c_in, c_out, neuron, k=1, stride=stride)
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.branch(x) + self.shortcut(x)


def _layer(block: type, c_in: int, c_out: int, n: int, stride: int, neuron: NeuronSpec):
    blocks = [block(c_in, c_out, stride, neuron)]
    blocks += [block(c_out, c_out, 1, neuron) for _ in range(n - 1)]
    return nn.Sequential(*blocks)


def resnet19(
    num_classes: int,
    in_channels: int = 3,
    input_size: int = 32,
    neuron: NeuronSpec | None = None,
    width: int = 128,
) -> SpikingNet:
    """ResNet-19 of the SNN literature (tdBN, TET): stem 128, blocks 3/3/2 at 128/256/512,
    average pool, FC-256-LIF, FC. Stages: stem, layer1, layer2, layer3.
    """
    neuron = neuron or NeuronSpec()
    w = width
    stages = [
        conv_bn_lif(in_channels, w, neuron),
        _layer(SpikingBasicBlock, w, w, 3, 1, neuron),
        _layer(SpikingBasicBlock, w, 2 * w, 3, 2, neuron),
        _layer(SpikingBasicBlock, 2 * w, 4 * w, 2, 2, neuron),
    ]
    classifier = nn.Sequential(
        TimeDistributed(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 256)),
        make_neuron(neuron),
        TimeDistributed(nn.Linear(256, num_classes)),
    )
    return SpikingNet(
        stages,
        classifier,
        [w, w, 2 * w, 4 * w],
        "resnet19",
        dict(num_classes=num_classes, in_channels=in_channels, input_size=input_size, width=width),
    )


def _resnet34(block: type, arch: str, doc: str):
    """The factory of a ResNet-34 built from ``block`` (blocks 3/4/6/3; a 7x7 stem and
    max pooling; global average pooling and one linear layer), named ``arch``."""

    def factory(
        num_classes: int,
        in_channels: int = 3,
        input_size: int = 224,
        neuron: NeuronSpec | None = None,
        width: int = 64,
    ) -> SpikingNet:
        neuron = neuron or NeuronSpec()
        w = width
        stem = nn.Sequential(
            conv_bn_lif(in_channels, w, neuron, k=7, stride=2),
            TimeDistributed(nn.MaxPool2d(3, stride=2, padding=1)),
        )
        widths, depths = [w, 2 * w, 4 * w, 8 * w], [3, 4, 6, 3]
        stages, c = [stem], w
        for i, (cw, n) in enumerate(zip(widths, depths, strict=True)):
            stages.append(_layer(block, c, cw, n, 1 if i == 0 else 2, neuron))
            c = cw
        classifier = TimeDistributed(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)
        )
        return SpikingNet(
            stages,
            classifier,
            [w, *widths],
            arch,
            dict(
                num_classes=num_classes,
                in_channels=in_channels,
                input_size=input_size,
                width=width,
            ),
        )

    factory.__name__ = factory.__qualname__ = arch
    factory.__doc__ = doc
    return factory


resnet34 = _resnet34(
    SpikingBasicBlock,
    "resnet34",
    "Spiking ResNet-34 (blocks 3/4/6/3, LIF after the residual sum) for ImageNet.",
)
sew_resnet34 = _resnet34(
    SEWBasicBlock, "sew_resnet34", "SEW-ResNet-34 with the ADD connect function for ImageNet."
)
