"""The pixel path from decoded files to network inputs, with the CDINet release as default.

Release (its ``setting/dataLoader.py``; docs/pixel-path.md "The release pixel path" and
"Training augmentation"), per sample:

1. flip none / horizontal / vertical with probability 1/3 each; with probability 0.2 rotate by an
   integer angle in [-15, 14] (PIL ``Image.rotate``, BICUBIC, black fill), RGB, depth and GT
   alike, each in its own pixel grid (training only);
2. resize RGB, depth and GT, each on its own, straight to 256x256 with torchvision ``Resize`` on
   the PIL image, i.e. Pillow's bilinear filter, which antialiases when downscaling;
3. ``ToTensor`` (uint8 / 255; 8-bit depth is only divided by 255, no min-max) and ``Normalize``
   (the model's ``InputSpec``; CDINet: RGB ImageNet mean/std, depth mean .485 / std .229); GT
   stays soft in [0, 1].

BBS-Net's training recipe (its ``data.py``; named options of ``AugmentConfig``) runs, in this
order: horizontal flip (p 0.5), a centred random crop (:func:`centre_crop`, ``crop_border``),
the same rotation, Pillow's colour enhancement of the RGB (:func:`enhance_colour`,
``color_enhance``), pepper noise on the GT (:func:`pepper`, ``gt_pepper``), then steps 2 and 3
at 352 (its spec leaves depth in [0, 1]).

Here flips and rotation are albumentations ops, applied jointly: one draw of the random
parameters for RGB, depth and GT. Targets of another size (DUT-RGBD's 256x256 depth beside
600x400 RGB) are transformed with the same draw in their own grid, as the release does; the
crop removes the same number of pixels from each in its own grid. Every draw of a sample comes
from one seed, each op (every albumentations op, the crop, colour and pepper) from a stream of
its own derived from it (:func:`op_rng`): the draws are independent, and turning one option on
leaves the others' draws unchanged (albumentations 2.x's ``Compose.set_random_seed`` hands its
one seed to every op, which would tie the ops' draws together). Each op takes its parameters explicitly; the
``draw_*`` functions draw them. The resize is Pillow's own ``Image.resize`` (what torchvision
``Resize`` calls for PIL images), and the tensor conversion is torchvision's arithmetic, so
without augmentation a sample equals the release loaders' tensors exactly
(``tests/test_release_pixels.py``, ``tests/test_bbsnet_augment.py``).

One difference remains, measured there: albumentations rotates with OpenCV's bicubic kernel
(a = -0.75, pixel-centre pivot) where the release uses Pillow's (a = -0.5); docs/pixel-path.md
"Rotation kernel" gives the figure. Departures of ours are named options of
``utils.config.PreprocessConfig`` (``resize=opencv``, ``depth_scaling=minmax``,
``depth_resize=rgb_first``, ``depth_holes=far``) and ``utils.config.AugmentConfig``.
"""
from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import torch
from PIL import Image, ImageEnhance

from models.spec import InputSpec
from utils.config import AugmentConfig, PreprocessConfig
from utils.images import fill_holes_far, scale_depth

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
    'opencv': ``cv2.resize`` in float32, as JL-DCF's loader (``np.float32`` image, then resize):
    an interpolated uint8 image comes back as float32 in [0, 1], not rounded to 8 bits.
    """
    if image.shape[:2] == (height, width):
        return image
    name = "nearest" if nearest else preprocess.interpolation
    if preprocess.resize == "pil":
        return np.array(Image.fromarray(image).resize((width, height), PIL_FILTERS[name]))
    if image.dtype == np.uint8 and name != "nearest":
        image = image.astype(np.float32) / 255
    return cv2.resize(image, (width, height), interpolation=OPENCV_FILTERS[name])


# One parameter stream per op, derived from the sample's seed (see op_rng).
OP_STREAMS = {"geometric": 0, "crop": 1, "colour": 3, "pepper": 4, "window": 5}
# BBS-Net's colour factors: Python ``random.randint(low, high) / 10`` (high inclusive), in the
# order applied: brightness, contrast, colour, sharpness.
COLOUR_GRIDS = ((5, 15), (5, 15), (0, 20), (0, 30))


def op_rng(seed: int, op: str, *index: int) -> np.random.Generator:
    """The generator of op ``op``'s parameters for the sample augmented with ``seed``
    (``geometric``: of albumentations op number ``index``)."""
    return np.random.default_rng([seed, OP_STREAMS[op], *index])


def centre_crop(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The ``width`` x ``height`` window of an (H, W, ...) array, placed as BBS-Net's PIL crop
    box ``((W - w) >> 1, (H - h) >> 1, (W + w) >> 1, (H + h) >> 1)`` places it."""
    rows, cols = image.shape[:2]
    if not (0 < width <= cols and 0 < height <= rows):
        raise ValueError(f"crop {width}x{height} does not fit a {cols}x{rows} image")
    left, top = (cols - width) >> 1, (rows - height) >> 1
    return image[top:top + height, left:left + width]


