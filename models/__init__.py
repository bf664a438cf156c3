"""The models of the harness, behind one registry (``models/registry.py``; docs/models.md).

>>> from models import create_model, list_models, load_weights, model_from_checkpoint
>>> list_models()                                      # ['bbsnet', 'cdinet', ...]
>>> model = create_model("cdinet", pretrained=True)    # ImageNet streams (needs the cached file)
>>> load_weights(model, "CDINet.pth")                  # the authors' release or our checkpoints
>>> outputs = model(rgb, depth)                        # logits, or a list of logits (deep supervision)
>>> model, config = model_from_checkpoint("runs/x/weights_final.pth")  # built as it was trained
"""
import os
from typing import Any, Dict, List, Mapping, Tuple, Union

from torch import nn

from utils import config as run_config
from utils.checkpoint import read_checkpoint
from utils.errors import InputShapeError, WeightsError

from . import registry
from .registry import (
    DEFAULT_MODEL,
    OfficialLayout,
    create_model,
    describe,
    get_entry,
    list_models,
    map_logits,
    register_model,
)
from .spec import InputSpec
from .weights import load_weights, model_name_of, model_section_of


def config_from_dict(values: Dict[str, Any], overrides: List[str] = (), where: str = "config") -> Dict[str, Any]:
    """``utils.config.config_from_dict`` with ``model.*`` checked by the registered model's section."""
    return run_config.config_from_dict(values, overrides, where, models=registry)


def load_config(path: Union[str, os.PathLike], overrides: List[str] = ()) -> Dict[str, Any]:
    """``utils.config.load_config`` with ``model.*`` checked by the registered model's section."""
    return run_config.load_config(path, overrides, models=registry)


def build_from_config(model_config: Mapping[str, Any], pretrained: bool) -> nn.Module:
    """The model a config's ``model`` section describes (``name`` and its options), with its start
    weights when ``pretrained`` (the backbone's ImageNet weights, as the options say)."""
    common, options = run_config.split_model_section(dict(model_config))
    return create_model(common.get("name", DEFAULT_MODEL), pretrained, **options)


def model_from_checkpoint(source: Union[str, os.PathLike, Mapping[str, Any]], origin: str | None = None
                          ) -> Tuple[nn.Module, Dict[str, Any]]:
    """The model a checkpoint holds, in eval mode, and the config saved with it (``{}`` for an
    authors' file): a file of ours is rebuilt from its config (after importing the modules its
    ``imports`` name), an authors' file as the model whose layout its keys have; weights loaded
    strictly. ``source``: a path or an already loaded checkpoint."""
    origin = origin or (str(source) if isinstance(source, (str, os.PathLike)) else "checkpoint")
    content = read_checkpoint(source) if isinstance(source, (str, os.PathLike)) else source
    saved = content.get("config") if isinstance(content, Mapping) else None
    config = dict(saved) if isinstance(saved, Mapping) else {}
    registry.import_modules(config.get("imports", []))
    model = build_from_config({**config.get("model", {}), **model_section_of(content, origin)}, pretrained=False)
    load_weights(model, content, origin=origin)
    return model.eval(), config


__all__ = [
    "InputShapeError",
    "InputSpec",
    "OfficialLayout",
    "WeightsError",
    "build_from_config",
    "config_from_dict",
    "create_model",
    "describe",
    "get_entry",
    "list_models",
    "load_config",
    "load_weights",
    "map_logits",
    "model_name_of",
    "model_from_checkpoint",
    "read_checkpoint",
    "register_model",
]
