"""Decoding image files: the one place in the project that does it (torch-free).

Two conventions, each that of the reference it must match:

- Network inputs (datasets/, test.py) are decoded with Pillow, as the CDINet release does
  (its ``setting/dataLoader.py``; docs/pixel-path.md, "Decoding"), so the default pipeline sees the
  release's pixels:

- RGB: ``Image.open(f).convert('RGB')``: uint8 (H, W, 3); grayscale, palette and RGBA inputs
  converted by Pillow (alpha dropped).
- Depth: 8-bit files (and colour files, which the release reads with ``convert('L')``) as uint8
  (H, W), the release's values; 16-bit integer and float files as stored (uint16 / int32 /
  float32), because ``convert('L')`` would clip them. How depth becomes [0, 1] is
  :func:`scale_depth`'s job.
- GT: ``convert('L')``: uint8 (H, W); 16-bit masks are reduced to 8 bits.

  Pillow does not apply EXIF orientation on its own, so RGB, depth and GT keep their stored
  pixel grids.
- Saliency maps and GT for evaluation (eval/) are decoded by OpenCV as 8-bit gray
  (``cv2.IMREAD_GRAYSCALE``, as PySODEvalToolkit reads them): colour becomes luma, 16-bit keeps
  its high byte, alpha is dropped (:func:`read_gray_map`).

One GT rule everywhere (datasets, training, ``datasets.check``, eval, figures): a mask whose values
are only 0 and 1 is read as 0/255 (:func:`apply_gt_rule`); any other mask is kept as stored, and
eval binarises it at ``> 128`` as the references do. :func:`gt_kind` names how a mask is stored,
for the reports.

Missing, empty, truncated and undecodable files all become a :class:`DatasetError` naming the
file.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ConfigError, DatasetError

# Pillow modes that hold more than 8 bits per pixel (kept as stored for depth).
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def open_image(path: str | Path) -> Image.Image:
    """Decode ``path`` with Pillow (pixels loaded now); one-line DatasetError on failure."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise DatasetError(f"{path}: empty file (0 bytes)")
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except UnidentifiedImageError:
        raise DatasetError(f"{path}: unreadable image (not a format Pillow can decode)") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt data
        raise DatasetError(f"{path}: unreadable image ({exc})") from None
    return image


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) of an image file, from its header only."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, ValueError, SyntaxError):
        raise DatasetError(f"{path}: unreadable image (not a format Pillow can decode)") from None
    return height, width


def read_rgb(path: str | Path) -> np.ndarray:
    """RGB as uint8 (H, W, 3): ``Image.open(path).convert('RGB')``, as the release."""
    return rgb_array(open_image(path))


def rgb_array(image: Image.Image) -> np.ndarray:
    """A decoded Pillow image as the release's RGB: ``np.array(image.convert('RGB'))``."""
    return np.array(image.convert("RGB"))


def read_depth_raw(path: str | Path) -> np.ndarray:
    """Depth as read: uint8 for 8-bit and colour files (``convert('L')``, as the release),
    the stored integers or floats for 16-bit and float files."""
    return depth_array(open_image(path))


def depth_array(image: Image.Image) -> np.ndarray:
    """A decoded Pillow image as depth (see :func:`read_depth_raw`)."""
    if image.mode not in _WIDE_MODES:
        return np.array(image.convert("L"))
    raw = np.array(image)
    if raw.ndim == 3:  # a wide multi-channel file (rare): its first channel
        raw = raw[..., 0]
    if raw.dtype.kind in "iu" and raw.dtype != np.uint16 and raw.min() >= 0 and raw.max() < 2**16:
        raw = raw.astype(np.uint16)  # Pillow's mode "I" for 16-bit PNG
    return raw


def bit_depth(raw: np.ndarray) -> str:
    """Human-readable storage type of a raw depth map: '8-bit', '16-bit' or '32-bit float'."""
    return f"{raw.dtype.itemsize * 8}-bit" + (" float" if raw.dtype.kind == "f" else "")


def minmax_depth(raw: np.ndarray) -> np.ndarray:
    """Min-max normalise to float32 [0, 1] (a constant map becomes all 0), computed in float64
    so that 16-bit depth keeps its precision."""
    depth = raw.astype(np.float64)
    low, high = depth.min(), depth.max()
    depth = (depth - low) / (high - low) if high > low else np.zeros_like(depth)
    return depth.astype(np.float32)


def depth_holes(raw: np.ndarray) -> np.ndarray:
    """Where a depth map holds no measurement (bool, its shape): 0 (the Kinect convention, and
    that of most depth cameras) or, in a float map, NaN and infinity."""
    holes = raw == 0
    if raw.dtype.kind == "f":
        holes |= ~np.isfinite(raw)
    return holes


