"""CDINet's start weights: both streams from the backbone's ImageNet classifier (torchvision).

The release copies torchvision's ImageNet VGG16 into both streams (its max-pooling weights in an
average-pooling network, docs/cdinet.md "ImageNet initialisation"); the other backbones do the
same with their own torchvision classifier. Everything else keeps PyTorch's default init.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from torch import nn

from utils.checkpoint import read_checkpoint
from utils.errors import WeightsError

from ..weights import extract_state_dict, imagenet_state_dict, strip_wrapper_prefixes


def init_backbone(model: nn.Module, source: Union[str, os.PathLike, None]) -> None:
    """Initialise both streams of ``model`` (``model.backbone.weights`` in the config).

    ``source``: ``"imagenet"`` (torchvision's ImageNet weights of the backbone, e.g.
    ``VGG16_Weights.IMAGENET1K_V1``, through its cache), a path to a torchvision state-dict file
    of the same architecture, or ``None`` / ``"none"`` (keep the random init).
    """
    if source is None or str(source).lower() == "none":
        return
    spec = model.rgb_backbone.spec
    if str(source).lower() == "imagenet":
        state, origin = imagenet_state_dict(spec.imagenet_weights, spec.title), f"ImageNet {spec.title}"
    elif not Path(source).exists():
        raise WeightsError(f"model.backbone.weights {str(source)!r} is none of: imagenet, none, or the path of an "
                           f"existing torchvision {spec.title} state-dict file")
    else:
        state, origin = extract_state_dict(read_checkpoint(source), str(source)), str(source)
    try:
        for stream in (model.rgb_backbone, model.depth_backbone):
            stream.load_torchvision(strip_wrapper_prefixes(state))
    except ValueError as error:
        raise WeightsError(f"{origin}: {error}") from None
