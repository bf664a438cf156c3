"""Reading RGB, depth and GT files: the only place in the package that decodes images.

Conventions (see ``../shared/reference/DATASETS.md``):

- RGB: any of jpg/jpeg/png/bmp/tif, converted to 3-channel uint8 RGB (grayscale replicated,
  the alpha channel of RGBA dropped, 16-bit scaled to 8-bit).
- Depth: read unchanged (8- or 16-bit integer, or float TIFF) so 16-bit maps keep full
  precision, then min-max normalised to [0, 1]; optionally inverted (CDINet's convention is
  near = bright, "very important" per its authors; raw DES/SSD have near = dark).
- GT: float32 in [0, 1]; 8-bit masks are divided by 255, 0/1-valued masks are taken as is
  (OpenCV decodes 1-bit PNGs as 0/255, other writers store 0/1).

Files are decoded with ``cv2.imdecode`` on the file's bytes (``cv2.IMREAD_UNCHANGED``, so no
EXIF rotation can misalign RGB with depth); OpenCV's ``None`` for undecodable data, missing
files and zero-byte files all become a :class:`DatasetError` naming the file.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import DatasetError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def read_unchanged(path: str | Path) -> np.ndarray:
    """Decode ``path`` as stored (bit depth and channels kept; colour channels in BGR order)."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise DatasetError(f"{path}: empty file (0 bytes)")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise DatasetError(f"{path}: unreadable image (OpenCV cannot decode it)")
    return image


def _to_gray(image: np.ndarray) -> np.ndarray:
    """Single channel from a 1-, 3- or 4-channel (BGR/BGRA) array; equal channels are kept
    exactly (depth stored as 3 identical channels loses nothing)."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1 or (np.array_equal(image[..., 0], image[..., 1])
                               and np.array_equal(image[..., 0], image[..., 2])):
        return image[..., 0]
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


def read_rgb(path: str | Path) -> np.ndarray:
    """RGB image as uint8 (H, W, 3); grayscale and RGBA inputs converted."""
    image = read_unchanged(path)
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        image = (np.clip(image.astype(np.float32), 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_depth_raw(path: str | Path) -> np.ndarray:
    """Depth as stored, single channel, original dtype (uint8, uint16 or float)."""
    return _to_gray(read_unchanged(path))


def bit_depth(raw: np.ndarray) -> str:
    """Human-readable storage type of a raw depth map: '8-bit', '16-bit' or '32-bit float'."""
    return f"{raw.dtype.itemsize * 8}-bit" + (" float" if raw.dtype.kind == "f" else "")


def normalize_depth(raw: np.ndarray, invert: bool = False) -> np.ndarray:
    """Min-max normalise to float32 [0, 1] (a constant map becomes all 0), then ``1 - d`` if
    ``invert``. Values are computed in float64 before the cast, so 16-bit depth keeps its
    precision; unsigned maps go through a lookup table of those values (same result, faster)."""
    low, high = raw.min(), raw.max()
    if raw.dtype.kind == "u":  # a table indexed by the stored value
        values = np.arange(int(high) + 1, dtype=np.float64)
        table = (values - low) / (high - low) if high > low else np.zeros_like(values)
        table = (1.0 - table if invert else table).astype(np.float32)
        if raw.dtype == np.uint8:
            return cv2.LUT(raw, np.pad(table, (0, 256 - table.size)))
        return table[raw]
    depth = raw.astype(np.float64)
    depth = (depth - low) / (high - low) if high > low else np.zeros_like(depth)
    return (1.0 - depth if invert else depth).astype(np.float32)


def read_depth(path: str | Path, invert: bool = False,
               size: tuple[int, int] | None = None) -> np.ndarray:
    """Depth as float32 (H, W) in [0, 1]; resized bilinearly to ``size`` = (H, W) when given and
    different (DUT-RGBD stores 256x256 depth beside 400x600 RGB)."""
    depth = normalize_depth(read_depth_raw(path), invert)
    if size is not None and depth.shape != tuple(size):
        depth = cv2.resize(depth, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return depth


def read_gt(path: str | Path) -> np.ndarray:
    """Ground truth as float32 (H, W) in [0, 1]."""
    gt = _to_gray(read_unchanged(path))
    scale = 1.0 if gt.max() <= 1 else (65535.0 if gt.dtype == np.uint16 else 255.0)
    return np.clip(gt.astype(np.float32) / scale, 0.0, 1.0)
