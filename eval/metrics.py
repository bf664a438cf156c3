"""All metrics of one (prediction, GT) pair.

``GroundTruth`` holds what depends on the GT alone (computed once, shared by every method
evaluated against it); :func:`image_metrics` scores one prediction against it. The conventions
are those of docs/metrics.md for the chosen protocol (see ``protocol.py``).
"""
from typing import NamedTuple

import cv2
import numpy as np

from .curves import adaptive_scores, threshold_curves
from .inputs import binarize_gt, prediction_levels
from .protocol import check_protocol, empty_gt_weighted_f, round_centroid
from .structure import s_measure
from .weighted_f import WeightedFGroundTruth


class ImageMetrics(NamedTuple):
    """One image's scores. ``curves`` is (4, 256): precision, recall, F, E for the thresholds
    from the highest down (PySODMetrics' order, MATLAB's ``1:-1/255:0``)."""

    sm: float
    wfm: float
    mae: float
    adp_fm: float
    adp_em: float
    curves: np.ndarray


class GroundTruth:
    """A binarised GT mask with its S-measure quadrants and weighted-F preparation."""

    def __init__(self, gt, protocol: str = "pysodmetrics"):
        self.protocol = check_protocol(protocol)
        self.mask = np.ascontiguousarray(binarize_gt(gt))
        self.shape = self.mask.shape
        self.size = self.mask.size
        self.n_fg = int(np.count_nonzero(self.mask))
        self.quadrants, self.weights, self.region_index = self._quadrants()
        self.weighted_f = WeightedFGroundTruth(self.mask) if self.n_fg else None

    def _quadrants(self):
        """S-measure split at the 1-based centroid (X, Y): the quadrants LT, RT, LB, RB as slices,
        their weights, and per pixel ``2 * quadrant + is_gt`` (uint8) to histogram them at once."""
        h, w = self.shape
        if self.n_fg in (0, self.size):  # S does not split these
            return [(slice(0, h), slice(0, w))], [1.0], self.mask.view(np.uint8)
        per_col = np.count_nonzero(self.mask, axis=0)
        per_row = np.count_nonzero(self.mask, axis=1)
        x = round_centroid(int(per_col @ np.arange(w)), self.n_fg, self.protocol)
        y = round_centroid(int(per_row @ np.arange(h)), self.n_fg, self.protocol)
        area = h * w
        w_lt = x * y / area
        w_rt = y * (w - x) / area
        w_lb = (h - y) * x / area
        weights = [w_lt, w_rt, w_lb, 1 - w_lt - w_rt - w_lb]
        top, bottom, left, right = slice(0, y), slice(y, h), slice(0, x), slice(x, w)
        region = np.empty(self.shape, np.uint8)
        region[top, left], region[top, right], region[bottom, left], region[bottom, right] = 0, 2, 4, 6
        region += self.mask
        return [(top, left), (top, right), (bottom, left), (bottom, right)], weights, region


def _quadrant_histograms(codes: np.ndarray, n_levels: int, gt: GroundTruth) -> np.ndarray:
    """(quadrants, 2, K) counts of background / GT pixels at each level, per quadrant."""
    index = gt.region_index.astype(np.uint16 if codes.dtype == np.uint8 else np.intp) * n_levels
    index += codes  # < 8 * 256 for 8-bit codes
    n_bins = 2 * len(gt.quadrants) * n_levels
    return np.bincount(index.ravel(), minlength=n_bins).reshape(-1, 2, n_levels)


def image_metrics(levels: np.ndarray, codes: np.ndarray, gt: GroundTruth) -> ImageMetrics:
    """Score a prediction given as ``(levels, codes)`` (see ``inputs.py``) against ``gt``."""
    hists = _quadrant_histograms(codes, len(levels), gt)
    hist_bg, hist_fg = hists.sum(axis=0)
    size, n_fg = gt.size, gt.n_fg
    pred = cv2.LUT(codes, levels) if codes.dtype == np.uint8 else levels[codes]  # per-pixel map
    mae = (np.dot(hist_fg, np.abs(levels - 1)) + np.dot(hist_bg, levels)) / size
    adp_fm, adp_em = adaptive_scores(levels, hist_fg, hist_bg, pred.mean(), n_fg, size, gt.protocol)
    return ImageMetrics(
        sm=s_measure(pred, levels, hists, gt),
        wfm=gt.weighted_f.score(pred) if n_fg else empty_gt_weighted_f(gt.protocol),
        mae=float(mae),
        adp_fm=adp_fm,
        adp_em=adp_em,
        curves=threshold_curves(levels, hist_fg, hist_bg, n_fg, size, gt.protocol),
    )


def pair_metrics(pred, gt, protocol: str = "pysodmetrics") -> ImageMetrics:
    """Metrics of one in-memory pair; the prediction is resized to the GT's size if needed."""
    truth = GroundTruth(gt, protocol)
    levels, codes = prediction_levels(pred, truth.shape, protocol)
    return image_metrics(levels, codes, truth)
