"""Loading weights into a registered model (our checkpoints, the authors' releases) and a backbone's start weights.

Every file is read with ``torch.load(..., weights_only=True, map_location="cpu")``, so a
checkpoint from a stranger cannot run code, and a CUDA checkpoint loads on a CPU-only machine.
Loading is strict: a missing, unexpected or mis-shaped key is an error that names the keys
(the authors' releases load with ``strict=False`` and silently keep random weights on a
mismatch). An authors' file is recognised by its model's ``OfficialLayout`` (``models.registry``).
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import nn

from utils.checkpoint import read_checkpoint
from utils.config import DEFAULT_MODEL, split_model_section
from utils.errors import ConfigError, WeightsError
from utils.options import Section, option

from .registry import (
    architecture,
    create_model,
    describe,
    find_official,
    get_entry,
    list_models,
    model_options,
    official_models,
)

StateDict = Dict[str, torch.Tensor]
WeightsSource = Union[str, os.PathLike, Mapping[str, object]]

# Prefixes added by wrappers: DataParallel/DDP ("module.") and torch.compile ("_orig_mod.").
WRAPPER_PREFIXES = ("module.", "_orig_mod.")

# First keys of torchvision's VGG16 / MobileNetV2 and ResNet classifiers: a backbone file.
TORCHVISION_KEYS = {"features.0.weight", "features.0.0.weight", "conv1.weight"}


def strip_wrapper_prefixes(state: Mapping[str, torch.Tensor]) -> StateDict:
    """Remove ``module.`` / ``_orig_mod.`` prefixes (DataParallel, DDP, torch.compile)."""
    stripped = {}
    for key, value in state.items():
        while key.startswith(WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        stripped[key] = value
    return stripped


def extract_state_dict(obj: object, origin: str) -> StateDict:
    """The model state dict inside a loaded object.

    Accepts a bare state dict, our training checkpoint (``{"model": ..., ...}``) and the common
    ``{"state_dict": ...}`` wrapper. All values must be tensors.
    """
    if isinstance(obj, Mapping):
        for container in ("model", "state_dict"):
            if isinstance(obj.get(container), Mapping):
                obj = obj[container]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(f"{origin} holds no state dict (got {type(obj).__name__})")
    not_tensors = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WeightsError(f"{origin}: entries that are not tensors: {_key_list(not_tensors)}")
    return dict(obj)


def _key_list(keys: List[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" ... ({len(keys)} in all)" if len(keys) > limit else "")


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], origin: str) -> None:
    """Raise ``WeightsError`` naming missing, unexpected and mis-shaped keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_key_list(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_key_list(unexpected)}")
    if mis_shaped:
        problems.append(f"shape mismatch: {_key_list(mis_shaped)}")
    if problems:
        raise WeightsError(f"{origin} does not match the model: " + "; ".join(problems))


def saved_model(content: object) -> Dict[str, Any] | None:
    """The model a file of ours records (``config.model``: name and options), or None."""
    config = content.get("config") if isinstance(content, Mapping) else None
    model = config.get("model") if isinstance(config, Mapping) else None
    if not isinstance(model, Mapping):
        return None
    common, options = split_model_section(dict(model))
    name = common.get("name", DEFAULT_MODEL)
    return {"name": name, "options": architecture(model_options(name, options))}


def check_same_model(model: nn.Module, content: object, origin: str) -> None:
    """Weights saved from one model (or variant) never load into another: a file of ours records
    its model's name and options; say both models instead of listing mismatched keys."""
    saved = saved_model(content)
    if saved is None or not hasattr(model, "model_name"):
        return
    held = {"name": model.model_name, "options": architecture(model.model_options)}
    if saved != held:
        raise WeightsError(f"{origin} holds {saved_description(saved)} ({saved['name']}, options "
                           f"{saved['options']}); the model to load it into is {describe(model)} "
                           f"({model.model_name}, options {held['options']})")


def saved_description(saved: Mapping[str, Any]) -> str:
    """How the model a file records describes itself (built on the meta device: no memory, no
    time); its registered title, or its bare name, where it cannot be built here."""
    if saved["name"] not in list_models():
        return saved["name"]
    try:
        with torch.device("meta"):
            return describe(create_model(saved["name"], **saved["options"]))
    except (ConfigError, TypeError, ValueError):  # options of another version: the title still says which model
        return get_entry(saved["name"]).title


def load_weights(model: nn.Module, source: WeightsSource, origin: str | None = None) -> str:
    """Load weights strictly into ``model`` from a path or an in-memory (state) dict.

    Accepted: this project's checkpoints (weights-only export or full training checkpoint), and
    the authors' release of the model's kind (with or without a ``module.`` prefix), whose keys
    its ``OfficialLayout`` maps. Returns ``"official"`` or ``"project"``, the layout that was
    found. ``origin`` names an in-memory source in error messages.
    """
    origin = origin or (str(source) if isinstance(source, (str, os.PathLike)) else "state dict")
    obj = read_checkpoint(source) if isinstance(source, (str, os.PathLike)) else source
    check_same_model(model, obj, origin)
    state = strip_wrapper_prefixes(extract_state_dict(obj, origin))
    if TORCHVISION_KEYS.intersection(state) and not set(state).intersection(model.state_dict()):
        raise WeightsError(f"{origin} is a torchvision backbone file, not a full model: train from it "
                           f"with --set model.backbone.weights={origin}")
    official = get_entry(model.model_name).official if hasattr(model, "model_name") else None
    layout = "project"
    if saved_model(obj) is None and official is not None and official.matches(state):
        state, layout = official.convert(state), "official"
    check_state_dict(model, state, origin)
    model.load_state_dict(state, strict=True)
    return layout


