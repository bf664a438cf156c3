"""The conventions that change the numbers, for the two evaluation protocols.

See docs/metrics.md, "Where the two protocols differ". ``pysodmetrics`` reproduces PySODMetrics 1.6.2
(``py_sod_metrics/utils.py`` and ``sod_metrics.py``); ``matlab`` reproduces Fan's MATLAB toolbox
(DengPingFan/CODToolbox ``Onekey_Evaluation_Code`` @ d3a5cec: ``main.m``, ``StructureMeasure.m``,
``Fmeasure_calu.m``, ``Enhancedmeasure.m``, ``WFb.m``). Everything that differs between them is in
this module; the metric modules ask it.
"""
import numpy as np

from utils.errors import EvalError

PROTOCOLS = ("pysodmetrics", "matlab")
EPS = np.spacing(1)  # numpy np.spacing(1) == MATLAB eps
N_THRESHOLDS = 256


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise EvalError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    return protocol


def minmax(values: np.ndarray, lo: float, hi: float, protocol: str) -> np.ndarray:
    """Min-max normalise ``values`` (already in [0, 1]) given the map's min ``lo`` and max ``hi``.

    PySODMetrics ``prepare_data``: ``(x - min) / (max - min)``. MATLAB ``mapminmax(x, 0, 1)``:
    ``(x - xmin) .* gain + ymin`` with ``gain = 1 ./ (xmax - xmin)`` (a multiplication by the
    reciprocal, which differs in the last bit). A constant map is left as it is in both.
    """
    if hi == lo:
        return values
    if protocol == "matlab":
        return (values - lo) * (1.0 / (hi - lo))
    return (values - lo) / (hi - lo)


def round_centroid(index_sum: int, count: int, protocol: str) -> int:
    """1-based S-measure centroid from the exact sum of 0-based indices of ``count`` GT pixels.

    PySODMetrics: ``round(mean) + 1`` with numpy's round half to even. MATLAB ``centroid``:
    ``round(mean + 1)``, half away from zero. Exact integer arithmetic: a float quotient can only
    be ``k + 0.5`` when the rational is, so this equals rounding the float mean.
    """
    twice_floor, rem = divmod(2 * index_sum, count)  # 2 * mean = twice_floor + rem / count
    k, odd = divmod(twice_floor, 2)
    if odd and rem == 0:  # mean == k + 0.5 exactly
        if protocol == "matlab" or k % 2 == 1:
            k += 1
    elif odd:  # mean > k + 0.5
        k += 1
    return k + 1


def matlab_thresholds() -> np.ndarray:
    """``1:-1/255:0`` built as MATLAB's colon operator does (MathWorks ``colonop.m``).

    The first half is ``1 + k*d`` and the second ``0 - k*d`` (k = 0..127, d = -1/255), so 36 of
    the 256 values are not exactly ``t/255``. Descending, 256 values.
    """
    d = -1.0 / 255
    k = np.arange(N_THRESHOLDS // 2, dtype=np.float64)
    thresholds = np.empty(N_THRESHOLDS)
    thresholds[:128] = 1.0 + k * d
    thresholds[255 - np.arange(128)] = 0.0 - k * d
    return thresholds


_MATLAB_ASCENDING = matlab_thresholds()[::-1].copy()


def threshold_ranks(levels: np.ndarray, protocol: str) -> tuple[np.ndarray, np.ndarray]:
    """How many of the 256 curve thresholds each value passes, for F (and PR) and for E.

    A value with rank r is positive at the r lowest thresholds, so the positives at the i-th
    threshold of the descending curve are the values with rank >= 256 - i.
    PySODMetrics: ``q = uint8(p * 255)`` (truncation), positive when ``q >= t`` (t = 255..0), for
    F and E alike. MATLAB: thresholds from :func:`matlab_thresholds`, ``p >= t`` for F
    (``Fmeasure_calu.m``) and ``p > t`` for E (``main.m``).
    """
    if protocol == "matlab":
        rank_f = np.searchsorted(_MATLAB_ASCENDING, levels, side="right")
        rank_e = np.searchsorted(_MATLAB_ASCENDING, levels, side="left")
        return rank_f, rank_e
    rank = (levels * 255).astype(np.uint8).astype(np.intp) + 1
    return rank, rank


def adaptive_positive(levels: np.ndarray, threshold: float, protocol: str) -> tuple[np.ndarray, np.ndarray]:
    """Which values are positive at the adaptive threshold, for F and for E.

    Both: ``p >= thr`` for F. E: ``>=`` in PySODMetrics, ``>`` in MATLAB's ``main.m``.
    """
    pos_f = levels >= threshold
    pos_e = levels > threshold if protocol == "matlab" else pos_f
    return pos_f, pos_e


def empty_gt_weighted_f(protocol: str) -> float:
    """Weighted F on an all-background GT: 0 in PySODMetrics, NaN in MATLAB's ``WFb.m``."""
    return float("nan") if protocol == "matlab" else 0.0
