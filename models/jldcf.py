"""JL-DCF: Joint Learning and Densely-Cooperative Fusion Framework for RGB-D Salient Object Detection.

Fu, Fan, Ji, Zhao, CVPR 2020 (extended in TPAMI 2021, "Siamese Network for RGB-D Salient Object
Detection and Beyond"); the PyTorch release is jiangyao-scu/JL-DCF-pytorch (no licence: read for
facts only, every line here is written anew), the Caffe original kerenfu/JLDCF. One Siamese
backbone (ResNet-101, DeepLab form, deepest features at 1/16) sees RGB and depth (three channels)
as one batch (joint learning, JL); six compression branches (CP) bring its side outputs and a
full-resolution VGG conv1 block to 64 channels; the cross-modal layer (CM) fuses the two halves
of each level as ``r + d + r * d``; five Inception-like feature aggregation modules (FA) fuse the
levels from deep to shallow, each fed with every earlier FA output through its own transposed
convolution (densely-cooperative fusion, DCF). A 1x1 score layer on the deepest CP output of
both halves gives the coarse maps, one on the last FA the final map at the input size.

This is the release's function, module for module (their ``build_model('resnet101', 'resnet')``):
every attribute name equals the authors' so that ``state_dict()`` has their keys exactly, in
their order. Their CM layer takes pair 0 of the batch as RGB and pair 1 as depth (one RGB-D pair
per pass); here the batch is split in halves, so ``B`` pairs in one pass each give what they give
alone. Parameter-free modules that hold no keys (their ``CMLayer``, the shared ReLUs) are
functions here. Backbones: ResNet-101 (the reported numbers), ResNet-50 and VGG-16, as their
``build_model`` builds them (their DenseNet-161 is left out).

Their solver never calls ``train()``: the network trains in ``eval()`` mode, so BatchNorm uses
the running statistics of the ImageNet start and never updates them (``batchnorm: frozen``, the
default; ``batchnorm: train`` is ours).

    from models import create_model
    model = create_model("jldcf", pretrained=True)     # ImageNet ResNet-101 and VGG-16 conv1 (cached files)
    final, coarse = model(rgb, depth)                  # (B, 1, H, W), (2B, 1, H/16, W/16) logits
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from utils.errors import WeightsError
from utils.options import Section, option

from .registry import OfficialLayout, register_model
from .spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec
from .weights import StartWeightsConfig, start_weights

K = 64  # the width of every CP output, CM and FA feature (their ``k``)
# Their test pixel path: their test size, depth read as a 3-channel image with the RGB's ImageNet
# mean/std, near = dark; 16 is the backbone's deepest stride.
# Their pixel path: OpenCV's bilinear resize in float32; outputs upsampled with align_corners=True.
INPUT_SPEC = InputSpec(size=320, multiple=16, depth_mean=IMAGENET_MEAN, depth_std=IMAGENET_STD,
                       depth_channels=3, near="dark", preprocess={"resize": "opencv"}, align_corners=True)
RESNET_LAYERS = {"resnet101": (3, 4, 23, 3), "resnet50": (3, 4, 6, 3)}  # bottlenecks per stage
BACKBONES = (*RESNET_LAYERS, "vgg16")
# (in, mid, kernel, dilation) of the six CP branches, shallow to deep; ResNet: vgg_conv1, stem,
# layer1, layer2, layer3, layer4; VGG-16: conv1_2, conv2_2, conv3_3, conv4_3, conv5_3, pool5.
CP_SHAPES = {"resnet": ((64, 128, 3, 1), (64, 128, 3, 1), (256, 256, 5, 1), (512, 256, 5, 1), (1024, 512, 5, 1),
                        (2048, 512, 7, 2)),
             "vgg16": ((64, 128, 3, 1), (128, 128, 3, 1), (256, 256, 5, 1), (512, 256, 5, 1), (512, 512, 5, 1),
                       (512, 512, 7, 2))}
# Their VGG-16 (``networks/vgg.py``): torchvision's ``features`` with the last max pool replaced by
# a 3x3 one of stride 1; the side outputs are the layers after these indices.
VGG16_WIDTHS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
VGG16_SIDES = (3, 8, 15, 22, 29, 30)
IMAGENET_WEIGHTS = {"resnet101": "ResNet101_Weights.IMAGENET1K_V1", "resnet50": "ResNet50_Weights.IMAGENET1K_V1",
                    "vgg16": "VGG16_Weights.IMAGENET1K_V1"}  # their resnet101-5d3b4d8f.pth, ...
TITLES = {"resnet101": "ResNet-101", "resnet50": "ResNet-50", "vgg16": "VGG-16"}


class Bottleneck(nn.Module):
    """ResNet bottleneck in the Caffe / DeepLab form (their ``networks/resnet.py``): the stride
    sits on the first 1x1 convolution, the 3x3 may be dilated (padding = dilation), BatchNorm
    after each convolution, ``downsample`` (1x1 conv + BN) on the shortcut when given."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + shortcut)


