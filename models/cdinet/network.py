"""CDINet: Cross-modality Discrepant Interaction Network for RGB-D Salient Object Detection.

Zhang, Cong, Kwong et al., ACM MM 2021 (arXiv:2108.01971). Two VGG16 streams (RGB and depth,
not shared) interact discrepantly: RGB refines depth's details at levels 1-2 (RDE), depth
refines RGB's semantics at levels 3-5 (DSE); the DDR decoder densely reuses all higher-level
skips. The wiring, layer for layer, is the authors' release (docs/cdinet.md, "Encoder wiring").

Other backbones (ours, ``models/cdinet/backbones.py``): RDE and DSE work at the backbone's own widths;
a 1x1 convolution (``adapt<k>``, with bias, no activation) maps each level whose width differs
from VGG16's to the decoder's width (64, 128, 256, 512, 512), so the decoder is the release's.
A backbone whose level 1 is at stride 2 gives logits at H/2, upsampled x2 (bilinear,
align_corners=True, as the decoder's main path) to the input size.
"""
from __future__ import annotations

import torch
from torch import nn

from ..spec import InputSpec
from .backbones import BACKBONES, make_backbone
from .decoder import DDR, upsample2x
from .interaction import DSE, RDE, Fuse
from .variant import ModelVariant

DECODER_WIDTHS = (64, 128, 256, 512, 512)  # VGG16's five levels, which the DDR decoder takes

# Each CPU backend's set-up and saving per 256x256 image over PyTorch, in seconds, for the VGG16
# streams (the figures of docs/performance.md, "Inference, CDINet"; the rule:
# inference.backends.choose_backend). onnxruntime is left out: it saves less than the Winograd form.
CPU_BACKEND_COSTS = {"winograd": {"setup_seconds": 1.5, "saving_per_image_256": 0.35}}


def describe_model(variant: ModelVariant, backbone: str) -> str:
    """E.g. ``CDINet (release)``, ``CDINet on ResNet-50``, ``RDE off, fusion add, MobileNetV2``."""
    title = BACKBONES[backbone].title
    if variant.is_release:
        return "CDINet (release)" if backbone == "vgg16" else f"CDINet on {title}"
    return variant.describe() + ("" if backbone == "vgg16" else f", {title}")


