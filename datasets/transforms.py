"""The pixel path from decoded files to network inputs, with the CDINet release as default.

Release (its ``setting/dataLoader.py``; docs/pixel-path.md "The release pixel path" and
"Training augmentation"), per sample:

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
(a = -0.75, pixel-centre pivot) where the release uses Pillow's (a = -0.5); docs/pixel-path.md
"Rotation kernel" gives the figure. Departures of ours are named options of
``utils.config.PreprocessConfig`` (``resize=opencv``, ``depth_scaling=minmax``,
``depth_resize=rgb_first``) and ``utils.config.AugmentConfig``.
"""
from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import torch
from PIL import Image

from utils.config import AugmentConfig, PreprocessConfig
from utils.images import scale_depth

RGB_MEAN = (0.485, 0.456, 0.406)
RGB_STD = (0.229, 0.224, 0.225)
DEPTH_MEAN = 0.485
DEPTH_STD = 0.229

_RGB_MEAN_T = torch.tensor(RGB_MEAN).view(3, 1, 1)
_RGB_STD_T = torch.tensor(RGB_STD).view(3, 1, 1)

# The filters of utils.config.INTERPOLATIONS in OpenCV and in Pillow (``area``: Pillow's BOX).
OPENCV_FILTERS = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR,
                  "cubic": cv2.INTER_CUBIC, "area": cv2.INTER_AREA}
PIL_FILTERS = {"nearest": Image.Resampling.NEAREST, "linear": Image.Resampling.BILINEAR,
               "cubic": Image.Resampling.BICUBIC, "area": Image.Resampling.BOX}


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
    return cv2.resize(image, (width, height), interpolation=OPENCV_FILTERS[name])


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
    rot = OPENCV_FILTERS[cfg.rotate_interpolation]
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
