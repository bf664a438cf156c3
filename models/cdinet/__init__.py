"""CDINet (Zhang et al., ACM MM 2021): the network, its options, the authors' key layout and init.

    from models import create_model
    model = create_model("cdinet")                                   # the release, random init
    model = create_model("cdinet", pretrained=True)                  # streams from ImageNet VGG16
    model = create_model("cdinet", backbone={"name": "resnet50"}, modules={"ddr": False})

``network.py`` is the model (docs/cdinet.md), ``backbones.py`` / ``vgg.py`` / ``stages.py`` its
streams, ``interaction.py`` RDE and DSE, ``decoder.py`` DDR, ``variant.py`` the ablation
switches, ``keys.py`` the release's checkpoint layout, ``pretrained.py`` the ImageNet init.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from ..registry import OfficialLayout, register_model
from ..spec import InputSpec
from .backbones import BACKBONES
from .keys import OFFICIAL_PREFIXES, convert_official, official_to_project_key
from .network import CDINet, describe_model
from .options import CDINetOptions
from .pretrained import init_backbone
from .variant import ModelVariant

# The rows of the model cards (models.summary --table): the release, the four
# configs/ablation/*.yaml, the other backbones.
CARDS = (
    ("release", {}),
    *((f"{ModelVariant(**switches).describe()}", {"modules": switches})
      for switches in ({"rde": False}, {"dse": False}, {"ddr": False}, {"rde": False, "dse": False, "ddr": False})),
    *((f"on {spec.title}", {"backbone": {"name": name}}) for name, spec in BACKBONES.items() if name != "vgg16"),
)


@register_model(options=CDINetOptions, input_spec=InputSpec(), title="CDINet",
                official=OfficialLayout(OFFICIAL_PREFIXES, convert_official),
                source="GitHub release of Zhang et al. (CDINet.pth; docs/cdinet.md)", cards=CARDS)
def cdinet(pretrained: bool = False, backbone: Optional[Dict[str, Any]] = None,
           modules: Optional[Dict[str, Any]] = None) -> CDINet:
    """CDINet on ``backbone["name"]`` with the ablation switches ``modules`` (default: the
    release); ``pretrained`` fills both streams from ``backbone["weights"]`` (``imagenet``, a
    torchvision state-dict file, or ``none``)."""
    backbone = backbone or {"name": "vgg16", "weights": "imagenet"}
    model = CDINet(ModelVariant.from_dict(modules), backbone["name"])
    if pretrained:
        init_backbone(model, backbone["weights"])
    return model


__all__ = ["BACKBONES", "CDINet", "ModelVariant", "cdinet", "describe_model", "init_backbone",
           "official_to_project_key"]
