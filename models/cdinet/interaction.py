"""Cross-modality discrepant interaction modules of CDINet (paper Sec. 3.2 and 3.3).

- ``RDE`` (RGB-induced Detail Enhancement) at encoder levels 1-2: RGB details are fused into
  the depth stream, gated by a spatial mask computed from depth.
- ``DSE`` (Depth-induced Semantic Enhancement) at levels 3-5: depth's spatial and channel
  attention refine the RGB stream's semantics.

Exact wiring from the authors' release; see docs/cdinet.md, "RDE" and "DSE".
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn


def channel_max(x: torch.Tensor) -> torch.Tensor:
    """Per-pixel maximum over channels: (B, C, H, W) -> (B, 1, H, W)."""
    return x.amax(dim=1, keepdim=True)


class RDE(nn.Module):
    """RGB-induced detail enhancement (levels 1-2, ``c`` = 64, 128).

    P = Conv3x3(ReLU(Conv1x1(cat[F_r, F_d])))        fused details, no activation at the end
    m = sigmoid(Conv7x7(Conv7x7(channel-max(F_d))))  spatial gate from depth, no bias
    out = P * m + F_d
    """

    def __init__(self, channels: int):
        super().__init__()
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.gate = nn.Sequential(
            nn.Conv2d(1, 1, 7, padding=3, bias=False),
            nn.Conv2d(1, 1, 7, padding=3, bias=False),
        )

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        details = self.fuse(torch.cat([rgb, depth], dim=1))  # (B, c, H, W)
        mask = torch.sigmoid(self.gate(channel_max(depth)))  # (B, 1, H, W)
        return details * mask + depth


class Fuse(nn.Module):
    """Where a switch is off (``models/cdinet/variant.py``): join F_r and F_d of ``channels`` each.

    ``concat``: ReLU(Conv1x1(cat[F_r, F_d])), 2c -> c; ``add``: F_r + F_d (no parameters).
    """

    def __init__(self, channels: int, mode: str):
        super().__init__()
        self.mode = mode
        self.conv = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.ReLU(inplace=True)) \
            if mode == "concat" else None

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        if self.conv is None:
            return rgb + depth
        return self.conv(torch.cat([rgb, depth], dim=1))  # (B, c, H, W)


class SpatialAttention(nn.Module):
    """SA(x) = sigmoid(Conv3x3(channel-max(x))): max pooling only, no average branch."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(channel_max(x)))  # (B, 1, H, W)


class ChannelAttention(nn.Module):
    """CA(x) = x * sigmoid(Linear(ReLU(Linear(GAP(x))))), reduction ``ratio``, no residual."""

    def __init__(self, channels: int, ratio: int = 4):
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // ratio),
            nn.ReLU(inplace=True),
            nn.Linear(channels // ratio, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.fc(x.mean(dim=(2, 3))))  # (B, C)
        return x * weights[:, :, None, None]


class DSE(nn.Module):
    """Depth-induced semantic enhancement (levels 3-5, ``c`` = 256, 512, 512).

    R' = CA_rgb(F_r * SA_rgb(F_d) + F_r);  D' = CA_depth(F_d * SA_depth(F_d) + F_d)
    Both spatial maps come from depth. Returns (R' + D', D'): the first feeds the RGB stream
    and the decoder skip, the second the depth stream.
    """

    def __init__(self, channels: int, ratio: int = 4):
        super().__init__()
        self.rgb_spatial = SpatialAttention()
        self.depth_spatial = SpatialAttention()
        self.rgb_channel = ChannelAttention(channels, ratio)
        self.depth_channel = ChannelAttention(channels, ratio)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        rgb = self.rgb_channel(rgb * self.rgb_spatial(depth) + rgb)
        depth = self.depth_channel(depth * self.depth_spatial(depth) + depth)
        return rgb + depth, depth
