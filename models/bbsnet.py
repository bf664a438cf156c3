"""BBS-Net: RGB-D Salient Object Detection with a Bifurcated Backbone Strategy Network.

Fan, Zhai, Borji, Yang, Shao, ECCV 2020 (arXiv:2007.02713); the release is zyjwuyan/BBS-Net
(MIT). Two ResNet-50 streams (RGB; depth with a one-channel stem) meet in a depth-enhanced module
(DEM) at each of five levels; the fused RGB features are split in two (the "bifurcated
backbone"): the three high levels give an initial map S1 through the first cascaded decoder,
S1 refines the three low levels (``f + f * S1``), and the second decoder with the progressively
transposed module (PTM) gives the final map S2 at the input size.

This is the release's function, module for module: every attribute name equals the authors'
so that ``state_dict()`` has their keys exactly (their ``BBSNet.pth`` loads strictly, with the
unused ``out0_conv`` / ``out1_conv``), and their quirks are kept (the ReLU of their conv + BN
block is never applied, channel attention pools by max only, the refinement is ``f + f * S1``).
Parameter-free modules that their code creates but never calls (a ReLU in each conv + BN block,
in each aggregation, the x2 / x4 upsamplers of the network) are left out: they hold no keys.

    from models import create_model
    model = create_model("bbsnet")                      # random init (the backbone as their ResNet does it)
    model = create_model("bbsnet", pretrained=True)     # both streams from ImageNet ResNet-50
    initial, final = model(rgb, depth)                  # logits (B, 1, H, W); the map is ``final``
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck

from utils.errors import WeightsError
from utils.options import Section, option

from .registry import OfficialLayout, register_model
from .spec import InputSpec
from .weights import StartWeightsConfig, start_weights

WIDTH = 32  # the decoders' width (their ``channel``)
# Their test pixel path: their test size, depth in [0, 1] (no mean/std); 32 is the streams' deepest stride.
INPUT_SPEC = InputSpec(size=352, multiple=32, depth_mean=None, depth_std=None)
RESNET_LAYERS = (("layer1", 64, 3, 1), ("layer2", 128, 4, 2), ("layer3_1", 256, 6, 2), ("layer4_1", 512, 3, 2))
IMAGENET_WEIGHTS = "ResNet50_Weights.IMAGENET1K_V1"  # what ``torchvision.models.resnet50(pretrained=True)`` gave
TORCHVISION_NAMES = {"layer3_1.": "layer3.", "layer4_1.": "layer4."}  # their stage names -> torchvision's
CLASSIFIER_KEYS = ("fc.weight", "fc.bias")  # in a torchvision file, not in the streams
DEM_LEVELS = ("0", "1", "2", "3_1", "4_1")  # the release's suffixes: stem, layer1, layer2, layer3_1, layer4_1


def up(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Bilinear upsampling by ``factor`` with ``align_corners=True`` (their ``nn.Upsample``)."""
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=True)