class ResNetBackbone(nn.Module):
    """The shared backbone (their ``ResNet(Bottleneck, [3, 4, 23, 3])``, no classifier): 7x7
    stem, 3x3 max pool with ``ceil_mode=True`` and no padding, layers 1-3 at strides 4, 8, 16,
    layer4 at stride 1 with dilation 2, so layers 3 and 4 are both at 1/16. Every stage's first
    block has a 1x1 conv + BN shortcut (layer4's too, for its dilation).

    ``forward`` returns the five side outputs: the stem after ReLU (before the pool) and the
    outputs of layers 1-4.
    """

    def __init__(self, layers: Sequence[int] = RESNET_LAYERS["resnet101"]):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        inplanes = 64
        for index, (planes, blocks, stride, dilation) in enumerate(
                zip((64, 128, 256, 512), layers, (1, 2, 2, 1), (1, 1, 1, 2)), start=1):
            self.add_module(f"layer{index}", self._stage(inplanes, planes, blocks, stride, dilation))
            inplanes = planes * Bottleneck.expansion

    @staticmethod
    def _stage(inplanes: int, planes: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
        """``blocks`` bottlenecks; the first changes width (and stride) with a 1x1 conv + BN shortcut."""
        width = planes * Bottleneck.expansion
        shortcut = nn.Sequential(nn.Conv2d(inplanes, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width))
        return nn.Sequential(Bottleneck(inplanes, planes, stride, dilation, shortcut),
                             *(Bottleneck(width, planes, dilation=dilation) for _ in range(blocks - 1)))

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x0 = self.relu(self.bn1(self.conv1(x)))  # (N, 64, H/2, W/2)
        x1 = self.layer1(self.maxpool(x0))       # (N, 256, H/4, W/4)
        x2 = self.layer2(x1)                     # (N, 512, H/8, W/8)
        x3 = self.layer3(x2)                     # (N, 1024, H/16, W/16)
        x4 = self.layer4(x3)                     # (N, 2048, H/16, W/16)
        return [x0, x1, x2, x3, x4]


def compression(cin: int, mid: int, kernel: int, dilation: int) -> nn.Sequential:
    """A CP branch (Sec. 3.1): ``kernel`` x ``kernel`` conv (``dilation``) to ``mid``, another,
    then a 3x3 conv to K = 64, each with bias and ReLU. Indices 0, 2, 4 hold the keys."""
    padding = dilation * (kernel // 2)
    return nn.Sequential(nn.Conv2d(cin, mid, kernel, padding=padding, dilation=dilation), nn.ReLU(inplace=True),
                         nn.Conv2d(mid, mid, kernel, padding=padding, dilation=dilation), nn.ReLU(inplace=True),
                         nn.Conv2d(mid, K, 3, padding=1), nn.ReLU(inplace=True))


class VGGBackbone(nn.Module):
    """Their VGG-16 (``networks/vgg.py``): torchvision's ``features`` layers in one ModuleList
    ``layers`` (their name), the fifth max pool replaced by a 3x3 pool of stride 1 (padding 1),
    no classifier. ``forward`` returns the six side outputs: conv1_2 ... conv5_3 after ReLU and
    the last pool, at 1, 1/2, 1/4, 1/8, 1/16, 1/16."""

    def __init__(self):
        super().__init__()
        layers: List[nn.Module] = []
        channels = 3
        for width in VGG16_WIDTHS:
            if width == "M":
                layers.append(nn.MaxPool2d(2, stride=2))
            else:
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width
        layers.append(nn.MaxPool2d(3, stride=1, padding=1))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        sides = []
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in VGG16_SIDES:
                sides.append(x)  # (N, 64 ... 512, H / 2^level, W / 2^level)
        return sides


class JLModule(nn.Module):
    """Joint learning (Sec. 3.1; their ``JLModule`` and ``JLModuleVGG``): the shared backbone and
    the six CP branches; a ResNet adds a VGG-16 conv1 block (two 3x3 convs to 64 with ReLU) on the
    input at full resolution as its sixth, shallowest side output.

    ``forward(x (N, 3, H, W))`` returns six (N, 64, h, w) features at 1, 1/2, 1/4, 1/8, 1/16, 1/16.
    """

    def __init__(self, backbone: str = "resnet101"):
        super().__init__()
        if backbone == "vgg16":
            self.backbone: nn.Module = VGGBackbone()
        else:
            self.backbone = ResNetBackbone(RESNET_LAYERS[backbone])
            self.vgg_conv1 = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(inplace=True),
                                           nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True))
        shapes = CP_SHAPES["vgg16" if backbone == "vgg16" else "resnet"]
        self.CP = nn.ModuleList(compression(*shape) for shape in shapes)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        sides = self.backbone(x)
        if hasattr(self, "vgg_conv1"):
            sides = [self.vgg_conv1(x), *sides]  # (N, C_i, h_i, w_i), six levels
        return [cp(side) for cp, side in zip(self.CP, sides)]  # 6 x (N, 64, h_i, w_i)


