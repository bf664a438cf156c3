"""F-measure, precision/recall and E-measure: the 256-threshold curves and the adaptive values.

Everything comes from the prediction's value histograms on the GT and on the background, as in
PySODMetrics' ``Fmeasure.cal_pr`` / ``Emeasure.cal_em_with_cumsumhistogram`` (flipped cumulative
sums); the E-measure of a binary map has a closed form over its TP / FP / FN / TN counts
(PySODMetrics ``generate_parts_numel_combinations``; equal to MATLAB ``Enhancedmeasure.m``).
beta^2 = 0.3 (MATLAB ``Fmeasure_calu.m`` writes 1.3 and .3, which are the same doubles).
"""
import numpy as np

from .protocol import EPS, N_THRESHOLDS, adaptive_positive, threshold_ranks

BETA2 = 0.3


def f_measure(tp, n_pred, n_fg):
    """Precision, recall and F (beta^2 = 0.3) from counts; all 0 where TP = 0.

    PySODMetrics ``cal_pr``: no predicted positive counts as precision 0, an empty GT as recall 0.
    """
    precision = tp / np.maximum(n_pred, 1)
    recall = tp / max(n_fg, 1)
    numerator = (1 + BETA2) * precision * recall
    denominator = np.where(numerator == 0, 1, BETA2 * precision + recall)
    return precision, recall, numerator / denominator


def e_measure(tp, n_pred, n_fg: int, size: int):
    """E-measure of binary maps with ``n_pred`` positives, ``tp`` of them on the GT (closed form).

    Four classes (TP, FP, FN, TN) each hold one value of the enhanced alignment matrix
    ``(1 + xi)^2 / 4``; an all-background GT gives ``1 - FM`` and an all-foreground GT ``FM``.
    """
    if n_fg == 0:
        enhanced_sum = size - n_pred
    elif n_fg == size:
        enhanced_sum = n_pred
    else:
        fn = n_fg - tp
        parts = (tp, n_pred - tp, fn, size - n_pred - fn)
        mean_pred = n_pred / size
        mean_gt = n_fg / size
        pred_fg, pred_bg = 1 - mean_pred, 0 - mean_pred
        gt_fg, gt_bg = 1 - mean_gt, 0 - mean_gt
        pairs = ((pred_fg, gt_fg), (pred_fg, gt_bg), (pred_bg, gt_fg), (pred_bg, gt_bg))
        enhanced_sum = 0
        for numel, (a, b) in zip(parts, pairs):
            align = 2 * (a * b) / (a**2 + b**2 + EPS)
            enhanced_sum = enhanced_sum + (align + 1) ** 2 / 4 * numel
    return enhanced_sum / (size - 1 + EPS)


def _counts_at_thresholds(rank: np.ndarray, hist: np.ndarray) -> np.ndarray:
    """Pixels positive at each threshold, from the highest threshold down (descending curve)."""
    per_rank = np.bincount(rank, weights=hist, minlength=N_THRESHOLDS + 1)
    return np.cumsum(per_rank[::-1])[:N_THRESHOLDS]


def threshold_curves(levels, hist_fg, hist_bg, n_fg: int, size: int, protocol: str) -> np.ndarray:
    """(4, 256) array: precision, recall, F and E, thresholds descending (255/255 ... 0).

    ``hist_fg[k]`` / ``hist_bg[k]`` count the GT / background pixels whose value is ``levels[k]``.
    """
    rank_f, rank_e = threshold_ranks(levels, protocol)
    tp = _counts_at_thresholds(rank_f, hist_fg)
    n_pred = tp + _counts_at_thresholds(rank_f, hist_bg)
    precision, recall, fm = f_measure(tp, n_pred, n_fg)
    if rank_e is not rank_f:
        tp = _counts_at_thresholds(rank_e, hist_fg)
        n_pred = tp + _counts_at_thresholds(rank_e, hist_bg)
    em = e_measure(tp, n_pred, n_fg, size)
    return np.stack([precision, recall, fm, em])


def adaptive_scores(levels, hist_fg, hist_bg, mean_pred: float, n_fg: int, size: int, protocol: str):
    """Adaptive F and E at threshold ``min(2 * mean(p), 1)`` (``get_adaptive_threshold``)."""
    threshold = min(2 * mean_pred, 1)
    pos_f, pos_e = adaptive_positive(levels, threshold, protocol)
    tp = hist_fg[pos_f].sum()
    fm = f_measure(tp, tp + hist_bg[pos_f].sum(), n_fg)[2]
    if pos_e is not pos_f:
        tp = hist_fg[pos_e].sum()
    em = e_measure(tp, tp + hist_bg[pos_e].sum(), n_fg, size)
    return float(fm), float(em)