def draw_crop(rng: np.random.Generator, border: int) -> tuple[int, int]:
    """Pixels the crop removes from the width and the height, each uniform in [1, border]: BBS-Net's
    window of ``np.random.randint(W - border, W)``, i.e. W - border .. W - 1."""
    cut_w, cut_h = rng.integers(1, border + 1, size=2)
    return int(cut_w), int(cut_h)


def draw_window(rng: np.random.Generator, margin: int) -> tuple[int, int]:
    """Top and left of JL-DCF's crop window (``cv_random_crop``): each ``random.randint(0,
    margin)``, both ends included, drawn apart."""
    top, left = rng.integers(0, margin + 1, 2)
    return int(top), int(left)


def enhance_colour(rgb: np.ndarray, brightness: float, contrast: float, colour: float,
                   sharpness: float) -> np.ndarray:
    """Pillow's ``ImageEnhance`` Brightness, Contrast, Color, Sharpness, in that order, on uint8
    RGB (H, W, 3); a factor of 1 leaves the image as it is."""
    image = Image.fromarray(rgb)
    for enhancer, factor in zip((ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color,
                                 ImageEnhance.Sharpness), (brightness, contrast, colour, sharpness)):
        image = enhancer(image).enhance(factor)
    return np.asarray(image)


def draw_colour(rng: np.random.Generator) -> tuple[float, float, float, float]:
    """The four factors of :func:`enhance_colour` on BBS-Net's grids: brightness and contrast
    in {0.5, 0.6, ..., 1.5}, colour in {0, 0.1, ..., 2}, sharpness in {0, 0.1, ..., 3}."""
    return tuple(int(rng.integers(low, high + 1)) / 10.0 for low, high in COLOUR_GRIDS)


