"""S-measure (Fan et al., ICCV 2017), alpha = 0.5, from value histograms.

PySODMetrics ``Smeasure`` / MATLAB ``StructureMeasure.m``: ``y = mean(G)``; ``y == 0``:
``1 - mean(p)``; ``y == 1``: ``mean(p)``; else ``max(0, 0.5 So + 0.5 Sr)``. Each sum over pixels
is taken over a histogram of the pixels' values instead: the same terms, in another order.
Means that decide a branch are taken on the per-pixel map exactly as PySODMetrics takes them
(``np.mean`` of the map or of a quadrant slice): a constant quadrant on an all-background part
scores 1 when its mean is exactly its value and 0 otherwise, which rests on numpy's summation.
The only protocol difference, the centroid rounding, is settled in :class:`eval.metrics.GroundTruth`.
"""
import numpy as np

from .protocol import EPS

ALPHA = 0.5


def _object_score(values: np.ndarray, counts: np.ndarray) -> float:
    """``2 mean / (mean^2 + 1 + std + eps)``, std with ddof = 1 (0 for a single pixel)."""
    n = counts.sum()
    mean = np.dot(counts, values) / n
    std = np.sqrt(np.dot(counts, (values - mean) ** 2) / (n - 1)) if n > 1 else 0
    return 2 * mean / (mean**2 + 1 + std + EPS)


def _ssim(levels: np.ndarray, hist_bg: np.ndarray, hist_fg: np.ndarray, x: float) -> float:
    """SSIM of one quadrant whose prediction mean is ``x`` (``ssim``). An empty quadrant gives NaN,
    as the mean of nothing does in both references (its weight is 0, and 0 * NaN is NaN)."""
    n_fg = hist_fg.sum()
    n = n_fg + hist_bg.sum()
    if n == 0:
        return float("nan")
    counts = hist_bg + hist_fg
    y = n_fg / n
    dev = levels - x
    sigma_x = np.dot(counts, dev**2) / (n - 1 + EPS)
    sigma_y = (n_fg * (1 - y) ** 2 + (n - n_fg) * (0 - y) ** 2) / (n - 1 + EPS)
    sigma_xy = (np.dot(hist_fg, dev) * (1 - y) + np.dot(hist_bg, dev) * (0 - y)) / (n - 1 + EPS)
    alpha = 4 * x * y * sigma_xy
    beta = (x**2 + y**2) * (sigma_x + sigma_y)
    if alpha != 0:
        return alpha / (beta + EPS)
    return 1.0 if beta == 0 else 0.0


def s_measure(pred: np.ndarray, levels: np.ndarray, quadrant_hists: np.ndarray, gt) -> float:
    """S-measure of the per-pixel map ``pred`` (``levels[codes]``) against ``gt``
    (:class:`eval.metrics.GroundTruth`). ``quadrant_hists`` (Q, 2, K) holds, per quadrant of
    ``gt.quadrants``, the background and GT counts of each of the K ``levels``."""
    n_fg, size = gt.n_fg, gt.size
    if n_fg == 0 or n_fg == size:
        mean = pred.mean()
        return float(1 - mean if n_fg == 0 else mean)
    hist_bg, hist_fg = quadrant_hists.sum(axis=0)
    y = n_fg / size
    fg_score = _object_score(levels, hist_fg) * y
    bg_score = _object_score(1 - levels, hist_bg) * (1 - y)
    region = 0.0
    for (q_bg, q_fg), (rows, cols), w in zip(quadrant_hists, gt.quadrants, gt.weights):
        block = pred[rows, cols]
        region = region + _ssim(levels, q_bg, q_fg, block.mean() if block.size else np.nan) * w
    return float(np.maximum(0, (fg_score + bg_score) * ALPHA + region * (1 - ALPHA)))
