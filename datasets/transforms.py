"""Joint RGB/depth/GT transforms (albumentations), with the CDINet release recipe as default.

Release (``setting/dataLoader.py`` of CDINet, summarised in ``reference/CDINET.md``):
flip none / horizontal / vertical with probability 1/3 each; with probability 0.2 rotate by an
integer angle ``np.random.randint(-15, 15)``, i.e. in [-15, 14], bicubic for RGB, depth and GT
alike with black fill; then resize all three to 256x256 (bilinear, so GT keeps soft values);
RGB normalised with the ImageNet mean/std, depth (one channel) with mean .485 / std .229.

RGB (uint8, as the release's PIL images) is the albumentations ``image``, depth (float32 in
[0, 1]) an additional image target and GT the ``mask``, so every geometric op draws its random
parameters once and applies them to all three.
One difference remains: PIL's bilinear resize low-pass filters when downscaling, OpenCV's
``INTER_LINEAR`` does not (``resize_interpolation="area"`` is the closer choice there).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch

RGB_MEAN = (0.485, 0.456, 0.406)
RGB_STD = (0.229, 0.224, 0.225)
DEPTH_MEAN = 0.485
DEPTH_STD = 0.229

_RGB_MEAN_255 = (np.array(RGB_MEAN, np.float32) * 255).reshape(3, 1, 1)
_RGB_INV_STD_255 = (1 / (np.array(RGB_STD, np.float32) * 255)).reshape(3, 1, 1)

INTERPOLATIONS = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR,
                  "cubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA}


@dataclass
class AugmentConfig:
    """Every switch of the training transform; the defaults are the release recipe.

    size: side of the square training input (release: 256).
    flip: flip none / horizontal / vertical with probability 1/3 each (release: on).
    rotate_prob: probability of a rotation (release: 0.2; 0 disables it).
    rotate_range: [low, high] angle in degrees, inclusive (release: [-15, 14]).
    integer_angles: draw an integer angle, as the release's ``randint`` (else uniform float).
    rotate_interpolation: 'nearest' | 'linear' | 'cubic' | 'area' (release: 'cubic').
    resize_interpolation: same choices (release: 'linear', i.e. bilinear).
    gt_nearest: nearest-neighbour GT in rotation and resize (release: off, GT is soft).
    binarize_gt: threshold GT at 0.5 after the geometric ops (release: off).
    normalize: ImageNet mean/std for RGB, DEPTH_MEAN/DEPTH_STD for depth (off: both in [0, 1]).
    """

    size: int = 256
    flip: bool = True
    rotate_prob: float = 0.2
    rotate_range: tuple[int, int] = (-15, 14)
    integer_angles: bool = True
    rotate_interpolation: str = "cubic"
    resize_interpolation: str = "linear"
    gt_nearest: bool = False
    binarize_gt: bool = False
    normalize: bool = True

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, bool) and not isinstance(value, bool):
                raise ValueError(f"augmentation option '{f.name}' must be true or false, "
                                 f"got {value!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"augmentation option 'size' must be a positive integer, "
                             f"got {self.size!r}")
        if not 0.0 <= float(self.rotate_prob) <= 1.0:
            raise ValueError(f"augmentation option 'rotate_prob' must be in [0, 1], "
                             f"got {self.rotate_prob!r}")
        self.rotate_prob = float(self.rotate_prob)
        if len(self.rotate_range) != 2 or self.rotate_range[0] > self.rotate_range[1]:
            raise ValueError("augmentation option 'rotate_range' must be [low, high] with "
                             f"low <= high, got {self.rotate_range!r}")
        cast = int if self.integer_angles else float
        if self.integer_angles and any(float(a) != int(a) for a in self.rotate_range):
            raise ValueError("augmentation option 'rotate_range' must hold integers when "
                             f"integer_angles is on, got {self.rotate_range!r}")
        self.rotate_range = (cast(self.rotate_range[0]), cast(self.rotate_range[1]))
        for key in ("rotate_interpolation", "resize_interpolation"):
            if getattr(self, key) not in INTERPOLATIONS:
                raise ValueError(f"augmentation option '{key}' must be one of "
                                 f"{', '.join(INTERPOLATIONS)}, got {getattr(self, key)!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AugmentConfig":
        """Build from a config mapping; an unknown key is a ValueError naming it."""
        known = [f.name for f in dataclasses.fields(cls)]
        for key in d:
            if key not in known:
                raise ValueError(f"unknown augmentation option '{key}' (known: "
                                 f"{', '.join(known)})")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values only (the range as a list), safe for YAML and checkpoints."""
        d = dataclasses.asdict(self)
        d["rotate_range"] = list(self.rotate_range)
        return d


