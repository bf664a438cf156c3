"""Training losses over a model's outputs (config section ``loss``, ``utils.config.LossConfig``).

A model returns one logits map or a list of them (deep supervision, docs/models.md); each output
gets the loss ``kind`` against the GT, reduced as ``reductions`` says (mean by default), weighted
by ``weights`` (1 each by default) and summed. CDINet's release: BCE with logits (mean) on its
one output; BBS-Net's: the same on both of its outputs, added; JL-DCF's: BCE summed over the
pixels, on the final map plus 256 times on the coarse maps of both halves (GT resized with
``align_corners=True`` and repeated). Computed in float32 under autocast.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Union

import torch
import torch.nn.functional as F

from utils.errors import ConfigError

Outputs = Union[torch.Tensor, Sequence[torch.Tensor]]


def bce(logits: torch.Tensor, gt: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``BCEWithLogitsLoss()``: mean over every pixel, or (``reduction="sum"``) their sum."""
    return F.binary_cross_entropy_with_logits(logits, gt, reduction=reduction)


def bce_iou(logits: torch.Tensor, gt: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """F3Net's structure loss (Wei et al., AAAI 2020, Eq. 3-5): BCE and IoU, each pixel weighted
    by ``1 + 5 |avgpool31(gt) - gt|`` (boundaries count more), averaged over the batch."""
    weight = 1 + 5 * torch.abs(F.avg_pool2d(gt, kernel_size=31, stride=1, padding=15) - gt)
    weighted_bce = (weight * F.binary_cross_entropy_with_logits(logits, gt, reduction="none")).sum((2, 3))
    weighted_bce = weighted_bce / weight.sum((2, 3))
    prob = torch.sigmoid(logits)
    inter = (prob * gt * weight).sum((2, 3))
    union = ((prob + gt) * weight).sum((2, 3))
    weighted_iou = 1 - (inter + 1) / (union - inter + 1)
    return (weighted_bce + weighted_iou).mean()


LOSSES = {"bce": bce, "bce_iou": bce_iou}


def as_list(outputs: Outputs) -> List[torch.Tensor]:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def loss_target(gt: torch.Tensor, logits: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """The GT (B, 1, H, W) as an output (k B, 1, h, w) is compared with: resized bilinearly to
    (h, w) when smaller, repeated k times along the batch (the halves of a Siamese output)."""
    if logits.shape[-2:] != gt.shape[-2:]:
        gt = F.interpolate(gt, size=logits.shape[-2:], mode="bilinear", align_corners=align_corners)
    if logits.shape[0] != gt.shape[0]:
        if logits.shape[0] % gt.shape[0]:
            raise ValueError(f"an output of {logits.shape[0]} maps for a batch of {gt.shape[0]} GT maps")
        gt = gt.repeat(logits.shape[0] // gt.shape[0], 1, 1, 1)
    return gt


def compute_loss(outputs: Outputs, gt: torch.Tensor, loss: Dict[str, Any]) -> torch.Tensor:
    """The weighted sum of ``loss["kind"]`` over every output, each against its
    :func:`loss_target`, reduced as ``loss["reductions"]`` says: ``mean`` over every pixel, or
    ``sum`` over every pixel divided by the batch's B images (their sum at batch 1)."""
    outputs = as_list(outputs)
    weights = loss.get("weights") or [1.0] * len(outputs)
    reductions = loss.get("reductions") or ["mean"] * len(outputs)
    for key, values in (("weights", weights), ("reductions", reductions)):
        if len(values) != len(outputs):
            raise ConfigError(f"loss.{key} has {len(values)} values but the model returns {len(outputs)} outputs")
    total = 0.0
    for weight, reduction, logits in zip(weights, reductions, outputs):
        target = loss_target(gt, logits, loss.get("align_corners", False))
        value = LOSSES[loss["kind"]](logits.float(), target, reduction)
        total = total + weight * (value / gt.shape[0] if reduction == "sum" else value)
    return total
