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
functions here. Only the ResNet-101 backbone is written (their ResNet-50, VGG-16 and DenseNet-161
variants are left out).

    from models.jldcf import JLDCF
    model = JLDCF()                                    # PyTorch default init
    final, coarse = model(rgb, depth)                  # (B, 1, H, W), (2B, 1, H/16, W/16) logits
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn

from .spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec

K = 64  # the width of every CP output, CM and FA feature (their ``k``)
# Their test pixel path: 320x320, depth read as a 3-channel image with the RGB's ImageNet
# mean/std, near = dark; 16 is the backbone's deepest stride.
INPUT_SPEC = InputSpec(size=320, multiple=16, depth_mean=IMAGENET_MEAN, depth_std=IMAGENET_STD,
                       depth_channels=3, near="dark")
RESNET101_LAYERS = (3, 4, 23, 3)  # bottlenecks per stage (their ``[3, 4, 23, 3]``)
# (in, mid, kernel, dilation) of the six CP branches: vgg_conv1, stem, layer1, layer2, layer3, layer4.
CP_SHAPES = ((64, 128, 3, 1), (64, 128, 3, 1), (256, 256, 5, 1), (512, 256, 5, 1), (1024, 512, 5, 1),
             (2048, 512, 7, 2))


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

    def __init__(self, layers: Sequence[int] = RESNET101_LAYERS):
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


class JLModule(nn.Module):
    """Joint learning (Sec. 3.1; their ``JLModule``): the shared backbone, a VGG-16 conv1 block
    (two 3x3 convs to 64 with ReLU) on the input at full resolution, and the six CP branches.

    ``forward(x (N, 3, H, W))`` returns six (N, 64, h, w) features at 1, 1/2, 1/4, 1/8, 1/16, 1/16.
    """

    def __init__(self, layers: Sequence[int] = RESNET101_LAYERS):
        super().__init__()
        self.backbone = ResNetBackbone(layers)
        self.vgg_conv1 = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(inplace=True),
                                       nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True))
        self.CP = nn.ModuleList(compression(*shape) for shape in CP_SHAPES)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        sides = [self.vgg_conv1(x), *self.backbone(x)]  # (N, C_i, h_i, w_i), six levels
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
    """JL-DCF (CVPR 2020), the release's ResNet-101 network (143,517,490 parameters).

    ``forward(rgb (B, 3, H, W), depth (B, 3, H, W)) -> (final, coarse)``, logits: ``final``
    (B, 1, H, W) is the saliency map (its sigmoid); ``coarse`` (2B, 1, H/16, W/16) is the JL
    score of the deepest CP feature, the B RGB maps first, then the B depth maps (their
    ``torch.cat([rgb, depth], 0)`` batch). H and W are multiples of 16. Inputs as the release
    feeds them: both with ImageNet mean/std, depth as a 3-channel image, near = dark.

    Their training loss: ``BCE_sum(final, gt) + 256 * BCE_sum(coarse, gt at H/16 repeated for
    both halves)``.
    """

    def __init__(self):
        super().__init__()
        self.JLModule = JLModule(RESNET101_LAYERS)
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
        return "JL-DCF (release, ResNet-101)"

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
