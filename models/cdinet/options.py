"""CDINet's config options (``model.backbone``, ``model.modules``), checked by the schema machinery."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from utils.options import Section, option

from ..weights import StartWeightsConfig
from .backbones import BACKBONES
from .variant import ModelVariant


@dataclass
class BackboneConfig(StartWeightsConfig):
    """``model.backbone``. name: the backbone of both streams (vgg16 is the release's); weights:
    how both start (``StartWeightsConfig``)."""

    name: str = option("vgg16", choices=lambda: tuple(BACKBONES))


@dataclass
class CDINetOptions(Section):
    """CDINet's part of ``model``: the backbone and the ablation switches (``modules``)."""

    key = "model"
    backbone: BackboneConfig = option(BackboneConfig)
    modules: ModelVariant = option(ModelVariant)

    @classmethod
    def coerce(cls, values: Any, where: str) -> Any:
        # A string in model.backbone (a config without backbone names) is the VGG16 streams'
        # start weights.
        if isinstance(values, dict) and isinstance(values.get("backbone"), str):
            return {**values, "backbone": {"name": "vgg16", "weights": values["backbone"]}}
        return values