class ConvBN(nn.Module):
    """Convolution without bias, then BatchNorm: the paper's "BConvN" (their ``BasicConv2d``).

    Their block also builds a ReLU but its forward never applies it (docs/bbsnet.md, "Architecture"),
    so none is applied here: every GCM branch and aggregation convolution is linear up to BN.
    """

    def __init__(self, cin: int, cout: int, kernel, padding=0, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class ResNet50Stream(nn.Module):
    """One ResNet-50 stream without its classifier (Sec. 3.1; torchvision's v1.5 Bottleneck,
    stride on the 3x3 convolution). ``in_channels``: 3 for RGB, 1 for depth. The stages keep the
    release's names: ``layer1``, ``layer2``, ``layer3_1``, ``layer4_1``.

    Initialised as their ResNet does it: every convolution ~ N(0, 2 / (k * k * out_channels)),
    BatchNorm weight 1 and bias 0 (``pretrained`` then overwrites it, :func:`init_streams`).
    """

    def __init__(self, in_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin = 64
        for name, planes, blocks, stride in RESNET_LAYERS:
            self.add_module(name, self._stage(cin, planes, blocks, stride))
            cin = planes * Bottleneck.expansion
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @staticmethod
    def _stage(cin: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
        """``blocks`` Bottlenecks; the first changes width (and stride) with a 1x1 conv + BN shortcut."""
        width = planes * Bottleneck.expansion
        shortcut = None
        if stride != 1 or cin != width:
            shortcut = nn.Sequential(nn.Conv2d(cin, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width))
        return nn.Sequential(Bottleneck(cin, planes, stride, shortcut),
                             *(Bottleneck(width, planes) for _ in range(blocks - 1)))

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))


class ChannelGate(nn.Module):
    """DEM's channel attention (Sec. 3.2, Eq. 1): sigmoid(fc2(relu(fc1(global max pool)))), 1x1
    convolutions without bias, C -> C/16 -> C. Max pooling only, as the release (no average path)."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // 16, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // 16, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_max_pool2d(x, 1)  # (B, C, 1, 1)
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(pooled))))  # (B, C, 1, 1)


class SpatialGate(nn.Module):
    """DEM's spatial attention (Sec. 3.2, Eq. 2): sigmoid(7x7 conv of the channel-wise max), no bias."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 1, 7, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv1(x.amax(dim=1, keepdim=True)))  # (B, 1, H, W)


class GlobalContext(nn.Module):
    """The global contextual module, GCM (Sec. 3.3, Fig. 4; their ``rfb*``): four branches (1x1;
    and 1x1, 1xk, kx1, 3x3 at dilation k for k = 3, 5, 7) concatenated and fused by a 3x3
    ConvBN, plus a 1x1 ConvBN of the input, then ReLU. ``cout`` (32) channels at the input's size."""

    def __init__(self, cin: int, cout: int = WIDTH):
        super().__init__()
        self.branch0 = nn.Sequential(ConvBN(cin, cout, 1))
        for index, k in enumerate((3, 5, 7), start=1):
            self.add_module(f"branch{index}", nn.Sequential(
                ConvBN(cin, cout, 1),
                ConvBN(cout, cout, (1, k), padding=(0, k // 2)),
                ConvBN(cout, cout, (k, 1), padding=(k // 2, 0)),
                ConvBN(cout, cout, 3, padding=k, dilation=k),
            ))
        self.conv_cat = ConvBN(4 * cout, cout, 3, padding=1)
        self.conv_res = ConvBN(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)]  # 4 x (B, 32, h, w)
        return torch.relu(self.conv_cat(torch.cat(branches, 1)) + self.conv_res(x))  # (B, 32, h, w)


def add_aggregation_convs(module: nn.Module, width: int) -> None:
    """The 3x3 ConvBN layers both aggregations share, under the release's names:
    ``conv_upsample1..4`` (width), ``conv_upsample5`` and ``conv_concat2`` (2 width),
    ``conv_concat3`` (3 width)."""
    for index in (1, 2, 3, 4):
        module.add_module(f"conv_upsample{index}", ConvBN(width, width, 3, padding=1))
    module.conv_upsample5 = ConvBN(2 * width, 2 * width, 3, padding=1)
    module.conv_concat2 = ConvBN(2 * width, 2 * width, 3, padding=1)
    module.conv_concat3 = ConvBN(3 * width, 3 * width, 3, padding=1)


class InitialDecoder(nn.Module):
    """The first cascaded decoder's aggregation (Sec. 3.3; their ``aggregation_init``) of the GCM
    features of levels 5, 4, 3 (strides 32, 16, 8): products and concatenations of upsampled
    features, then a 3x3 ConvBN and a 1x1 convolution (with bias) to the initial map S1 at 1/8."""

    def __init__(self, width: int = WIDTH):
        super().__init__()
        add_aggregation_convs(self, width)
        self.conv4 = ConvBN(3 * width, 3 * width, 3, padding=1)
        self.conv5 = nn.Conv2d(3 * width, 1, 1)

    def forward(self, f5: torch.Tensor, f4: torch.Tensor, f3: torch.Tensor) -> torch.Tensor:
        # f5 (B, 32, H/32, W/32), f4 (B, 32, H/16, W/16), f3 (B, 32, H/8, W/8)
        g4 = self.conv_upsample1(up(f5, 2)) * f4  # (B, 32, H/16, W/16)
        g3 = self.conv_upsample2(up(up(f5, 2), 2)) * self.conv_upsample3(up(f4, 2)) * f3  # (B, 32, H/8, W/8)
        h4 = self.conv_concat2(torch.cat((g4, self.conv_upsample4(up(f5, 2))), 1))  # (B, 64, H/16, W/16)
        h3 = self.conv_concat3(torch.cat((g3, self.conv_upsample5(up(h4, 2))), 1))  # (B, 96, H/8, W/8)
        return self.conv5(self.conv4(h3))  # (B, 1, H/8, W/8): S1, logits


class FinalDecoder(nn.Module):
    """The second decoder's aggregation (Sec. 3.3; their ``aggregation_final``) of the refined GCM
    features of levels 3, 2, 1 (strides 8, 4, 4; levels 1 and 2 share a size, so only level 3 is
    upsampled): 96 channels at 1/4, for the PTM."""

    def __init__(self, width: int = WIDTH):
        super().__init__()
        add_aggregation_convs(self, width)

    def forward(self, f3: torch.Tensor, f2: torch.Tensor, f1: torch.Tensor) -> torch.Tensor:
        # f3 (B, 32, H/8, W/8), f2 (B, 32, H/4, W/4), f1 (B, 32, H/4, W/4)
        g2 = self.conv_upsample1(up(f3, 2)) * f2  # (B, 32, H/4, W/4)
        g1 = self.conv_upsample2(up(f3, 2)) * self.conv_upsample3(f2) * f1  # (B, 32, H/4, W/4)
        h2 = self.conv_concat2(torch.cat((g2, self.conv_upsample4(up(f3, 2))), 1))  # (B, 64, H/4, W/4)
        return self.conv_concat3(torch.cat((g1, self.conv_upsample5(h2)), 1))  # (B, 96, H/4, W/4)


class PTMBlock(nn.Module):
    """A residual block of the progressively transposed module (Sec. 3.4, Fig. 5; their
    ``TransBasicBlock``): 3x3 conv + BN + ReLU, then either a 3x3 conv + BN (same size) or, with
    ``upscale``, a 3x3 transposed conv (stride 2, output_padding 1) + BN to ``cout`` channels, whose
    shortcut (``upsample``) is a 2x2 transposed conv (stride 2) + BN; sum, ReLU."""

    def __init__(self, cin: int, cout: int, upscale: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        if upscale:
            self.conv2 = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=False)
        else:
            self.conv2 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.upsample = None
        if upscale:
            self.upsample = nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.upsample is None else self.upsample(x)  # (B, cout, s*h, s*w)
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))  # (B, cout, s*h, s*w)
        return self.relu(y + shortcut)


def ptm_stage(width: int) -> nn.Sequential:
    """Two same-size PTM blocks and one that doubles the size (their ``_make_transpose``, 3 blocks)."""
    return nn.Sequential(PTMBlock(width, width), PTMBlock(width, width), PTMBlock(width, width, upscale=True))


def ptm_squeeze(cin: int, cout: int) -> nn.Sequential:
    """1x1 conv (no bias) + BN + ReLU between PTM stages (their ``_make_agant_layer``)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class BBSNet(nn.Module):
    """BBS-Net (ECCV 2020), the release's network.

    ``forward(rgb (B, 3, H, W), depth (B, 1, H, W)) -> [initial, final]``, both logits
    (B, 1, H, W): ``initial`` is S1 (the first decoder's map, at 1/8) upsampled x8 (bilinear,
    align_corners=True), ``final`` is S2, the saliency map (its sigmoid). H and W are multiples
    of 32. Inputs as the release feeds them (docs/bbsnet.md, "Pixel path"): RGB with ImageNet
    mean/std, depth in [0, 1] without normalisation, used as stored.

    Its training loss is BCE on both outputs (docs/bbsnet.md, "Training recipe"); the registry's
    ``map_logits`` takes the last output, ``final``.
    """

    # Each CPU backend's set-up and saving per 256x256 image over PyTorch, in seconds (the figures
    # of docs/performance.md, "Inference, BBS-Net"; the rule: inference.backends.choose_backend).
    cpu_backend_costs = {"winograd": {"setup_seconds": 1.7, "saving_per_image_256": 0.029},
                         "onnxruntime": {"setup_seconds": 37.0, "cached_setup_seconds": 0.5,
                                         "saving_per_image_256": 0.095}}

    def __init__(self):
        super().__init__()
        self.resnet = ResNet50Stream(3)
        self.resnet_depth = ResNet50Stream(1)
        # Decoder 1 (levels 3-5, Sec. 3.3), on the fused RGB stream.
        self.rfb2_1 = GlobalContext(512)
        self.rfb3_1 = GlobalContext(1024)
        self.rfb4_1 = GlobalContext(2048)
        self.agg1 = InitialDecoder()
        # Decoder 2 (levels 1-3 after the refinement by S1).
        self.rfb0_2 = GlobalContext(64)
        self.rfb1_2 = GlobalContext(256)
        self.rfb5_2 = GlobalContext(512)
        self.agg2 = FinalDecoder()
        # DEM, one per level (Sec. 3.2): levels 0 (stem), 1, 2, 3_1, 4_1.
        for level, channels in zip(DEM_LEVELS, (64, 256, 512, 1024, 2048)):
            self.add_module(f"atten_depth_channel_{level}", ChannelGate(channels))
        for level in DEM_LEVELS:
            self.add_module(f"atten_depth_spatial_{level}", SpatialGate())
        # PTM (Sec. 3.4): 96 -> 64 at 1/4, x2 -> 32, x2 -> 1 at the input size.
        self.deconv1 = ptm_stage(2 * WIDTH)
        self.deconv2 = ptm_stage(WIDTH)
        self.agant1 = ptm_squeeze(3 * WIDTH, 2 * WIDTH)
        self.agant2 = ptm_squeeze(2 * WIDTH, WIDTH)
        self.out0_conv = nn.Conv2d(3 * WIDTH, 1, 1)  # in the release, never used (its keys are in BBSNet.pth)
        self.out1_conv = nn.Conv2d(2 * WIDTH, 1, 1)  # likewise
        self.out2_conv = nn.Conv2d(WIDTH, 1, 1)

    def describe(self) -> str:
        return "BBS-Net (release)"

    def dem(self, level: str, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Depth-enhanced module (Sec. 3.2): ``rgb + SA(CA(d) * d) * (CA(d) * d)``; the depth
        stream itself goes on unchanged."""
        depth = depth * getattr(self, f"atten_depth_channel_{level}")(depth)
        return rgb + depth * getattr(self, f"atten_depth_spatial_{level}")(depth)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> List[torch.Tensor]:
        if not (torch.jit.is_tracing() or torch.compiler.is_compiling()):  # ONNX export traces it
            INPUT_SPEC.check_inputs(rgb, depth, "BBS-Net")
        r, d = self.resnet, self.resnet_depth
        d0 = d.stem(depth)                            # (B, 64, H/4, W/4)
        x0 = self.dem("0", r.stem(rgb), d0)           # (B, 64, H/4, W/4)
        d1 = d.layer1(d0)                             # (B, 256, H/4, W/4)
        x1 = self.dem("1", r.layer1(x0), d1)          # (B, 256, H/4, W/4)
        d2 = d.layer2(d1)                             # (B, 512, H/8, W/8)
        x2 = self.dem("2", r.layer2(x1), d2)          # (B, 512, H/8, W/8)
        d3 = d.layer3_1(d2)                           # (B, 1024, H/16, W/16)
        x3 = self.dem("3_1", r.layer3_1(x2), d3)      # (B, 1024, H/16, W/16)
        d4 = d.layer4_1(d3)                           # (B, 2048, H/32, W/32)
        x4 = self.dem("4_1", r.layer4_1(x3), d4)      # (B, 2048, H/32, W/32)

        s1 = self.agg1(self.rfb4_1(x4), self.rfb3_1(x3), self.rfb2_1(x2))  # (B, 1, H/8, W/8)
        # Refinement by S1 (Sec. 3.3): f' = f + f * S1, as the code and its comment have it
        # (the paper's Fig. 2 writes f * S1).
        attention = torch.sigmoid(s1)                 # (B, 1, H/8, W/8)
        x0 = x0 + x0 * up(attention, 2)               # (B, 64, H/4, W/4)
        x1 = x1 + x1 * up(attention, 2)               # (B, 256, H/4, W/4)
        x2 = x2 + x2 * attention                      # (B, 512, H/8, W/8)

        y = self.agg2(self.rfb5_2(x2), self.rfb1_2(x1), self.rfb0_2(x0))  # (B, 96, H/4, W/4)
        y = self.deconv1(self.agant1(y))              # (B, 64, H/2, W/2)
        y = self.deconv2(self.agant2(y))              # (B, 32, H, W)
        s2 = self.out2_conv(y)                        # (B, 1, H, W)
        return [up(s1, 8), s2]                        # initial (B, 1, H, W), final (B, 1, H, W)


# --- start weights --------------------------------------------------------------------------


def torchvision_key(key: str) -> str:
    """The torchvision ResNet-50 key that a stream key starts from (``layer3_1.0.conv1.weight``
    -> ``layer3.0.conv1.weight``); stem, layer1 and layer2 keep their names."""
    for ours, theirs in TORCHVISION_NAMES.items():
        if key.startswith(ours):
            return theirs + key[len(ours):]
    return key


def load_stream(stream: ResNet50Stream, state: Mapping[str, torch.Tensor], origin: str,
                draw_conv1: bool = False) -> None:
    """Copy a torchvision ResNet-50 ``state`` into ``stream``; with ``draw_conv1`` its
    ``conv1.weight`` is drawn ~ N(0, 1) instead (the depth stream's one-channel stem, as the
    release's ``initialize_weights``). A missing or mis-shaped key is a WeightsError naming it."""
    values = {}
    for key, current in stream.state_dict().items():
        if draw_conv1 and key == "conv1.weight":
            values[key] = torch.randn_like(current)
            continue
        source = torchvision_key(key)
        if source not in state:
            if key.endswith("num_batches_tracked"):  # older torchvision files lack the counters
                values[key] = current
                continue
            raise WeightsError(f"{origin}: key {source} is missing (needed for BBS-Net's {key}); "
                               f"expected a torchvision ResNet-50 state dict")
        tensor = state[source]
        if tuple(tensor.shape) != tuple(current.shape):
            raise WeightsError(f"{origin}: key {source} has shape {tuple(tensor.shape)}, BBS-Net's {key} needs "
                               f"{tuple(current.shape)}; expected a torchvision ResNet-50 state dict")
        values[key] = tensor
    stream.load_state_dict(values, strict=True)


def init_streams(model: BBSNet, source: Optional[str]) -> None:
    """The release's start (their ``initialize_weights``): both streams from a torchvision
    ImageNet ResNet-50, the depth stem ~ N(0, 1); everything else keeps its default init.

    ``source`` is ``model.backbone.weights``: ``imagenet`` (torchvision's cache, downloaded if
    possible), ``none`` (no copy), or the path of a torchvision ResNet-50 state-dict file.
    """
    start = start_weights(source, IMAGENET_WEIGHTS, "ResNet-50")
    if start is None:
        return
    state, origin = start
    expected = {torchvision_key(key) for key in model.resnet.state_dict()} | set(CLASSIFIER_KEYS)
    unexpected = sorted(set(state) - expected)
    if unexpected:  # a deeper ResNet holds every ResNet-50 key and more: refuse it
        raise WeightsError(f"{origin}: keys that a torchvision ResNet-50 has not: {', '.join(unexpected[:4])}"
                           + (f" ... ({len(unexpected)} in all)" if len(unexpected) > 4 else ""))
    load_stream(model.resnet, state, origin)
    load_stream(model.resnet_depth, state, origin, draw_conv1=True)


# --- options and registration ------------------------------------------------------------


@dataclass
class BBSNetOptions(Section):
    """BBS-Net's part of ``model``: the start weights of its two ResNet-50 streams
    (``StartWeightsConfig``; ``imagenet`` is the release's start, ``none`` their ResNet's random
    init); the network has no switches."""

    key = "model"
    backbone: StartWeightsConfig = option(StartWeightsConfig)


# What tests/test_bbsnet.py checks against the release: (what, bound, measured, test).
CHECKS = (
    ("keys and shapes of their BBSNet().state_dict()", "equal", "1385 entries, 49,769,177 parameters",
     "tests/test_bbsnet.py::test_registered_with_the_authors_keys_and_parameter_count"),
    ("initial logits vs their model's, keyed seed-0 weights, 352x352", "relative max diff < 1e-5", "3.4e-6",
     "tests/test_bbsnet.py::test_reproduces_the_authors_two_outputs"),
    ("final logits, same input", "relative RMS diff < 1e-5, relative max < 1e-4", "5.4e-6, 3.1e-5",
     "tests/test_bbsnet.py::test_reproduces_the_authors_two_outputs"),
    ("test.py maps vs their BBSNet_test.py's, 5 DES images", "within 1 gray level", "max 1, mean under 2e-4",
     "tests/test_bbsnet.py::test_test_py_maps_from_the_authors_file_equal_their_test_script"),
)
# Their README's table (docs/bbsnet.md, "Reported numbers").
REPORTED = {"where": "their README", "metrics": ("S", "max F", "max E", "MAE"), "values": {
    "NJU2K": (.921, .920, .949, .035), "NLPR": (.930, .918, .961, .023), "STERE": (.908, .903, .942, .041),
    "DES": (.933, .927, .966, .021), "LFSD": (.864, .859, .901, .072), "SSD": (.882, .859, .919, .044),
    "SIP": (.879, .883, .922, .055)}}


@register_model(options=BBSNetOptions, title="BBS-Net", input_spec=INPUT_SPEC,
                official=OfficialLayout(prefixes=("resnet.", "resnet_depth.", "rfb2_1.")),
                source="zyjwuyan/BBS-Net @ d48bd4f (MIT)", cards=(("release", {}),), checks=CHECKS,
                reported=REPORTED)
def bbsnet(pretrained: bool = False, backbone: Optional[Dict[str, Any]] = None) -> BBSNet:
    """BBS-Net as released; ``pretrained`` fills both streams from ``backbone["weights"]``
    (``imagenet``, a torchvision ResNet-50 state-dict file, or ``none``)."""
    backbone = backbone or {"weights": "imagenet"}
    model = BBSNet()
    if pretrained:
        init_streams(model, backbone["weights"])
    return model


__all__ = ["BBSNet", "BBSNetOptions", "bbsnet", "init_streams"]