class CDINet(nn.Module):
    """CDINet. ``forward(rgb (B,3,H,W), depth (B,1,H,W)) -> logits (B,1,H,W)``.

    H and W are multiples of ``input_spec.multiple`` (16 for VGG16, 32 for the others). Inputs
    are normalised as in the release (RGB with ImageNet mean/std, depth with mean 0.485, std
    0.229, near = bright). The output is logits: apply a sigmoid for saliency. Backbone weights
    are loaded outside ``__init__`` (``models.cdinet.init_backbone``); everything else keeps
    PyTorch's default initialisation.

    ``variant`` switches RDE, DSE and DDR off for ablations (``models/cdinet/variant.py``); the
    default is the release. Where RDE (levels 1-2) or DSE (levels 3-5) is off, ``fuse<k>`` joins
    the two streams for the decoder skip and the streams go on unchanged. ``backbone`` names an
    entry of ``models.cdinet.backbones.BACKBONES`` (default ``vgg16``, the release).
    """

    def __init__(self, variant: ModelVariant | None = None, backbone: str = "vgg16"):
        super().__init__()
        self.variant = variant = variant or ModelVariant()
        self.rgb_backbone = make_backbone(backbone)
        self.depth_backbone = make_backbone(backbone)
        self.backbone_name = backbone
        # What the registry records of a model it builds; set here too for CDINet(...) built directly.
        self.model_name = "cdinet"
        self.model_options = {"backbone": {"name": backbone, "weights": "none"}, "modules": variant.to_dict()}
        widths = [info["num_chs"] for info in self.rgb_backbone.feature_info]
        self.first_stride = self.rgb_backbone.feature_info[0]["reduction"]
        # The release's pixel path (the default InputSpec), at this backbone's deepest stride.
        self.input_spec = InputSpec(multiple=self.rgb_backbone.spec.input_multiple)
        # The costs are the VGG16 streams' only; other backbones run PyTorch under auto.
        self.cpu_backend_costs = CPU_BACKEND_COSTS if backbone == "vgg16" else None
        for level in (1, 2):
            self.add_module(f"rde{level}" if variant.rde else f"fuse{level}",
                            RDE(widths[level - 1]) if variant.rde else Fuse(widths[level - 1], variant.fusion))
        for level in (3, 4, 5):
            self.add_module(f"dse{level}" if variant.dse else f"fuse{level}",
                            DSE(widths[level - 1]) if variant.dse else Fuse(widths[level - 1], variant.fusion))
        for level, (width, decoder_width) in enumerate(zip(widths, DECODER_WIDTHS), start=1):
            if width != decoder_width:
                self.add_module(f"adapt{level}", nn.Conv2d(width, decoder_width, 1))
        self.top_conv = nn.Conv2d(512, 512, 3, padding=1)  # "conv_mid" of the release
        self.decoder = DDR(semantic=variant.ddr)

    def describe(self) -> str:
        return describe_model(self.variant, self.backbone_name)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing():  # the ONNX export traces with example shapes
            self.input_spec.check_inputs(rgb, depth, "CDINet")
        rgb_net, depth_net = self.rgb_backbone, self.depth_backbone
        depth = depth.repeat(1, 3, 1, 1)  # one-channel depth fed to a 3-channel VGG

        # Shapes for VGG16; other backbones: native widths, every size halved (first_stride 2).
        r1, d1 = rgb_net.stage1(rgb), depth_net.stage1(depth)  # (B, 64, H, W) each
        f1, d1 = self._low(1, r1, d1)                # skip 1; depth stream goes on from d1
        r2, d2 = rgb_net.stage2(r1), depth_net.stage2(d1)  # RGB goes on unchanged
        f2, d2 = self._low(2, r2, d2)                # (B, 128, H/2, W/2)
        r3, d3 = rgb_net.stage3(r2), depth_net.stage3(d2)
        f3, r3, d3 = self._high(3, r3, d3)           # (B, 256, H/4, W/4), skip 3
        f4, r4, d4 = self._high(4, rgb_net.stage4(r3), depth_net.stage4(d3))  # (B, 512, H/8, W/8)
        y5, _, _ = self._high(5, rgb_net.stage5(r4), depth_net.stage5(d4))    # (B, 512, H/16, W/16)
        f1, f2, f3, f4, y5 = (self._adapt(k, f) for k, f in enumerate((f1, f2, f3, f4, y5), start=1))
        f5 = torch.relu(self.top_conv(y5))
        logits = self.decoder([f1, f2, f3, f4, f5])  # (B, 1, H / first_stride, W / first_stride)
        return upsample2x(logits) if self.first_stride == 2 else logits  # (B, 1, H, W)

    def _adapt(self, level: int, feature: torch.Tensor) -> torch.Tensor:
        """The decoder's width at ``level``: ``adapt<level>`` (1x1 conv) where the backbone's differs."""
        adapter = getattr(self, f"adapt{level}", None)
        return feature if adapter is None else adapter(feature)

    def _low(self, level: int, rgb: torch.Tensor, depth: torch.Tensor):
        """Levels 1-2: (skip, depth stream). RDE: both are RDE's output (the release)."""
        if self.variant.rde:
            enhanced = getattr(self, f"rde{level}")(rgb, depth)
            return enhanced, enhanced
        return getattr(self, f"fuse{level}")(rgb, depth), depth

    def _high(self, level: int, rgb: torch.Tensor, depth: torch.Tensor):
        """Levels 3-5: (skip, RGB stream, depth stream). DSE: skip = RGB stream = R' + D'."""
        if self.variant.dse:
            enhanced, depth = getattr(self, f"dse{level}")(rgb, depth)
            return enhanced, enhanced, depth
        return getattr(self, f"fuse{level}")(rgb, depth), rgb, depth
