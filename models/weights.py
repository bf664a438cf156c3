"""Loading weights into CDINet: our checkpoints, the authors' release, torchvision backbones.

Every file is read with ``torch.load(..., weights_only=True, map_location="cpu")``, so a
checkpoint from a stranger cannot run code, and a CUDA checkpoint loads on a CPU-only machine.
Loading is strict: a missing, unexpected or mis-shaped key is an error that names the keys
(the release loads with ``strict=False`` and silently keeps random weights on a mismatch).
"""
from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Tuple, Union

import torch
from torch import nn

from utils.checkpoint import read_checkpoint
from utils.config import backbone_settings
from utils.errors import WeightsError

from .backbones import BackboneSpec
from .cdinet import describe_model
from .variant import ModelVariant

StateDict = Dict[str, torch.Tensor]
WeightsSource = Union[str, os.PathLike, Mapping[str, object]]

# Prefixes added by wrappers: DataParallel/DDP ("module.") and torch.compile ("_orig_mod.").
WRAPPER_PREFIXES = ("module.", "_orig_mod.")

# First keys of torchvision's VGG16 / MobileNetV2 and ResNet classifiers: a backbone file.
TORCHVISION_KEYS = {"features.0.weight", "features.0.0.weight", "conv1.weight"}

# The release's top-level module names (reference/cdinet_official_keys.tsv).
OFFICIAL_PREFIXES = ("vgg_r.", "vgg_d.", "rde_layer", "dse_layer", "conv_mid.", "ddr.")


def _semantic_block(match: re.Match) -> str:
    # The release numbers the decoder's semantic blocks c1..c4 from the deepest level (4) up.
    return f"decoder.sem{5 - int(match.group(1))}.{'reduce.0' if match.group(2) == '0.basicconv.0' else 'refine'}."


# (pattern, replacement) applied in order; the first pattern that matches a key wins.
OFFICIAL_KEY_RULES: List[Tuple[str, Union[str, Callable[[re.Match], str]]]] = [
    (r"^vgg_r\.conv(\d)\.conv\d_(\d)\.", r"rgb_backbone.stage\1.conv\2."),
    (r"^vgg_d\.conv(\d)\.conv\d_(\d)\.", r"depth_backbone.stage\1.conv\2."),
    (r"^rde_layer(\d)\.conv_pool\.(\d)\.", r"rde\1.fuse.\2."),
    (r"^rde_layer(\d)\.conv1\.", r"rde\1.gate.0."),
    (r"^rde_layer(\d)\.conv2\.", r"rde\1.gate.1."),
    (r"^dse_layer(\d)\.sa1\.conv1\.", r"dse\1.rgb_spatial.conv."),
    (r"^dse_layer(\d)\.sa2\.conv1\.", r"dse\1.depth_spatial.conv."),
    (r"^dse_layer(\d)\.ca1\.", r"dse\1.rgb_channel."),
    (r"^dse_layer(\d)\.ca2\.", r"dse\1.depth_channel."),
    (r"^conv_mid\.", "top_conv."),
    (r"^ddr\.conv(\d)\.(\d)\.basicconv\.0\.", r"decoder.dec\1.\2.0."),
    (r"^ddr\.c(\d)\.(0\.basicconv\.0|1)\.", _semantic_block),
    (r"^ddr\.conv_map\.", "decoder.head."),
]


def official_to_project_key(key: str) -> str:
    """Map one key of the authors' ``state_dict`` to this project's module names.

    Keys that no rule covers are returned unchanged (and then reported as unexpected).
    """
    for pattern, replacement in OFFICIAL_KEY_RULES:
        new_key, count = re.subn(pattern, replacement, key)
        if count:
            return new_key
    return key