def pepper(gt: np.ndarray, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A copy of ``gt`` with pixel ``(rows[i], cols[i])`` set to ``values[i]`` (0 or 255) for each
    i in order: where a pixel is drawn twice the later value stays, as in BBS-Net's loop."""
    out = np.array(gt, copy=True)
    flat = np.asarray(rows, np.int64) * gt.shape[1] + np.asarray(cols, np.int64)
    _, first_in_reversed = np.unique(flat[::-1], return_index=True)
    last = len(flat) - 1 - first_in_reversed  # the last occurrence of each pixel
    out[np.asarray(rows)[last], np.asarray(cols)[last]] = np.asarray(values)[last]
    return out


def draw_pepper(rng: np.random.Generator, shape: tuple[int, ...], share: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BBS-Net's ``int(share * H * W)`` pixels of an (H, W) GT, drawn with repetition, each
    value 0 or 255 with probability 1/2: ``(rows, cols, values)`` for :func:`pepper`."""
    height, width = shape[:2]
    count = int(share * height * width)
    return (rng.integers(0, height, count), rng.integers(0, width, count),
            rng.integers(0, 2, count).astype(np.uint8) * 255)


def _to_unit(image: np.ndarray) -> torch.Tensor:
    """torchvision ``ToTensor``'s arithmetic: uint8 -> float32 / 255; float kept (clipped to
    [0, 1], against bicubic overshoot); channels first."""
    tensor = torch.from_numpy(np.ascontiguousarray(image))
    tensor = tensor[None] if tensor.ndim == 2 else tensor.permute(2, 0, 1).contiguous()
    if tensor.dtype == torch.uint8:
        return tensor.float().div(255)
    return tensor.float().clamp_(0.0, 1.0)


class JointTransform:
    """Augmentation, resize and tensor conversion of one RGB-D sample.

    Call with ``rgb`` uint8 (H, W, 3), ``depth`` as read (``utils.images.read_depth_raw``),
    ``gt`` uint8 (H, W) or None, ``invert_depth`` and optionally ``seed``; returns tensors
    rgb (3, S, S), depth (1, S, S), gt (1, S, S) or None.

    ``geometric`` (albumentations ops) run first, then, with ``crop_border``, the crop, then the
    ops of ``after_crop``, then the colour enhancement of the RGB and the pepper noise of the GT.

    Randomness: each albumentations op is reseeded before each group of equally sized targets,
    from one seed per call, so all of them get the same draw; each op gets a seed of its own
    derived from it (:func:`op_rng`), so the ops' draws are independent. That seed is ``seed``
    when given (the dataset derives it from the epoch and the sample index), else drawn from a
    generator reseeded from ``torch.initial_seed()`` whenever that changes (each DataLoader
    worker gets its own; albumentations 2.x keeps its own generator, which forked workers
    would otherwise share and ``torch.manual_seed`` would not reach). The other ops draw from
    streams derived from it (:func:`op_rng`).
    """

    def __init__(self, geometric: list[A.BasicTransform], size: int,
                 preprocess: PreprocessConfig | None = None, normalize: bool = True,
                 binarize_gt: bool = False, gt_nearest: bool = False, spec: InputSpec | None = None,
                 crop_border: int = 0, after_crop: list[A.BasicTransform] | None = None,
                 color_enhance: bool = False, gt_pepper: float = 0.0, crop_margin: float = 0.0):
        self.pipeline = self._compose(geometric)
        self.after_crop = self._compose(list(after_crop or []))
        self._first_after_crop = len(geometric)  # the index of its first op, for op_rng
        self.crop_border = crop_border
        self.crop_margin = crop_margin
        self.color_enhance = color_enhance
        self.gt_pepper = gt_pepper
        self.size = size
        self.preprocess = preprocess or PreprocessConfig()
        self.normalize = normalize
        self.binarize_gt = binarize_gt
        self.gt_nearest = gt_nearest
        self.spec = spec or InputSpec()
        self._torch_seed: int | None = None
        self._rng = np.random.default_rng(0)

    @staticmethod
    def _compose(ops: list[A.BasicTransform]) -> A.Compose | None:
        return A.Compose(ops, additional_targets={"depth": "image"}) if ops else None

    @property
    def random(self) -> bool:
        """Whether a call draws anything (a seed is needed)."""
        return (self.pipeline is not None or self.after_crop is not None or self.crop_border > 0 or self.crop_margin > 0
                or self.color_enhance or self.gt_pepper > 0)

    def _draw_seed(self) -> int:
        torch_seed = torch.initial_seed()
        if torch_seed != self._torch_seed:
            self._rng = np.random.default_rng(torch_seed)
            self._torch_seed = torch_seed
        return int(self._rng.integers(2**32))

    @staticmethod
    def _geometric(pipeline: A.Compose, rgb: np.ndarray, depth: np.ndarray, gt: np.ndarray | None,
                   seed: int, first: int = 0):
        """One draw of an albumentations pipeline for RGB and every target of its size; a
        target of another size gets the same draw in its own grid (same seeds, same ops). Op
        ``i`` of the pipeline is seeded from ``op_rng(seed, "geometric", first + i)``."""
        op_seeds = [int(op_rng(seed, "geometric", first + i).integers(2**32))
                    for i in range(len(pipeline.transforms))]

        def run(**targets):
            pipeline.set_random_seed(seed)  # the Compose's own generators; then each op its own
            for op, op_seed in zip(pipeline.transforms, op_seeds):
                op.set_random_seed(op_seed)
            return pipeline(**targets)

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
        if pre.depth_holes == "far":  # the stored maps are near = dark when inverting them gives the model's
            depth = fill_holes_far(depth, invert_depth != (self.spec.near == "dark"))
        depth = scale_depth(depth, pre.depth_scaling, invert_depth)
        if pre.depth_resize == "rgb_first":
            depth = resize_array(depth, *rgb.shape[:2], pre)
        if self.random:
            seed = self._draw_seed() if seed is None else seed
            rgb, depth, gt = self._augment(rgb, depth, gt, seed)
        size = self.size
        rgb, depth = resize_array(rgb, size, size, pre), resize_array(depth, size, size, pre)
        gt = None if gt is None else resize_array(gt, size, size, pre, nearest=self.gt_nearest)
        if self.crop_margin:
            rgb, depth, gt = self._crop_window(rgb, depth, gt, seed)
        rgb_t, depth_t = _to_unit(rgb), _to_unit(depth)
        gt_t = None
        if gt is not None:
            gt_t = _to_unit(gt)
            if self.binarize_gt:
                gt_t = (gt_t > 0.5).float()
        return (*normalise(rgb_t, depth_t, self.spec, self.normalize), gt_t)


    def _crop_window(self, rgb: np.ndarray, depth: np.ndarray, gt: np.ndarray | None, seed: int):
        """JL-DCF's crop (``cv_random_crop``), on the images already at ``size``: a window of
        ``size - int(crop_margin * size)`` pixels a side at a random top-left (:func:`draw_window`),
        resized back to ``size``; the same window for RGB, depth and GT."""
        size = self.size
        margin = int(self.crop_margin * size)
        top, left = draw_window(op_rng(seed, "window"), margin)

        def crop(image: np.ndarray, nearest: bool = False) -> np.ndarray:
            window = image[top:top + size - margin, left:left + size - margin]
            return resize_array(window, size, size, self.preprocess, nearest=nearest)

        return crop(rgb), crop(depth), None if gt is None else crop(gt, self.gt_nearest)

    def _augment(self, rgb: np.ndarray, depth: np.ndarray, gt: np.ndarray | None, seed: int):
        """Every random op, in BBS-Net's order (flip, crop, rotation, colour, pepper)."""
        if self.pipeline is not None:
            rgb, depth, gt = self._geometric(self.pipeline, rgb, depth, gt, seed)
        if self.crop_border:
            cut_w, cut_h = draw_crop(op_rng(seed, "crop"), self.crop_border)

            def crop(image):  # the same number of pixels off each image, in its own grid
                return centre_crop(image, max(image.shape[1] - cut_w, 1), max(image.shape[0] - cut_h, 1))

            rgb, depth, gt = crop(rgb), crop(depth), None if gt is None else crop(gt)
        if self.after_crop is not None:
            rgb, depth, gt = self._geometric(self.after_crop, rgb, depth, gt, seed, self._first_after_crop)
        if self.color_enhance:
            rgb = enhance_colour(rgb, *draw_colour(op_rng(seed, "colour")))
        if self.gt_pepper > 0 and gt is not None:
            gt = pepper(gt, *draw_pepper(op_rng(seed, "pepper"), gt.shape, self.gt_pepper))
        return rgb, depth, gt


def normalise(rgb: torch.Tensor, depth: torch.Tensor, spec: InputSpec, normalize: bool = True):
    """Unit-range RGB (3, S, S) and depth (1, S, S) as the model's input spec wants them: depth
    repeated to ``spec.depth_channels``; with ``normalize``, torchvision ``Normalize``'s
    ``(x - mean) / std`` with the spec's means and deviations (depth untouched where the spec
    gives none)."""
    if spec.depth_channels == 3:
        depth = depth.repeat(3, 1, 1)
    if not normalize:
        return rgb, depth
    rgb = rgb.sub_(torch.tensor(spec.rgb_mean).view(3, 1, 1)).div_(torch.tensor(spec.rgb_std).view(3, 1, 1))
    if spec.depth_mean is not None:
        depth = depth.sub_(torch.tensor(spec.depth_mean).view(-1, 1, 1)).div_(
            torch.tensor(spec.depth_std).view(-1, 1, 1))
    return rgb, depth


def unnormalise(rgb: torch.Tensor, depth: torch.Tensor, spec: InputSpec):
    """The inverse of :func:`normalise` for a batch (B, C, S, S): RGB and depth in [0, 1] (for figures)."""
    rgb = rgb * torch.tensor(spec.rgb_std).view(1, 3, 1, 1) + torch.tensor(spec.rgb_mean).view(1, 3, 1, 1)
    if spec.depth_mean is not None:
        depth = depth * torch.tensor(spec.depth_std).view(1, -1, 1, 1) + torch.tensor(spec.depth_mean).view(1, -1, 1, 1)
    return rgb.clamp(0, 1), depth[:, :1].clamp(0, 1)


def build_train_transform(cfg: AugmentConfig, preprocess: PreprocessConfig | None = None,
                          spec: InputSpec | None = None) -> JointTransform:
    """Release order: flip, crop, rotate, colour, pepper at the stored size, then resize, then
    normalise (with ``cfg``'s defaults: CDINet's flip and rotation only)."""
    rot = OPENCV_FILTERS[cfg.rotate_interpolation]
    flips: list[A.BasicTransform] = []
    if cfg.flip == "three_way":
        flips.append(A.OneOf([A.NoOp(p=1.0), A.HorizontalFlip(p=1.0), A.VerticalFlip(p=1.0)],
                             p=1.0))
    elif cfg.flip == "horizontal":
        flips.append(A.HorizontalFlip(p=0.5))
    ops: list[A.BasicTransform] = []
    if cfg.rotate_prob > 0:
        rotate = dict(interpolation=rot, mask_interpolation=cv2.INTER_NEAREST if cfg.gt_nearest
                      else rot, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0)
        low, high = cfg.rotate_range
        if cfg.integer_angles:  # OneOf picks uniformly: one fixed-angle Rotate per integer
            ops.append(A.OneOf([A.Rotate(limit=(a, a), p=1.0, **rotate)
                                for a in range(low, high + 1)], p=cfg.rotate_prob))
        else:
            ops.append(A.Rotate(limit=(low, high), p=cfg.rotate_prob, **rotate))
    return JointTransform(flips, cfg.size, preprocess, normalize=cfg.normalize,
                          binarize_gt=cfg.binarize_gt, gt_nearest=cfg.gt_nearest, spec=spec,
                          crop_border=cfg.crop_border, after_crop=ops,
                          color_enhance=cfg.color_enhance, gt_pepper=cfg.gt_pepper, crop_margin=cfg.crop_margin)


def build_test_transform(size: int, preprocess: PreprocessConfig | None = None,
                         spec: InputSpec | None = None) -> JointTransform:
    """Test time as the release: resize to ``size`` x ``size`` and normalise only."""
    return JointTransform([], size, preprocess, spec=spec)
