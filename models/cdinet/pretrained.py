"""CDINet's start weights: both streams from the backbone's ImageNet classifier (torchvision).

The release copies torchvision's ImageNet VGG16 into both streams (its max-pooling weights in an
average-pooling network, docs/cdinet.md "ImageNet initialisation"); the other backbones do the
same with their own torchvision classifier. Everything else keeps PyTorch's default init.
"""
from __future__ import annotations

import os
from typing import Union

from torch import nn

from utils.errors import WeightsError

from ..weights import start_weights


def init_backbone(model: nn.Module, source: Union[str, os.PathLike, None]) -> None:
    """Initialise both streams of ``model`` from ``source``, ``model.backbone.weights`` in the
    config (``models.weights.start_weights``: ``imagenet``, e.g. ``VGG16_Weights.IMAGENET1K_V1``
    through torchvision's cache, a torchvision state-dict file of the same architecture, or
    ``None`` / ``"none"``: keep the random init)."""
    spec = model.rgb_backbone.spec
    start = start_weights(source, spec.imagenet_weights, spec.title)
    if start is None:
        return
    state, origin = start
    try:
        for stream in (model.rgb_backbone, model.depth_backbone):
            stream.load_torchvision(state)
    except ValueError as error:
        raise WeightsError(f"{origin}: {error}") from None
