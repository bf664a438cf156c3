"""What a model expects of its inputs, declared in one place (timm's ``pretrained_cfg`` idea).

An :class:`InputSpec` is read by the datasets (normalisation, depth channels), ``train.py`` and
``test.py`` (the default size, the polarity check), ``inference.Predictor``, the ONNX export and
the hub entries. A model that declares none gets ``InputSpec()``: the CDINet release's pixel
path (docs/pixel-path.md). Plain values only, torch-free.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from utils.errors import InputShapeError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
POLARITIES = ("bright", "dark")  # which end of the depth range is near, as the model expects it
CHANNEL_WORDS = {1: "one channel", 3: "three channels, the map repeated"}  # depth_channels, in errors


@dataclass(frozen=True)
class InputSpec:
    """A model's input contract.

    size: the release's training and test side (square inputs); multiple: H and W must be
    multiples of it (the deepest stride). rgb_mean / rgb_std: RGB normalisation after ``/ 255``.
    depth_mean / depth_std: per depth channel, or ``None`` for depth left in [0, 1]
    (BBS-Net). depth_channels: 1, or 3 (the map repeated, for models that feed depth to an
    RGB backbone). near: the depth polarity the model was trained with (``bright``: near = high
    values). preprocess: the release's ``data.preprocess`` values where they differ from that
    section's defaults (resize, interpolation, depth scaling, depth resize). align_corners: how
    the release resizes bilinearly between the input size and an output's (the map to the image
    size at test time, the GT to a smaller output's size in the loss): JL-DCF ``True``.
    """

    size: int = 256
    multiple: int = 16
    rgb_mean: Tuple[float, float, float] = IMAGENET_MEAN
    rgb_std: Tuple[float, float, float] = IMAGENET_STD
    depth_mean: Optional[Tuple[float, ...]] = (0.485,)
    depth_std: Optional[Tuple[float, ...]] = (0.229,)
    depth_channels: int = 1
    near: str = "bright"
    preprocess: Dict[str, Any] = field(default_factory=dict)
    align_corners: bool = False

    def __post_init__(self) -> None:
        if self.near not in POLARITIES:
            raise ValueError(f"InputSpec.near must be one of {', '.join(POLARITIES)}, got {self.near!r}")
        if self.depth_channels not in (1, 3):
            raise ValueError(f"InputSpec.depth_channels must be 1 or 3, got {self.depth_channels}")
        if (self.depth_mean is None) != (self.depth_std is None):
            raise ValueError("InputSpec.depth_mean and depth_std are both given or both None")
        if self.depth_mean is not None and len(self.depth_mean) not in (1, self.depth_channels):
            raise ValueError(f"InputSpec.depth_mean needs 1 or {self.depth_channels} values, got {self.depth_mean}")

    def check_size(self, size: int, option: str, model: str) -> None:
        """The one input-size rule; ``option`` names the setting in the error (``--size``, ...)."""
        if size % self.multiple:
            raise InputShapeError(f"{option} must be a multiple of {self.multiple} for {model}, got {size}")

    def check_inputs(self, rgb, depth, model: str) -> None:
        """The one rule for a forward pass's tensors (``rgb`` (B, 3, H, W), ``depth`` (B,
        depth_channels, H, W), H and W multiples of ``multiple``): an ``InputShapeError`` that
        names ``model`` and what is wrong, instead of a shape mismatch deep in the network."""
        channels = self.depth_channels
        depth_range = ", in [0, 1]" if self.depth_mean is None else ""
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise InputShapeError(f"{model}: rgb must have shape (B, 3, H, W), got {tuple(rgb.shape)}")
        if depth.dim() != 4 or depth.shape[1] != channels:
            raise InputShapeError(f"{model}: depth must have shape (B, {channels}, H, W) "
                                  f"({CHANNEL_WORDS[channels]}{depth_range}), got {tuple(depth.shape)}")
        if rgb.shape[0] != depth.shape[0] or rgb.shape[2:] != depth.shape[2:]:
            raise InputShapeError(f"{model}: rgb {tuple(rgb.shape)} and depth {tuple(depth.shape)} differ in "
                                  f"batch or size")
        height, width = rgb.shape[2:]
        if height % self.multiple or width % self.multiple:
            raise InputShapeError(f"{model}: H and W must be multiples of {self.multiple} (the deepest stride), "
                                  f"got {height}x{width}")

    def to_dict(self) -> Dict[str, Any]:
        """Plain values, as test_info.json and the model cards record them."""
        values = dataclasses.asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}