def strip_wrapper_prefixes(state: Mapping[str, torch.Tensor]) -> StateDict:
    """Remove ``module.`` / ``_orig_mod.`` prefixes (DataParallel, DDP, torch.compile)."""
    stripped = {}
    for key, value in state.items():
        while key.startswith(WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        stripped[key] = value
    return stripped


def is_official_layout(state: Mapping[str, object]) -> bool:
    """True when the keys are those of the authors' release (``CDINet.pth``)."""
    return any(key.startswith(OFFICIAL_PREFIXES) for key in state)


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


def check_variant(model: nn.Module, content: object, origin: str) -> None:
    """Weights saved from one variant never load into another: a file of ours records its
    ablation switches (``config.model.modules``) and backbone (``config.model.backbone.name``);
    say both models instead of listing mismatched keys."""
    config = content.get("config") if isinstance(content, Mapping) else None
    model_config = config.get("model") if isinstance(config, Mapping) else None
    if not hasattr(model, "variant") or not isinstance(model_config, Mapping):
        return
    saved = ModelVariant.from_dict(model_config.get("modules", model.variant.to_dict()))
    saved_backbone = backbone_settings(model_config)["name"]
    if (saved, saved_backbone) != (model.variant, model.backbone_name):
        describe = lambda variant, backbone: (f"{describe_model(variant, backbone)} (backbone {backbone}, "  # noqa: E731
                                              f"modules {variant.to_dict()})")
        raise WeightsError(f"{origin} holds {describe(saved, saved_backbone)}; the model to load it into is "
                           f"{describe(model.variant, model.backbone_name)}")


def load_weights(model: nn.Module, source: WeightsSource, origin: str | None = None) -> str:
    """Load weights strictly into ``model`` from a path or an in-memory (state) dict.

    Accepted: this project's checkpoints (weights-only export or full training checkpoint),
    and the authors' release layout (``CDINet.pth``, with or without a ``module.`` prefix),
    whose keys are mapped by ``OFFICIAL_KEY_RULES``. Returns ``"official"`` or ``"project"``,
    the layout that was found. ``origin`` names an in-memory source in error messages.
    """
    origin = origin or (str(source) if isinstance(source, (str, os.PathLike)) else "state dict")
    obj = read_checkpoint(source) if isinstance(source, (str, os.PathLike)) else source
    check_variant(model, obj, origin)
    state = strip_wrapper_prefixes(extract_state_dict(obj, origin))
    if TORCHVISION_KEYS.intersection(state) and not any(k.startswith(("rgb_backbone.", "vgg_r.")) for k in state):
        raise WeightsError(f"{origin} is a torchvision backbone file, not a CDINet model: train from it "
                           f"with --set model.backbone.weights={origin}")
    layout = "official" if is_official_layout(state) else "project"
    if layout == "official":
        state = {official_to_project_key(k): v for k, v in state.items()}
    check_state_dict(model, state, origin)
    model.load_state_dict(state, strict=True)
    return layout


def imagenet_cache_path(spec: BackboneSpec) -> Path:
    """Where torchvision caches ``spec``'s ImageNet weights (``$TORCH_HOME/hub/checkpoints``)."""
    from torchvision.models import get_weight

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(get_weight(spec.imagenet_weights).url)


def imagenet_state_dict(spec: BackboneSpec, download_timeout: float = 20.0) -> StateDict:
    """torchvision's ImageNet weights of ``spec`` (its weights API: ``spec.imagenet_weights``),
    from its cache, downloading them if possible.

    Offline with no cached file this raises one ``WeightsError`` that says where to put the
    file or how to pass a path; the socket timeout keeps a dead network from hanging.
    """
    cached = imagenet_cache_path(spec)
    if cached.is_file():
        return extract_state_dict(read_checkpoint(cached), str(cached))
    from torchvision.models import get_weight

    url = get_weight(spec.imagenet_weights).url
    cached.parent.mkdir(parents=True, exist_ok=True)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(download_timeout)
    try:
        torch.hub.download_url_to_file(url, str(cached), progress=True)
    except Exception as error:
        cached.unlink(missing_ok=True)
        raise WeightsError(
            f"ImageNet {spec.title} weights are not cached and could not be downloaded ({type(error).__name__}). "
            f"Put {os.path.basename(url)} (from {url}) at {cached}, "
            f"or pass a torchvision {spec.title} state-dict file as the backbone path (model.backbone.weights), "
            f"or train from a random init: --set model.backbone.weights=none"
        ) from None
    finally:
        socket.setdefaulttimeout(previous_timeout)
    return extract_state_dict(read_checkpoint(cached), str(cached))


def init_backbone(model: nn.Module, source: Union[str, os.PathLike, None]) -> None:
    """Initialise both streams of ``model`` (``model.backbone.weights`` in the config).

    ``source``: ``"imagenet"`` (torchvision's ImageNet weights of the backbone, e.g.
    ``VGG16_Weights.IMAGENET1K_V1``, through its cache), a path to a torchvision state-dict file
    of the same architecture, or ``None`` / ``"none"`` (keep the random init). The same weights
    go into both streams (docs/model.md, "ImageNet initialisation").
    """
    if source is None or str(source).lower() == "none":
        return
    spec = model.rgb_backbone.spec
    if str(source).lower() == "imagenet":
        state, origin = imagenet_state_dict(spec), f"ImageNet {spec.title}"
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
