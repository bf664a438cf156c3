"""CDINet (ACM MM 2021) for RGB-D salient object detection.

>>> from models import build_model, load_weights
>>> model = build_model(weights_backbone="imagenet")  # VGG16 streams from ImageNet (or a path, or None)
>>> load_weights(model, "CDINet.pth")                 # the authors' release or our checkpoints
>>> logits = model(rgb, depth)                        # (B,3,H,W), (B,1,H,W) -> (B,1,H,W)
>>> build_model("resnet50", "imagenet", {"ddr": False})  # another backbone, an ablation
>>> model, config = model_from_checkpoint("runs/x/weights_final.pth")  # built as it was trained
"""
import os
from typing import Any, Dict, Mapping, Tuple, Union

from utils.checkpoint import read_checkpoint
from utils.config import backbone_settings
from utils.errors import InputShapeError, WeightsError

from .backbones import BACKBONES
from .cdinet import CDINet
from .variant import ModelVariant
from .weights import init_backbone, load_weights, official_to_project_key


def build_model(backbone: str = "vgg16", weights_backbone=None,
                variant: ModelVariant | Mapping | None = None) -> CDINet:
    """A CDINet on ``backbone`` (a name in ``models.backbones.BACKBONES``) with ablation switches
    ``variant`` (default the release; a dict as in the config's ``model.modules``), its two
    streams initialised from ``weights_backbone`` (``"imagenet"``, a torchvision state-dict file,
    or ``None``; see ``init_backbone``). Names follow torchvision's ``weights_backbone``."""
    if not isinstance(variant, ModelVariant):
        variant = ModelVariant.from_dict(variant)
    model = CDINet(variant, backbone)
    init_backbone(model, weights_backbone)
    return model


def build_from_config(model_config: Mapping[str, Any], with_backbone_weights: bool = True) -> CDINet:
    """The model a config's ``model`` section describes (or the one saved in a checkpoint of ours;
    ``{}`` for the release): ``backbone.name``, ``modules``, and, if ``with_backbone_weights``,
    the streams initialised from ``backbone.weights``."""
    backbone = backbone_settings(model_config)
    return build_model(backbone["name"], backbone["weights"] if with_backbone_weights else None,
                       model_config.get("modules"))


def model_from_checkpoint(source: Union[str, os.PathLike, Mapping[str, Any]], origin: str | None = None
                          ) -> Tuple[CDINet, Dict[str, Any]]:
    """The model a checkpoint holds, in eval mode, and the config saved with it (``{}`` for the
    authors' file): built with the backbone and ablation switches of that config (the release's
    without one), weights loaded strictly. ``source``: a path or an already loaded checkpoint."""
    content = read_checkpoint(source) if isinstance(source, (str, os.PathLike)) else source
    saved = content.get("config") if isinstance(content, Mapping) else None
    config = dict(saved) if isinstance(saved, Mapping) else {}
    model = build_from_config(config.get("model", {}), with_backbone_weights=False)
    load_weights(model, content, origin=origin or (str(source) if isinstance(source, (str, os.PathLike)) else None))
    return model.eval(), config


__all__ = [
    "BACKBONES",
    "CDINet",
    "InputShapeError",
    "ModelVariant",
    "WeightsError",
    "build_from_config",
    "build_model",
    "init_backbone",
    "load_weights",
    "model_from_checkpoint",
    "official_to_project_key",
    "read_checkpoint",
]
