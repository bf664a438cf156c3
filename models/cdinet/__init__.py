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


# What the tests check against the release: (what, bound, measured, test).
CHECKS = (
    ("parameters vs the authors' key list (140 tensors)", "equal", "54,369,369",
     "tests/test_models.py::test_parameter_counts_match_release"),
    ("logits vs the authors' model code, keyed seed-0 weights, 256x256", "max abs diff < 1e-4", "8.7e-6",
     "tests/test_models.py::test_reproduces_authors_logits_seed0_256"),
    ("test.py maps vs the authors' test script's, 5 DES images", "within 1 gray level",
     "max 1, 0.002% of pixels differ (channels_last)",
     "tests/test_test_script.py::test_maps_reproduce_the_authors_pipeline"),
)
# Their README (S, max F, MAE; no E-measure).
REPORTED = {"where": "their README", "metrics": ("S", "max F", "MAE"), "digits": 4, "values": {
    "NJU2K": (.9188, .9215, None), "NLPR": (.9273, .9162, .0240), "STERE": (.9055, .9033, .0410),
    "LFSD": (.8703, .8746, .0631), "DUT-RGBD": (.9274, .9372, .0302)},
    "notes": ("NJU2K MAE: their README's figure is a typo",)}


@register_model(options=CDINetOptions, input_spec=InputSpec(), title="CDINet",
                official=OfficialLayout(OFFICIAL_PREFIXES, convert_official),
                source="1437539743/CDINet-ACM-MM21, last commit 2021-11-22 (CDINet.pth)", cards=CARDS,
                checks=CHECKS, reported=REPORTED)
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
