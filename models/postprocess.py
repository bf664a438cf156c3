"""The release's test-time post-processing (docs/pixel-path.md, "Test-time post-processing").

Per image: bilinear resize of the logits to the original size (``align_corners`` as the model's
release: False for CDINet and BBS-Net, True for JL-DCF, ``InputSpec.align_corners``), sigmoid,
per-image min-max normalisation ``(p - min) / (max - min + 1e-8)``, times 255, 8-bit. The
float map is rounded to the nearest gray level, as ``cv2.imwrite`` does when it converts a
float image to 8 bits (``convertTo(CV_8U)``, saturating).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F


def saliency_map(logits: torch.Tensor, size: Tuple[int, int], align_corners: bool = False) -> torch.Tensor:
    """One image's logits (1, 1, h, w) or (1, h, w) -> uint8 saliency map (H, W) at ``size``."""
    logits = logits.reshape(1, 1, *logits.shape[-2:]).float()
    upsampled = F.interpolate(logits, size=tuple(int(s) for s in size), mode="bilinear", align_corners=align_corners)
    prob = torch.sigmoid(upsampled)[0, 0]
    prob = (prob - prob.min()) / (prob.max() - prob.min() + 1e-8)
    return torch.round(prob * 255).to(torch.uint8)


def saliency_maps(logits: torch.Tensor, sizes: Sequence[Tuple[int, int]], align_corners: bool = False) -> list:
    """A batch of logits (B, 1, h, w) -> list of uint8 maps, each at its own original size."""
    return [saliency_map(logits[i], sizes[i], align_corners) for i in range(logits.shape[0])]