class JointTransform:
    """Apply an albumentations pipeline to RGB, depth and GT with one draw of its parameters.

    Call with ``rgb`` uint8 (H, W, 3), ``depth`` float32 (H, W) in [0, 1] and ``gt`` float32
    (H, W) in [0, 1] or None; returns tensors rgb (3, S, S), depth (1, S, S), gt (1, S, S) or
    None. The pipeline is reseeded from ``torch.initial_seed()`` whenever that changes (each
    DataLoader worker and each epoch's workers get their own), because albumentations 2.x keeps
    its own generator, which forked workers would otherwise share (identical augmentations in
    every worker) and which ``torch.manual_seed`` would not reach.
    """

    def __init__(self, geometric: list[A.BasicTransform], normalize: bool = True,
                 binarize_gt: bool = False):
        self.pipeline = A.Compose(geometric, additional_targets={"depth": "image"})
        self.normalize = normalize
        self.binarize_gt = binarize_gt
        self._seed: int | None = None

    def __call__(self, rgb: np.ndarray, depth: np.ndarray, gt: np.ndarray | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        seed = torch.initial_seed()
        if seed != self._seed:
            self.pipeline.set_random_seed(seed % 2**32)
            self._seed = seed
        data = self.pipeline(image=rgb, depth=depth, **({} if gt is None else {"mask": gt}))
        # RGB stays uint8 through the geometric ops (as the release's PIL images); the float
        # work is done channel-first, where numpy broadcasting is fast.
        rgb = data["image"].transpose(2, 0, 1).astype(np.float32, order="C")
        depth = np.clip(data["depth"].reshape(rgb.shape[1:]), 0.0, 1.0)  # bicubic overshoot
        if self.normalize:  # (x / 255 - mean) / std, in place
            rgb -= _RGB_MEAN_255
            rgb *= _RGB_INV_STD_255
            depth = (depth - np.float32(DEPTH_MEAN)) * np.float32(1 / DEPTH_STD)
        else:
            rgb *= np.float32(1 / 255)
        rgb_t = torch.from_numpy(rgb)
        depth_t = torch.from_numpy(np.ascontiguousarray(depth))[None]
        gt_t = None
        if gt is not None:
            mask = np.clip(data["mask"], 0.0, 1.0)
            if self.binarize_gt:
                mask = (mask > 0.5).astype(np.float32)
            gt_t = torch.from_numpy(np.ascontiguousarray(mask))[None]
        return rgb_t, depth_t, gt_t


def build_train_transform(cfg: AugmentConfig) -> JointTransform:
    """Release order: flip and rotate at the original size, then resize, then normalise."""
    rot = INTERPOLATIONS[cfg.rotate_interpolation]
    res = INTERPOLATIONS[cfg.resize_interpolation]
    ops: list[A.BasicTransform] = []
    if cfg.flip:
        ops.append(A.OneOf([A.NoOp(p=1.0), A.HorizontalFlip(p=1.0), A.VerticalFlip(p=1.0)],
                           p=1.0))
    if cfg.rotate_prob > 0:
        rotate = dict(interpolation=rot, mask_interpolation=cv2.INTER_NEAREST if cfg.gt_nearest
                      else rot, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0)
        low, high = cfg.rotate_range
        if cfg.integer_angles:  # OneOf picks uniformly: one fixed-angle Rotate per integer
            ops.append(A.OneOf([A.Rotate(limit=(a, a), p=1.0, **rotate)
                                for a in range(low, high + 1)], p=cfg.rotate_prob))
        else:
            ops.append(A.Rotate(limit=(low, high), p=cfg.rotate_prob, **rotate))
    ops.append(A.Resize(cfg.size, cfg.size, interpolation=res,
                        mask_interpolation=cv2.INTER_NEAREST if cfg.gt_nearest else res))
    return JointTransform(ops, normalize=cfg.normalize, binarize_gt=cfg.binarize_gt)


def build_test_transform(size: int) -> JointTransform:
    """Test time as the release: bilinear resize to ``size`` x ``size`` and normalise only."""
    return JointTransform([A.Resize(size, size, interpolation=cv2.INTER_LINEAR,
                                    mask_interpolation=cv2.INTER_LINEAR)])