def find_by_keys(state: Mapping[str, Any]):
    """The registered model whose default build (on the meta device: no memory, no time) has
    exactly the keys of ``state`` (a bare state dict of ours), or None."""
    for name in list_models():
        entry = get_entry(name)
        with torch.device("meta"):
            keys = entry.build(False, model_options(name, {})).state_dict().keys()
        if set(keys) == set(state):
            return entry
    return None


def model_name_of(content: object, origin: str) -> str:
    """Which registered model a loaded checkpoint holds: the name a file of ours records, or the
    model whose authors' layout its keys have; an error names the models tried."""
    return model_section_of(content, origin)["name"]


def model_section_of(content: object, origin: str) -> Dict[str, Any]:
    """What a loaded checkpoint says of its model beside its saved config: the name a file of
    ours records, or an authors' file's model and the options its keys show."""
    saved = saved_model(content)
    if saved is not None:
        return {"name": saved["name"]}
    state = strip_wrapper_prefixes(extract_state_dict(content, origin))
    official = find_official(state)
    if official is not None:
        return {**official.official.options(state), "name": official.name}
    entry = find_by_keys(state)
    if entry is None:
        raise WeightsError(f"{origin} is neither a checkpoint of ours (no saved config) nor the authors' release of "
                           f"any registered model (tried: {', '.join(official_models())}), nor the bare weights of a "
                           f"registered model at its defaults; first keys: "
                           f"{_key_list(list(state), 4)}")
    return {"name": entry.name}


# --- start weights of a backbone (``model.backbone.weights``) ---------------------------------
START_WORDS = ("imagenet", "none")  # the values of model.backbone.weights beside a file's path


@dataclass
class StartWeightsConfig(Section):
    """``model.backbone``. weights: how the backbone starts when the model is built ``pretrained``:
    ``imagenet`` (torchvision's ImageNet weights, through its cache), ``none`` (random init) or the
    path of a torchvision state-dict file of that backbone (:func:`start_weights`)."""

    key = "model.backbone"
    weights: str = option("imagenet")


def start_weights_kind(source: Union[str, os.PathLike, None], title: str = "", error: type = WeightsError) -> str:
    """What a ``model.backbone.weights`` value asks for: ``none`` (also ``None``), ``imagenet`` or
    ``file`` (the path of an existing file); anything else is ``error`` naming the values allowed
    (``title``: the backbone; train.py checks a config's value before a run, as a ConfigError)."""
    word = "none" if source is None else str(source).lower()
    if word in START_WORDS:
        return word
    if not Path(source).is_file():
        backbone = f"{title} " if title else ""
        raise error(f"model.backbone.weights {str(source)!r} is none of: imagenet, none, or the path of an "
                    f"existing torchvision {backbone}state-dict file")
    return "file"


def start_weights(source: Union[str, os.PathLike, None], weights_name: str, title: str
                  ) -> Optional[Tuple[StateDict, str]]:
    """``(state dict, where it came from)`` that a backbone ``title`` starts from, wrapper prefixes
    removed: torchvision's ImageNet weights ``weights_name`` (its cache) or a torchvision
    state-dict file, as ``source`` says (:func:`start_weights_kind`); None: keep the random init."""
    kind = start_weights_kind(source, title)
    if kind == "none":
        return None
    if kind == "imagenet":
        state, origin = imagenet_state_dict(weights_name, title), f"ImageNet {title}"
    else:
        state, origin = extract_state_dict(read_checkpoint(source), str(source)), str(source)
    return strip_wrapper_prefixes(state), origin


def imagenet_cache_path(weights_name: str) -> Path:
    """Where torchvision caches the weights ``weights_name`` (``$TORCH_HOME/hub/checkpoints``)."""
    from torchvision.models import get_weight

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(get_weight(weights_name).url)


def imagenet_state_dict(weights_name: str, title: str, download_timeout: float = 20.0) -> StateDict:
    """torchvision's ImageNet weights ``weights_name`` (its weights API, e.g.
    ``ResNet50_Weights.IMAGENET1K_V1``) of the classifier ``title``, from its cache, downloading
    them if possible.

    Offline with no cached file this raises one ``WeightsError`` that says where to put the
    file or how to pass a path; the socket timeout keeps a dead network from hanging.
    """
    cached = imagenet_cache_path(weights_name)
    if cached.is_file():
        return extract_state_dict(read_checkpoint(cached), str(cached))
    from torchvision.models import get_weight

    url = get_weight(weights_name).url
    cached.parent.mkdir(parents=True, exist_ok=True)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(download_timeout)
    try:
        torch.hub.download_url_to_file(url, str(cached), progress=True)
    except Exception as error:
        cached.unlink(missing_ok=True)
        raise WeightsError(
            f"ImageNet {title} weights are not cached and could not be downloaded ({type(error).__name__}). "
            f"Put {os.path.basename(url)} (from {url}) at {cached}, "
            f"or pass a torchvision {title} state-dict file as the backbone path (model.backbone.weights), "
            f"or train from a random init: --set model.backbone.weights=none"
        ) from None
    finally:
        socket.setdefaulttimeout(previous_timeout)
    return extract_state_dict(read_checkpoint(cached), str(cached))
