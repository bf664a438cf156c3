"""Turn a prediction and a GT (arrays, tensors or decoded files) into what the metrics use.

A prediction becomes ``levels`` (float64, its distinct normalised values, or the 256-entry
lookup table of an 8-bit map) and ``codes`` (per pixel, an index into ``levels``): every metric
is computed from histograms over the codes, and the per-pixel map is ``levels[codes]``.

Conventions (docs/metrics.md, "Input preparation"):

- uint8 prediction: ``x / 255`` then min-max normalised per image (PySODMetrics
  ``prepare_data``; MATLAB ``mapminmax(im2double(x), 0, 1)``); a constant map is left as it is.
  bool is read as 0/255.
- float prediction (float16/32/64, values in [0, 1]): converted to float64 and min-max
  normalised the same way, without any 8-bit rounding. Only the 256-threshold curves quantise
  it, as the references do (``uint8(p * 255)`` in PySODMetrics, ``p >= t`` in MATLAB).
- GT: bool as is; uint8 (or other integers) ``> 128`` after the project's one GT rule (a 0/1
  mask is read as 0/255: ``utils.images.apply_gt_rule``); float ``* 255 > 128`` (the 8-bit rule on
  the [0, 1] scale).
- A prediction of another size than its GT is resized to the GT size with OpenCV bilinear
  (``cv2.INTER_LINEAR``; a uint8 map stays uint8, as in PySODEvalToolkit).
- Torch tensors (or anything with ``.detach().cpu().numpy()``) are accepted; leading singleton
  dimensions are dropped, so ``(1, 1, H, W)`` works; anything else must be 2-D.
"""
import cv2
import numpy as np

from utils.images import apply_gt_rule

from .protocol import minmax


def as_array(x) -> np.ndarray:
    """A numpy array from an array, a torch tensor (duck-typed, torch is never imported) or a list."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    while x.ndim > 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"expected a single 2-D map, got shape {x.shape}")
    return x


def binarize_gt(gt) -> np.ndarray:
    """GT as a bool mask: ``> 128`` on the 8-bit scale, a 0/1 mask read as 0/255 first
    (docs/metrics.md, "GT binarisation")."""
    gt = as_array(gt)
    if gt.dtype == bool:
        return gt
    if np.issubdtype(gt.dtype, np.floating):
        return gt * 255 > 128
    if np.issubdtype(gt.dtype, np.integer):
        return apply_gt_rule(gt) > 128
    raise TypeError(f"unsupported GT dtype {gt.dtype}")


def resize_to(pred: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize ``pred`` to ``shape`` (H, W) with OpenCV bilinear; a no-op when it already fits."""
    if pred.shape == tuple(shape):
        return pred
    if pred.dtype == np.float16:
        pred = pred.astype(np.float32)
    return cv2.resize(pred, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)


def uint8_levels(pred: np.ndarray, protocol: str) -> tuple[np.ndarray, np.ndarray]:
    """Lookup table and codes of an 8-bit map: ``levels[x]`` is exactly the reference's value."""
    lo, hi = cv2.minMaxLoc(pred)[:2]
    table = np.arange(256, dtype=np.float64) / 255
    return minmax(table, lo / 255, hi / 255, protocol), pred


def float_levels(pred: np.ndarray, protocol: str) -> tuple[np.ndarray, np.ndarray]:
    """Distinct normalised values and codes of a float map in [0, 1]."""
    p = pred.astype(np.float64)
    lo, hi = p.min(), p.max()
    if not (lo >= 0 and hi <= 1):  # also catches NaN
        raise ValueError(f"a float prediction must lie in [0, 1]; got min {lo}, max {hi}")
    levels, codes = np.unique(minmax(p, lo, hi, protocol).ravel(), return_inverse=True)
    return levels, codes.reshape(p.shape)


def prediction_levels(pred, shape: tuple[int, int], protocol: str) -> tuple[np.ndarray, np.ndarray]:
    """``(levels, codes)`` of a prediction resized to ``shape`` (see the module docstring)."""
    pred = np.ascontiguousarray(as_array(pred))
    if pred.dtype == bool:
        pred = pred.astype(np.uint8) * 255
    pred = resize_to(pred, shape)
    if pred.dtype == np.uint8:
        return uint8_levels(pred, protocol)
    if np.issubdtype(pred.dtype, np.floating):
        return float_levels(pred, protocol)
    raise TypeError(f"unsupported prediction dtype {pred.dtype}: use uint8 (0-255) or float in [0, 1]")
