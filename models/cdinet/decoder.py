"""Dense Decoding Reconstruction (DDR) decoder of CDINet (paper Sec. 3.4).

The main path upsamples with bilinear x2 (align_corners=True). At each level a *semantic
block* concatenates all higher-level skips, upsampled with ``F.interpolate``'s default nearest
mode, squeezes them with a 1x1 conv and a 3x3 conv into a map S_k, and modulates the skip:
short_k = S_k * f_k + f_k (no sigmoid). Exact layer list: docs/cdinet.md, "DDR decoder".
"""
from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ConvReLU(nn.Sequential):
    """Conv (bias) + ReLU; 3x3 with padding 1 by default, 1x1 with padding 0."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.ReLU(inplace=True),
        )


def conv_stack(channels: Sequence[int]) -> nn.Sequential:
    """ConvReLU layers through ``channels``, e.g. (1024, 512, 256) -> two 3x3 ConvReLUs."""
    return nn.Sequential(*(ConvReLU(a, b) for a, b in zip(channels[:-1], channels[1:])))


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Main-path upsampling: bilinear, x2, align_corners=True (as in the release)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class SemanticBlock(nn.Module):
    """S = Conv3x3(ConvReLU1x1(cat[nearest-upsampled higher skips])); returns S * f + f.

    Computed in a cheaper order with the same weights: a 1x1 convolution over a concatenation
    is the sum of 1x1 convolutions over its parts (the weight split along its input channels),
    and a 1x1 convolution commutes with nearest upsampling (both act per pixel), so

        Conv1x1(cat[U_i(h_i)]) = b + sum_i U_i(Conv1x1_{W_i}(h_i))

    exactly in real arithmetic: each higher skip is reduced at its own, coarser resolution and
    only the ``out_channels``-wide result is upsampled, instead of upsampling and concatenating
    up to 1408 channels at the skip's resolution (docs/cdinet.md, "Architecture"; the speed in
    docs/performance.md). Only the float summation order differs (tests/test_models.py checks the
    logits against the authors').
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.reduce = ConvReLU(in_channels, out_channels, kernel_size=1)
        self.refine = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, skip: torch.Tensor, higher: Sequence[torch.Tensor]) -> torch.Tensor:
        # higher[i] is 2**(len(higher) - i) times coarser than ``skip`` (f5 first).
        n, conv = len(higher), self.reduce[0]
        weights = torch.split(conv.weight, [h.shape[1] for h in higher], dim=1)
        reduced = conv.bias[None, :, None, None]
        for i, (h, weight) in enumerate(zip(higher, weights)):
            reduced = reduced + F.interpolate(F.conv2d(h, weight), scale_factor=2 ** (n - i))
        semantic = self.refine(self.reduce[1](reduced))
        return semantic * skip + skip


class DDR(nn.Module):
    """Decoder from the five skip features f1..f5 (64@H ... 512@H/16) to 1-channel logits.

    ``semantic=False`` (the ``ddr`` switch off): plain U-Net skips, each level's skip feature
    itself instead of its semantic block; every width stays the same.
    """

    def __init__(self, semantic: bool = True):
        super().__init__()
        self.semantic = semantic
        self.dec5 = conv_stack((512, 512, 512, 512))
        self.dec4 = conv_stack((1024, 512, 512, 256))
        self.dec3 = conv_stack((512, 256, 256, 128))
        self.dec2 = conv_stack((256, 128, 64))
        self.dec1 = conv_stack((128, 64, 3))
        if semantic:
            self.sem4 = SemanticBlock(512, 512)
            self.sem3 = SemanticBlock(512 + 512, 256)
            self.sem2 = SemanticBlock(512 + 512 + 256, 128)
            self.sem1 = SemanticBlock(512 + 512 + 256 + 128, 64)
        self.head = nn.Conv2d(3, 1, 3, padding=1)

    def _skip(self, level: int, skip: torch.Tensor, higher: List[torch.Tensor]) -> torch.Tensor:
        return getattr(self, f"sem{level}")(skip, higher) if self.semantic else skip

    def forward(self, skips: List[torch.Tensor]) -> torch.Tensor:
        f1, f2, f3, f4, f5 = skips
        d5 = upsample2x(self.dec5(f5))                                            # (B, 512, H/8)
        d4 = upsample2x(self.dec4(torch.cat([d5, self._skip(4, f4, [f5])], 1)))       # (B, 256, H/4)
        d3 = upsample2x(self.dec3(torch.cat([d4, self._skip(3, f3, [f5, f4])], 1)))   # (B, 128, H/2)
        d2 = upsample2x(self.dec2(torch.cat([d3, self._skip(2, f2, [f5, f4, f3])], 1)))  # (B, 64, H)
        d1 = self.dec1(torch.cat([d2, self._skip(1, f1, [f5, f4, f3, f2])], 1))       # (B, 3, H)
        return self.head(d1)                                                      # (B, 1, H)
