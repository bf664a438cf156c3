"""VGG16 feature extractor with average pooling, as used by CDINet.

The authors' release (backbone/VGG.py, L25) pools with ``nn.AvgPool2d(2, 2)`` between blocks,
although the ImageNet weights copied into it were trained with max pooling. This module keeps
that choice so released weights compute the same function (docs/cdinet.md, "Backbone").

Layout follows torchvision/timm: 13 3x3 convolutions (padding 1, bias, ReLU) in five stages of
2, 2, 3, 3, 3 convolutions; stages 2-5 start with the pooling; no pooling after stage 5, no
BatchNorm. ``feature_info`` describes each stage's output.
"""
from __future__ import annotations

from typing import Dict, List, Mapping

import torch
from torch import nn

from .stages import FiveStages

# (number of 3x3 convs, output channels) for the five stages of VGG16 (Simonyan & Zisserman, 2015).
VGG16_STAGES = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))

# Indices of the 13 convolutions inside torchvision's ``vgg16().features``.
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


class VGGStage(nn.Sequential):
    """One VGG stage: optional 2x2 average pooling, then ``n`` (3x3 conv + ReLU) pairs.

    Sub-modules are named ``pool``, ``conv1``, ``relu1``, ``conv2``, ... so state-dict keys read
    ``stage3.conv2.weight``.
    """

    def __init__(self, in_channels: int, out_channels: int, num_convs: int, pool: bool):
        super().__init__()
        if pool:
            self.add_module("pool", nn.AvgPool2d(kernel_size=2, stride=2))
        for i in range(1, num_convs + 1):
            self.add_module(f"conv{i}", nn.Conv2d(in_channels, out_channels, 3, padding=1))
            self.add_module(f"relu{i}", nn.ReLU(inplace=True))
            in_channels = out_channels


class VGG16Features(FiveStages):
    """Five VGG16 stages; each is called separately by CDINet to interleave RDE/DSE.

    ``feature_info[k]`` gives ``num_chs`` and ``reduction`` of ``stage{k+1}``'s output:
    channels [64, 128, 256, 512, 512] at strides [1, 2, 4, 8, 16].
    """

    def __init__(self, in_channels: int = 3):
        super().__init__()
        self.feature_info: List[Dict[str, int | str]] = []
        reduction = 1
        for index, (num_convs, out_channels) in enumerate(VGG16_STAGES, start=1):
            pool = index > 1
            reduction *= 2 if pool else 1
            self.add_module(f"stage{index}", VGGStage(in_channels, out_channels, num_convs, pool))
            self.feature_info.append(
                {"num_chs": out_channels, "reduction": reduction, "module": f"stage{index}"}
            )
            in_channels = out_channels

    def convs(self) -> List[nn.Conv2d]:
        """The 13 convolutions in forward order."""
        return [m for stage in self.stages for m in stage if isinstance(m, nn.Conv2d)]


def load_torchvision_vgg16(backbone: VGG16Features, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy the 13 convolutions of a torchvision VGG16 state dict into ``backbone``.

    Expects torchvision's key names ``features.{i}.weight/bias`` for the indices in
    ``TORCHVISION_CONV_INDICES``; the classifier is ignored. Strict: a missing or mis-shaped
    convolution raises ``ValueError`` naming the key.
    """
    convs = backbone.convs()
    mapped = {}
    problems = []
    for conv, index in zip(convs, TORCHVISION_CONV_INDICES):
        for name, target in (("weight", conv.weight), ("bias", conv.bias)):
            key = f"features.{index}.{name}"
            if key not in state_dict:
                problems.append(f"missing {key}")
            elif tuple(state_dict[key].shape) != tuple(target.shape):
                problems.append(
                    f"{key} has shape {tuple(state_dict[key].shape)}, expected {tuple(target.shape)}"
                )
            else:
                mapped[id(target)] = state_dict[key]
    if problems:
        raise ValueError("not a torchvision VGG16 state dict: " + "; ".join(problems))
    with torch.no_grad():
        for conv in convs:
            conv.weight.copy_(mapped[id(conv.weight)])
            conv.bias.copy_(mapped[id(conv.bias)])
