"""The two encoder streams' backbones: the release's VGG16, and torchvision models by description.

A backbone here is five *stages* called one by one (CDINet interleaves RDE/DSE between them),
each with a ``feature_info`` entry (output channels ``num_chs``, stride ``reduction``), and a
``load_torchvision(state_dict)`` that copies a torchvision ImageNet state dict in (strict).

- ``vgg16``: ``models/cdinet/vgg.py``, the release's backbone (average pooling; levels at strides
  1, 2, 4, 8, 16).
- Any other entry of ``BACKBONES`` is a torchvision classifier cut into five stages by naming
  its sub-modules (``TorchvisionStages``). Their first level is at stride 2 (the stem
  convolution), so the levels are at strides 2-32; CDINet then upsamples its logits x2 at the
  end and needs inputs that are multiples of 32.

A new torchvision backbone is one more ``BackboneSpec``: its builder, its ImageNet weights
name, the sub-modules of each stage and the widths they output (checked by a test).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Mapping, Tuple

import torch
from torch import nn

from utils.errors import ConfigError

from .stages import FiveStages
from .vgg import VGG16Features, load_torchvision_vgg16


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone: ``stages[k]`` lists the sub-modules (dotted paths in the
    torchvision model) that make level ``k + 1``, in forward order; ``widths`` their output
    channels; ``first_stride`` the stride of level 1 (each later level halves the size)."""

    name: str
    title: str
    imagenet_weights: str  # a torchvision weights name, torchvision.models.get_weight(...)
    widths: Tuple[int, int, int, int, int]
    first_stride: int
    builder: str = ""  # torchvision.models function; empty for the release's own VGG16
    stages: Tuple[Tuple[str, ...], ...] = ()

    @property
    def input_multiple(self) -> int:
        """The stride of level 5 (level 1's, halved four times): H and W must be multiples of it."""
        return self.first_stride * 16


BACKBONES: Dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec("vgg16", "VGG16", "VGG16_Weights.IMAGENET1K_V1", (64, 128, 256, 512, 512), 1),
        # He et al. 2016; the stem (conv1, bn1, relu) is level 1; the max pooling opens level 2.
        # IMAGENET1K_V1: the weights BBS-Net, SPNet and JL-DCF start from.
        BackboneSpec(
            "resnet50", "ResNet-50", "ResNet50_Weights.IMAGENET1K_V1", (64, 256, 512, 1024, 2048), 2,
            builder="resnet50",
            stages=(("conv1", "bn1", "relu"), ("maxpool", "layer1"), ("layer2",), ("layer3",), ("layer4",)),
        ),
        # Sandler et al. 2018; features[18] (the 1x1 conv to 1280 channels) is not used, as in
        # MobileSal and DFM-Net: the levels end at the 16, 24, 32, 96 and 320-channel blocks.
        BackboneSpec(
            "mobilenet_v2", "MobileNetV2", "MobileNet_V2_Weights.IMAGENET1K_V1", (16, 24, 32, 96, 320), 2,
            builder="mobilenet_v2",
            stages=tuple(tuple(f"features.{i}" for i in range(a, b))
                         for a, b in ((0, 2), (2, 4), (4, 7), (7, 14), (14, 18))),
        ),
    )
}


def backbone_spec(name: str) -> BackboneSpec:
    """The spec of ``name``; an unknown name is one error listing the known ones."""
    if name not in BACKBONES:
        raise ConfigError(f"model.backbone.name must be one of {', '.join(BACKBONES)}, got {name!r}")
    return BACKBONES[name]


class TorchvisionStages(FiveStages):
    """A torchvision classifier as five stages ``stage1..stage5`` (``nn.Sequential`` of its
    sub-modules, named with ``_`` for ``.``: ``stage2.layer1.0.conv1.weight``); what no stage
    names (the classifier head) is dropped."""

    def __init__(self, spec: BackboneSpec):
        super().__init__()
        self.spec = spec
        import torchvision.models  # here, not at the top: importing it loads torch._dynamo

        source = getattr(torchvision.models, spec.builder)(weights=None)
        self.feature_info: List[Dict[str, int | str]] = []
        for level, (paths, width) in enumerate(zip(spec.stages, spec.widths), start=1):
            modules = OrderedDict((path.replace(".", "_"), source.get_submodule(path)) for path in paths)
            self.add_module(f"stage{level}", nn.Sequential(modules))
            self.feature_info.append(
                {"num_chs": width, "reduction": spec.first_stride * 2 ** (level - 1), "module": f"stage{level}"}
            )

    def load_torchvision(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Copy a torchvision ``{builder}`` state dict in. Strict for every stage's parameters and
        BatchNorm buffers; the classifier's keys are ignored. A missing or mis-shaped key raises
        ``ValueError`` naming it."""
        problems, loads = [], []
        for paths, stage in zip(self.spec.stages, self.stages):
            source_path = {path.replace(".", "_"): path for path in paths}  # our name -> torchvision's
            values = {}
            for key, target in stage.state_dict().items():
                head, rest = key.split(".", 1)
                source = f"{source_path[head]}.{rest}"
                if source not in state_dict:
                    problems.append(f"missing {source}")
                elif tuple(state_dict[source].shape) != tuple(target.shape):
                    problems.append(f"{source} has shape {tuple(state_dict[source].shape)}, "
                                    f"expected {tuple(target.shape)}")
                else:
                    values[key] = state_dict[source]
            loads.append((stage, values))
        if problems:
            shown = "; ".join(problems[:4]) + (f" ... ({len(problems)} in all)" if len(problems) > 4 else "")
            raise ValueError(f"not a torchvision {self.spec.builder} state dict: {shown}")
        for stage, values in loads:
            stage.load_state_dict(values, strict=True)


class VGG16Stream(VGG16Features):
    """The release's VGG16 (``models/cdinet/vgg.py``) with the interface of the other backbones."""

    spec = BACKBONES["vgg16"]

    def load_torchvision(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        load_torchvision_vgg16(self, state_dict)


def make_backbone(name: str) -> nn.Module:
    """One stream's backbone, randomly initialised (``models.cdinet.pretrained.init_backbone`` loads
    ImageNet weights)."""
    spec = backbone_spec(name)
    return VGG16Stream() if spec.name == "vgg16" else TorchvisionStages(spec)
