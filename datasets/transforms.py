"""The pixel path from decoded files to network inputs, with the CDINet release as default.

Release (``setting/dataLoader.py``, CDINET.md "Training recipe" and "Pixel path"), per sample:

1. flip none / horizontal / vertical with probability 1/3 each; with probability 0.2 rotate by an
   integer angle in [-15, 14] (PIL ``Image.rotate``, BICUBIC, black fill), RGB, depth and GT
   alike, each in its own pixel grid (training only);
2. resize RGB, depth and GT, each on its own, straight to 256x256 with torchvision ``Resize`` on
   the PIL image, i.e. Pillow's bilinear filter, which antialiases when downscaling;
3. ``ToTensor`` (uint8 / 255; 8-bit depth is only divided by 255, no min-max) and ``Normalize``
   (RGB ImageNet mean/std, depth mean .485 / std .229); GT stays soft in [0, 1].

Here flips and rotation are albumentations ops, applied jointly: one draw of the random
parameters for RGB, depth and GT. Targets of another size (DUT-RGBD's 256x256 depth beside
600x400 RGB) are transformed with the same draw in their own grid, as the release does. The
resize is Pillow's own ``Image.resize`` (what torchvision ``Resize`` calls for PIL images), and
the tensor conversion is torchvision's arithmetic, so without flips and rotation a sample equals
the release loader's tensors exactly (``tests/test_release_pixels.py``).

One difference remains, measured there: albumentations rotates with OpenCV's bicubic kernel
(a = -0.75, pixel-centre pivot) where the release uses Pillow's (a = -0.5); README gives the
figure. Departures of ours are named options of :class:`PreprocessConfig` (``resize=opencv``,
``depth_scaling=minmax``, ``depth_resize=rgb_first``) and :class:`AugmentConfig`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch
from PIL import Image

from utils.errors import ConfigError

from utils.images import scale_depth

RGB_MEAN = (0.485, 0.456, 0.406)
RGB_STD = (0.229, 0.224, 0.225)
DEPTH_MEAN = 0.485
DEPTH_STD = 0.229

_RGB_MEAN_T = torch.tensor(RGB_MEAN).view(3, 1, 1)
_RGB_STD_T = torch.tensor(RGB_STD).view(3, 1, 1)

INTERPOLATIONS = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR,
                  "cubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA}
PIL_FILTERS = {"nearest": Image.Resampling.NEAREST, "linear": Image.Resampling.BILINEAR,
               "cubic": Image.Resampling.BICUBIC, "area": Image.Resampling.BOX}


class _Options:
    """``from_dict`` / ``to_dict`` for the option dataclasses (plain values only)."""

    _what = "option"

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """Build from a config mapping; an unknown key is a ConfigError naming it."""
        known = [f.name for f in dataclasses.fields(cls)]
        for key in d:
            if key not in known:
                raise ConfigError(f"unknown {cls._what} '{key}' (known: {', '.join(known)})")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def _check_choice(self, key: str, choices) -> None:
        if getattr(self, key) not in choices:
            raise ConfigError(f"{self._what} '{key}' must be one of {', '.join(choices)}, "
                             f"got {getattr(self, key)!r}")


@dataclass
class PreprocessConfig(_Options):
    """How decoded files become network inputs, in training and at test time alike.

    The defaults are the release's pixel path; every other value is a departure of ours.
    resize: 'pil' (Pillow's resize, as torchvision ``Resize`` on PIL images: the release) or
        'opencv' (``cv2.resize``, no antialiasing when downscaling).
    interpolation: 'linear' (release: bilinear) | 'nearest' | 'cubic' | 'area' (Pillow: BOX).
    depth_scaling: 'release' (8-bit depth / 255, no min-max; 16-bit and float depth, which the
        release cannot read, min-max normalised) or 'minmax' (every depth map min-max
        normalised per image).
    depth_resize: 'direct' (depth resized straight to the network size, as the release does
        with DUT-RGBD's 256x256 depth) or 'rgb_first' (resized to the RGB size at load).
    """

    _what = "preprocess option"
    resize: str = "pil"
    interpolation: str = "linear"
    depth_scaling: str = "release"
    depth_resize: str = "direct"

    def __post_init__(self) -> None:
        self._check_choice("resize", ("pil", "opencv"))
        self._check_choice("interpolation", tuple(INTERPOLATIONS))
        self._check_choice("depth_scaling", ("release", "minmax"))
        self._check_choice("depth_resize", ("direct", "rgb_first"))

    @property
    def is_release(self) -> bool:
        return self == PreprocessConfig()


@dataclass
class AugmentConfig(_Options):
    """Every switch of the training augmentation; the defaults are the release recipe.

    size: side of the square training input (release: 256).
    flip: flip none / horizontal / vertical with probability 1/3 each (release: on).
    rotate_prob: probability of a rotation (release: 0.2; 0 disables it).
    rotate_range: [low, high] angle in degrees, inclusive (release: [-15, 14]).
    integer_angles: draw an integer angle, as the release's ``randint`` (else uniform float).
    rotate_interpolation: 'nearest' | 'linear' | 'cubic' | 'area' (release: 'cubic').
    gt_nearest: nearest-neighbour GT in rotation and resize (release: off, GT is soft).
    binarize_gt: threshold GT at 0.5 after the geometric ops (release: off).
    normalize: ImageNet mean/std for RGB, DEPTH_MEAN/DEPTH_STD for depth (off: both in [0, 1]).
    """

    _what = "augmentation option"
    size: int = 256
    flip: bool = True
    rotate_prob: float = 0.2
    rotate_range: tuple[int, int] = (-15, 14)
    integer_angles: bool = True
    rotate_interpolation: str = "cubic"
    gt_nearest: bool = False
    binarize_gt: bool = False
    normalize: bool = True

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, bool) and not isinstance(value, bool):
                raise ConfigError(f"augmentation option '{f.name}' must be true or false, "
                                 f"got {value!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ConfigError(f"augmentation option 'size' must be a positive integer, "
                             f"got {self.size!r}")
        if not 0.0 <= float(self.rotate_prob) <= 1.0:
            raise ConfigError(f"augmentation option 'rotate_prob' must be in [0, 1], "
                             f"got {self.rotate_prob!r}")
        self.rotate_prob = float(self.rotate_prob)
        if len(self.rotate_range) != 2 or self.rotate_range[0] > self.rotate_range[1]:
            raise ConfigError("augmentation option 'rotate_range' must be [low, high] with "
                             f"low <= high, got {self.rotate_range!r}")
        cast = int if self.integer_angles else float
        if self.integer_angles and any(float(a) != int(a) for a in self.rotate_range):
            raise ConfigError("augmentation option 'rotate_range' must hold integers when "
                             f"integer_angles is on, got {self.rotate_range!r}")
        self.rotate_range = (cast(self.rotate_range[0]), cast(self.rotate_range[1]))
        self._check_choice("rotate_interpolation", tuple(INTERPOLATIONS))


def resize_array(image: np.ndarray, height: int, width: int, preprocess: PreprocessConfig,
                 nearest: bool = False) -> np.ndarray:
    """Resize an (H, W) or (H, W, 3) uint8 / float32 array as ``preprocess`` says.

    'pil': ``Image.fromarray(image).resize((width, height), filter)``, exactly what torchvision
    ``Resize`` does to a PIL image (uint8 images stay uint8, float depth uses mode 'F').
    """
    if image.shape[:2] == (height, width):
        return image
    name = "nearest" if nearest else preprocess.interpolation
    if preprocess.resize == "pil":
        return np.array(Image.fromarray(image).resize((width, height), PIL_FILTERS[name]))
    return cv2.resize(image, (width, height), interpolation=INTERPOLATIONS[name])


def _to_unit(image: np.ndarray) -> torch.Tensor:
    """torchvision ``ToTensor``'s arithmetic: uint8 -> float32 / 255; float kept (clipped to
    [0, 1], against bicubic overshoot); channels first."""
    tensor = torch.from_numpy(np.ascontiguousarray(image))
    tensor = tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()
    if tensor.dtype == torch.uint8:
        return tensor.float().div(255)
    return tensor.float().clamp_(0.0, 1.0)


class JointTransform:
    """Geometric augmentation, resize and tensor conversion of one RGB-D sample.

    Call with ``rgb`` uint8 (H, W, 3), ``depth`` as read (``utils.images.read_depth_raw``),
    ``gt`` uint8 (H, W) or None, ``invert_depth`` and optionally ``seed``; returns tensors
    rgb (3, S, S), depth (1, S, S), gt (1, S, S) or None.

    Randomness: the albumentations pipeline is reseeded before each group of equally sized
    targets with one seed per call, so all of them get the same draw. That seed is ``seed``
    when given (the dataset derives it from the epoch and the sample index), else drawn from a
    generator reseeded from ``torch.initial_seed()`` whenever that changes (each DataLoader
    worker gets its own; albumentations 2.x keeps its own generator, which forked workers
    would otherwise share and ``torch.manual_seed`` would not reach).
    """

    def __init__(self, geometric: list[A.BasicTransform], size: int,
                 preprocess: PreprocessConfig | None = None, normalize: bool = True,
                 binarize_gt: bool = False, gt_nearest: bool = False):
        self.pipeline = A.Compose(geometric, additional_targets={"depth": "image"}) if geometric else None
        self.size = size
        self.preprocess = preprocess or PreprocessConfig()
        self.normalize = normalize
        self.binarize_gt = binarize_gt
        self.gt_nearest = gt_nearest
        self._torch_seed: int | None = None
        self._rng = np.random.default_rng(0)

    def _draw_seed(self) -> int:
        torch_seed = torch.initial_seed()
        if torch_seed != self._torch_seed:
            self._rng = np.random.default_rng(torch_seed)
            self._torch_seed = torch_seed
        return int(self._rng.integers(2**32))

    def _geometric(self, rgb: np.ndarray, depth: np.ndarray, gt: np.ndarray | None, seed: int):
        """One draw of the albumentations pipeline for RGB and every target of its size; a
        target of another size gets the same draw in its own grid (same seed, same ops)."""

        def run(**targets):
            self.pipeline.set_random_seed(seed)
            return self.pipeline(**targets)

        same_depth = depth.shape[:2] == rgb.shape[:2]
        same_gt = gt is not None and gt.shape[:2] == rgb.shape[:2]
        out = run(image=rgb, **({"depth": depth} if same_depth else {}),
                  **({"mask": gt} if same_gt else {}))
        depth = out["depth"] if same_depth else run(image=depth)["image"]
        if gt is not None:
            gt = out["mask"] if same_gt else run(image=gt, mask=gt)["mask"]
        return out["image"], depth, gt

    def __call__(self, rgb: np.ndarray, depth: np.ndarray, gt: np.ndarray | None = None,
                 invert_depth: bool = False, seed: int | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        pre = self.preprocess
        depth = scale_depth(depth, pre.depth_scaling, invert_depth)
        if pre.depth_resize == "rgb_first":
            depth = resize_array(depth, *rgb.shape[:2], pre)
        if self.pipeline is not None:
            rgb, depth, gt = self._geometric(rgb, depth, gt, self._draw_seed() if seed is None else seed)
        size = self.size
        rgb_t = _to_unit(resize_array(rgb, size, size, pre))
        depth_t = _to_unit(resize_array(depth, size, size, pre))
        gt_t = None
        if gt is not None:
            gt_t = _to_unit(resize_array(gt, size, size, pre, nearest=self.gt_nearest))
            if self.binarize_gt:
                gt_t = (gt_t > 0.5).float()
        if self.normalize:  # torchvision Normalize: (x - mean) / std
            rgb_t = rgb_t.sub_(_RGB_MEAN_T).div_(_RGB_STD_T)
            depth_t = depth_t.sub_(DEPTH_MEAN).div_(DEPTH_STD)
        return rgb_t, depth_t, gt_t


def build_train_transform(cfg: AugmentConfig, preprocess: PreprocessConfig | None = None) -> JointTransform:
    """Release order: flip and rotate at the stored size, then resize, then normalise."""
    rot = INTERPOLATIONS[cfg.rotate_interpolation]
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
    return JointTransform(ops, cfg.size, preprocess, normalize=cfg.normalize,
                          binarize_gt=cfg.binarize_gt, gt_nearest=cfg.gt_nearest)


def build_test_transform(size: int, preprocess: PreprocessConfig | None = None) -> JointTransform:
    """Test time as the release: resize to ``size`` x ``size`` and normalise only."""
    return JointTransform([], size, preprocess)