def fill_holes_far(raw: np.ndarray, invert: bool) -> np.ndarray:
    """``raw`` with every hole (:func:`depth_holes`) set to the map's farthest valid value: the
    largest where the map stores near = dark (``invert``: millimetres, say), else the smallest;
    after :func:`scale_depth` the holes are then as far as the farthest measured point instead of
    wherever 0 lands. A map without holes, or without any valid pixel, is returned as it is."""
    holes = depth_holes(raw)
    if not holes.any() or holes.all():
        return raw
    valid = raw[~holes]
    filled = raw.copy()
    filled[holes] = valid.max() if invert else valid.min()
    return filled


def scale_depth(raw: np.ndarray, scaling: str, invert: bool = False) -> np.ndarray:
    """Depth ready for the transforms.

    ``scaling="release"``: an 8-bit map stays uint8 and is divided by 255 after resizing (the
    release: no min-max); 16-bit and float maps, which the release cannot read (Pillow's
    ``convert('L')`` clips them), are min-max normalised to float32 [0, 1] (our choice).
    ``scaling="minmax"``: every map min-max normalised to float32 [0, 1].
    ``invert``: near = dark becomes near = bright (``255 - d`` or ``1 - d``).
    """
    if scaling == "release" and raw.dtype == np.uint8:
        return 255 - raw if invert else raw
    if scaling not in ("release", "minmax"):
        raise ConfigError(f"depth scaling must be release or minmax, got {scaling!r}")
    depth = minmax_depth(raw)
    return 1.0 - depth if invert else depth


GT_KINDS = ("0/255", "0/1", "other values", "faint")
"""How a decoded 8-bit GT mask stores its values (:func:`gt_kind`)."""


def zero_one_mask(gt: np.ndarray) -> bool:
    """True for an integer mask whose values are only 0 and 1, with some 1."""
    return gt.dtype.kind in "ui" and gt.size > 0 and gt.max() == 1 and gt.min() >= 0


def apply_gt_rule(gt: np.ndarray) -> np.ndarray:
    """The project's one GT rule: a 0/1 mask becomes uint8 0/255 (the references' ``> 128`` would
    see no object in it); any other mask is returned unchanged."""
    return np.where(gt > 0, np.uint8(255), np.uint8(0)) if zero_one_mask(gt) else gt


def gt_kind(gt: np.ndarray) -> str:
    """One of :data:`GT_KINDS` for a decoded 8-bit mask, before :func:`apply_gt_rule`: ``"0/1"``
    (read as 0/255), ``"faint"`` (not empty, yet no value above 128: empty under the ``> 128``
    rule), ``"other values"`` (values between 0 and 255 too, binarised at ``> 128``) or
    ``"0/255"`` (binary, or empty)."""
    top = int(gt.max()) if gt.size else 0
    if top == 1:
        return "0/1"
    if 1 < top <= 128:
        return "faint"
    if np.count_nonzero((gt > 0) & (gt < 255)):
        return "other values"
    return "0/255"


def decode_gt(path: str | Path) -> np.ndarray:
    """Ground truth as stored, uint8 (H, W), before the GT rule: ``convert('L')`` as the release;
    a 16-bit mask scaled to 8 bits (a 0/1 one kept as 0/1), a float mask on [0, 1] to 0-255."""
    image = open_image(path)
    if image.mode not in _WIDE_MODES:
        return np.array(image.convert("L"))
    wide = np.asarray(image)
    if zero_one_mask(wide):
        return wide.astype(np.uint8)
    wide = wide.astype(np.float64)
    if wide.max() > 255:  # 16-bit
        wide = wide / 257
    elif wide.max() <= 1:  # float in [0, 1]
        wide = wide * 255
    return np.clip(np.round(wide), 0, 255).astype(np.uint8)


def read_gt(path: str | Path) -> np.ndarray:
    """Ground truth for the datasets, uint8 (H, W): :func:`decode_gt`, then :func:`apply_gt_rule`."""
    return apply_gt_rule(decode_gt(path))


def read_gray_map(path: str | Path) -> np.ndarray:
    """A saliency map or GT as uint8 (H, W), decoded as PySODEvalToolkit does
    (``cv2.imread(path, cv2.IMREAD_GRAYSCALE)``)."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetError(f"{path}: unreadable image (not found or not a format OpenCV decodes)")
    return image


def read_gt_map(path: str | Path) -> np.ndarray:
    """A GT for evaluation, uint8 (H, W), before the GT rule: :func:`read_gray_map`, except that a
    16-bit mask of 0/1 values (whose high byte, all OpenCV keeps, is 0) keeps its 0/1 values."""
    gt = read_gray_map(path)
    if not gt.any():
        stored = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH)
        if stored is not None and stored.ndim == 2 and zero_one_mask(stored):
            return stored.astype(np.uint8)
    return gt


def encode_png(image: np.ndarray) -> bytes:
    """A uint8 (H, W) or (H, W, 3) array as PNG bytes (OpenCV; what test.py writes)."""
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise DatasetError(f"cannot encode an image of shape {image.shape} and type {image.dtype} as PNG")
    return encoded.tobytes()