def cross_modal(features: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """The CM layer (Sec. 3.2; their ``CMLayer``): per level, ``r + d + r * d`` of the RGB half
    (first B) and the depth half (last B) of the batch. Their code takes sample 0 and sample 1."""
    fused = []
    for x in features:
        rgb, depth = x.chunk(2, dim=0)  # (B, 64, h, w) each
        fused.append(rgb + depth + rgb * depth)
    return fused


class FAModule(nn.Module):
    """Feature aggregation (Sec. 3.3; their ``FAModule``): the CM feature plus the given earlier
    features (summed), then four Inception-like branches of K/4 channels, concatenated to K:
    1x1; 1x1 (K/2) -> 3x3; 1x1 -> 5x5; 3x3 max pool (stride 1) -> 1x1; each conv with ReLU."""

    def __init__(self):
        super().__init__()
        self.conv_branch1 = nn.Sequential(nn.Conv2d(K, K // 4, 1), nn.ReLU(inplace=True))
        self.conv_branch2 = nn.Sequential(nn.Conv2d(K, K // 2, 1), nn.ReLU(inplace=True),
                                          nn.Conv2d(K // 2, K // 4, 3, padding=1), nn.ReLU(inplace=True))
        self.conv_branch3 = nn.Sequential(nn.Conv2d(K, K // 4, 1), nn.ReLU(inplace=True),
                                          nn.Conv2d(K // 4, K // 4, 5, padding=2), nn.ReLU(inplace=True))
        self.conv_branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(K, K // 4, 1),
                                          nn.ReLU(inplace=True))

    def forward(self, x_cm: torch.Tensor, x_fa: Sequence[torch.Tensor]) -> torch.Tensor:
        x = x_cm
        for earlier in x_fa:
            x = x + earlier  # (B, 64, h, w)
        branches = (self.conv_branch1(x), self.conv_branch2(x), self.conv_branch3(x), self.conv_branch4(x))
        return torch.cat(branches, dim=1)  # (B, 64, h, w)


class ScoreLayer(nn.Module):
    """A 1x1 convolution to one channel of logits (their ``ScoreLayer``, used without resizing)."""

    def __init__(self, channels: int = K):
        super().__init__()
        self.score = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(x)


class JLDCF(nn.Module):
    """JL-DCF (CVPR 2020) as released: ``backbone`` resnet101 (143,517,490 parameters, the
    reported numbers), resnet50 or vgg16; ``batchnorm`` frozen (their solver: BatchNorm always
    in eval mode) or train.

    ``forward(rgb (B, 3, H, W), depth (B, 3, H, W)) -> (final, coarse)``, logits: ``final``
    (B, 1, H, W) is the saliency map (its sigmoid); ``coarse`` (2B, 1, H/16, W/16) is the JL
    score of the deepest CP feature, the B RGB maps first, then the B depth maps (their
    ``torch.cat([rgb, depth], 0)`` batch). H and W are multiples of 16. Inputs as the release
    feeds them: both with ImageNet mean/std, depth as a 3-channel image, near = dark.

    Their training loss: ``BCE_sum(final, gt) + 256 * BCE_sum(coarse, gt at H/16 repeated for
    both halves)``.
    """

    map_output = 0  # the saliency map is ``final`` (models.registry.map_logits)

    def __init__(self, backbone: str = "resnet101", batchnorm: str = "frozen"):
        super().__init__()
        if backbone not in BACKBONES or batchnorm not in ("frozen", "train"):
            raise ValueError(f"JLDCF(backbone={backbone!r}, batchnorm={batchnorm!r}): backbone is one of "
                             f"{', '.join(BACKBONES)}, batchnorm frozen or train")
        self.backbone_name, self.batchnorm = backbone, batchnorm
        self.JLModule = JLModule(backbone)
        self.FA = nn.ModuleList(FAModule() for _ in range(5))
        # upsampling[i][m]: x 2^(m+1) (kernel 2^(m+2), stride 2^(m+1), padding 2^m), for step i of
        # the dense fusion, applied to the FA output m + 1 levels deeper than the one being built.
        self.upsampling = nn.ModuleList(
            nn.ModuleList(nn.ConvTranspose2d(K, K, 2 ** (m + 2), stride=2 ** (m + 1), padding=2 ** m)
                          for m in range(i + 1))
            for i in range(4))
        self.score_JL = ScoreLayer(K)
        self.score_DCF = ScoreLayer(K)

    def describe(self) -> str:
        return f"JL-DCF ({TITLES[self.backbone_name]}" + (", BatchNorm trained)" if self.batchnorm == "train" else ")")

    def train(self, mode: bool = True) -> "JLDCF":
        """``nn.Module.train``; with ``batchnorm: frozen`` every BatchNorm stays in eval mode."""
        super().train(mode)
        if self.batchnorm == "frozen":
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        return self

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if not (torch.jit.is_tracing() or torch.compiler.is_compiling()):  # ONNX export traces it
            INPUT_SPEC.check_inputs(rgb, depth, "JL-DCF")
        features = self.JLModule(torch.cat((rgb, depth), dim=0))  # 6 x (2B, 64, h_i, w_i), 1 ... 1/16
        coarse = self.score_JL(features[5])                       # (2B, 1, H/16, W/16)
        cm = cross_modal(features)[::-1]  # deep to shallow: 1/16 (layer4), 1/16 (layer3), 1/8, 1/4, 1/2, 1
        fa = [self.FA[4](cm[1], [cm[0]])]                         # (B, 64, H/16, W/16)
        for i in range(4):                                        # builds FA[3] ... FA[0] at 1/8 ... 1
            earlier = [self.upsampling[i][i - j](fa[j]) for j in range(len(fa))]  # each (B, 64, h, w)
            fa.append(self.FA[3 - i](cm[i + 2], earlier))         # (B, 64, h, w), h = H / 2^(3-i)
        final = self.score_DCF(fa[-1])                            # (B, 1, H, W)
        return final, coarse


# --- start weights --------------------------------------------------------------------------


def copy_keys(module: nn.Module, state: Dict[str, torch.Tensor], origin: str, names: Dict[str, str],
              title: str) -> None:
    """Load ``module`` from ``state``, each of its keys from ``names[key]``; a missing or
    mis-shaped key is a WeightsError naming it and the file expected."""
    values = {}
    for key, current in module.state_dict().items():
        source = names[key]
        if source not in state:
            if key.endswith("num_batches_tracked"):  # older torchvision files lack the counters
                values[key] = current
                continue
            raise WeightsError(f"{origin}: key {source} is missing (needed for {key}); expected a torchvision "
                               f"{title} state dict")
        if tuple(state[source].shape) != tuple(current.shape):
            raise WeightsError(f"{origin}: key {source} has shape {tuple(state[source].shape)}, {key} needs "
                               f"{tuple(current.shape)}; expected a torchvision {title} state dict")
        values[key] = state[source]
    module.load_state_dict(values, strict=True)


def init_backbone(model: JLDCF, backbone: Optional[str], vgg_conv1: Optional[str]) -> None:
    """Their start (``JLModule.load_pretrained_model``): the backbone from its torchvision
    ImageNet classifier, keys matched by name (their VGG-16's ``layers`` are torchvision's
    ``features``), and a ResNet's ``vgg_conv1`` from VGG-16's first block (``features.0``,
    ``features.2``; their ``pretrained/vgg_conv1.pth``); everything else keeps PyTorch's default
    init. Each source is ``imagenet`` (torchvision's cache), ``none`` or a torchvision file."""
    name, module = model.backbone_name, model.JLModule
    start = start_weights(backbone, IMAGENET_WEIGHTS[name], TITLES[name])
    if start is not None:
        names = {key: key.replace("layers.", "features.", 1) if name == "vgg16" else key
                 for key in module.backbone.state_dict()}
        copy_keys(module.backbone, *start, names, TITLES[name])
    if hasattr(module, "vgg_conv1"):
        start = start_weights(vgg_conv1, IMAGENET_WEIGHTS["vgg16"], "VGG-16")
        if start is not None:
            copy_keys(module.vgg_conv1, *start, {key: f"features.{key}" for key in module.vgg_conv1.state_dict()},
                      "VGG-16")


# --- options and registration ------------------------------------------------------------


@dataclass
class JLDCFBackboneConfig(StartWeightsConfig):
    """``model.backbone``. name: the shared backbone (resnet101 is the one their numbers are for);
    weights: how it starts (``StartWeightsConfig``)."""

    name: str = option("resnet101", choices=BACKBONES)


@dataclass
class JLDCFOptions(Section):
    """JL-DCF's part of ``model``: the backbone, the start of a ResNet's ``vgg_conv1`` block
    (``model.vgg_conv1.weights``, from VGG-16) and ``batchnorm`` (frozen: their solver)."""

    key = "model"
    backbone: JLDCFBackboneConfig = option(JLDCFBackboneConfig)
    vgg_conv1: StartWeightsConfig = option(StartWeightsConfig)
    batchnorm: str = option("frozen", choices=("frozen", "train"))


def backbone_of(state: Dict[str, Any]) -> Dict[str, Any]:
    """The backbone an authors' file was built with, from its keys (their ``--network``)."""
    if "JLModule.backbone.layers.0.weight" in state:
        return {"backbone": {"name": "vgg16"}}
    deep = "JLModule.backbone.layer3.6.conv1.weight" in state  # ResNet-50's layer3 has 6 blocks
    return {"backbone": {"name": "resnet101" if deep else "resnet50"}}


CARDS = (("release", {}), ("ResNet-50", {"backbone": {"name": "resnet50"}}),
         ("VGG-16", {"backbone": {"name": "vgg16"}}))


# What the tests check against the release: (what, bound, measured, test).
CHECKS = (
    ("keys and shapes of their build_model('resnet101', 'resnet').state_dict(), in order", "equal",
     "748 entries, 143,517,490 parameters", "tests/test_jldcf.py::test_the_authors_keys_shapes_and_parameter_count"),
    ("final and coarse logits vs their model's, keyed seed-0 weights, 320x320", "relative max diff < 1e-5",
     "6.0e-7 and 0", "tests/test_jldcf.py::test_reproduces_the_authors_two_outputs"),
    ("test.py maps vs their Solver.test's, 5 DES images", "within 1 gray level",
     "max 1, at most 0.007% of pixels differ",
     "tests/test_jldcf.py::test_test_py_maps_from_the_authors_file_equal_their_test_script"),
)
# Their README, the PyTorch release on ResNet-101.
REPORTED = {"where": "their README (PyTorch, ResNet-101)", "metrics": ("S", "max F", "max E", "MAE"), "values": {
    "NJU2K": (.917, .919, .950, .037), "NLPR": (.931, .920, .964, .022), "STERE": (.906, .903, .946, .040),
    "DES": (.934, .928, .967, .020), "LFSD": (.862, .861, .894, .074), "SIP": (.879, .889, .925, .050),
    "DUT-RGBD": (.905, .903, .937, .042)}}


@register_model(options=JLDCFOptions, title="JL-DCF", input_spec=INPUT_SPEC,
                official=OfficialLayout(prefixes=("JLModule.",), options=backbone_of), cards=CARDS,
                source="jiangyao-scu/JL-DCF-pytorch @ d7bcb71 (no licence)", checks=CHECKS, reported=REPORTED)
def jldcf(pretrained: bool = False, backbone: Optional[Dict[str, Any]] = None,
          vgg_conv1: Optional[Dict[str, Any]] = None, batchnorm: str = "frozen") -> JLDCF:
    """JL-DCF as released on ``backbone["name"]``; ``pretrained`` fills the backbone from
    ``backbone["weights"]`` and a ResNet's ``vgg_conv1`` from ``vgg_conv1["weights"]``."""
    backbone = backbone or {"name": "resnet101", "weights": "imagenet"}
    model = JLDCF(backbone["name"], batchnorm)
    if pretrained:
        init_backbone(model, backbone["weights"], (vgg_conv1 or {"weights": "imagenet"})["weights"])
    return model


__all__ = ["JLDCF", "JLDCFOptions", "init_backbone", "jldcf"]
