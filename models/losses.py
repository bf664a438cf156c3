"""Training losses over a model's outputs (config section ``loss``, ``utils.config.LossConfig``).

A model returns one logits map or a list of them (deep supervision, docs/models.md); each output
gets the loss ``kind`` against the GT, weighted by ``weights`` (1 each by default) and summed.
CDINet's release: BCE with logits (mean) on its one output; BBS-Net's: the same on both of its
outputs, added. Computed in float32 under autocast.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Union

import torch
import torch.nn.functional as F

from utils.errors import ConfigError

Outputs = Union[torch.Tensor, Sequence[torch.Tensor]]


def bce(logits: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """``BCEWithLogitsLoss()``: mean over every pixel."""
    return F.binary_cross_entropy_with_logits(logits, gt)


def bce_iou(logits: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
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


def compute_loss(outputs: Outputs, gt: torch.Tensor, loss: Dict[str, Any]) -> torch.Tensor:
    """The weighted sum of ``loss["kind"]`` over every output; an output smaller than the GT is
    compared with the GT resized to it (bilinear)."""
    outputs = as_list(outputs)
    weights = loss.get("weights") or [1.0] * len(outputs)
    if len(weights) != len(outputs):
        raise ConfigError(f"loss.weights has {len(weights)} values but the model returns {len(outputs)} outputs")
    total = 0.0
    for weight, logits in zip(weights, outputs):
        target = gt if logits.shape[-2:] == gt.shape[-2:] else F.interpolate(gt, size=logits.shape[-2:],
                                                                             mode="bilinear", align_corners=False)
        total = total + weight * LOSSES[loss["kind"]](logits.float(), target)
    return total
