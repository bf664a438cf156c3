"""CDINet (ACM MM 2021) for RGB-D salient object detection.

>>> from models import build_model, load_weights
>>> model = build_model(backbone="imagenet")      # or a VGG16 state-dict path, or "none"
>>> load_weights(model, "CDINet.pth")             # the authors' release or our checkpoints
>>> logits = model(rgb, depth)                    # (B,3,H,W), (B,1,H,W) -> (B,1,H,W)
"""
from utils.checkpoint import read_checkpoint
from utils.errors import InputShapeError, WeightsError

from .cdinet import CDINet
from .variant import ModelVariant
from .weights import init_backbone, load_weights, official_to_project_key


def build_model(backbone=None, variant: ModelVariant | dict | None = None) -> CDINet:
    """A CDINet (``variant``: ablation switches, default the release; a dict as in the config's
    ``model.modules``) whose VGG16 streams are initialised from ``backbone`` (see
    ``init_backbone``)."""
    if not isinstance(variant, ModelVariant):
        variant = ModelVariant.from_dict(variant)
    model = CDINet(variant)
    init_backbone(model, backbone)
    return model


__all__ = [
    "CDINet",
    "InputShapeError",
    "ModelVariant",
    "WeightsError",
    "build_model",
    "init_backbone",
    "load_weights",
    "official_to_project_key",
    "read_checkpoint",
]
