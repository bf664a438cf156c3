"""Dataset-level aggregation, streaming: per-threshold sums and per-image scalars only.

METRICS.md "Dataset level": scalars are means over images; each curve is averaged per threshold
over images first, then max F / mean F are the max / mean of the mean curve (same for E).
PySODMetrics ``get_results`` takes ``np.mean`` of the per-image lists; the sums here run in the
same order (images in the order they were added), so results do not depend on worker counts.
In the ``matlab`` protocol the weighted F of an all-background GT is NaN (``WFb.m``); the dataset
wFm is then the mean over the images where it is defined, and ``wfm_count`` says how many.
"""
from array import array

import numpy as np

from .metrics import ImageMetrics, pair_metrics
from .protocol import N_THRESHOLDS, check_protocol, matlab_thresholds

METRIC_KEYS = ("Sm", "wFm", "MAE", "adpFm", "meanFm", "maxFm", "adpEm", "meanEm", "maxEm")
_SCALARS = ("sm", "wfm", "mae", "adp_fm", "adp_em")


def curve_thresholds(protocol: str) -> np.ndarray:
    """The 256 thresholds of the curves, descending, on the [0, 1] scale."""
    if protocol == "matlab":
        return matlab_thresholds()
    return np.arange(N_THRESHOLDS - 1, -1, -1) / 255


class SODEvaluator:
    """Accumulate S-measure, MAE, weighted F, adaptive / mean / max F and E over images.

    Usage: ``ev = SODEvaluator()`` (or ``protocol="matlab"``), ``ev.update(pred, gt)`` for each
    pair (arrays or torch tensors, one map each), then ``ev.results()`` and ``ev.curves()``.

    ``pred``: uint8 (0-255, the exact reference semantics: /255 then min-max) or float in [0, 1]
    (min-max normalised, no 8-bit rounding except inside the 256-threshold curves); ``gt``: bool,
    uint8 (``> 128``) or float (``* 255 > 128``). See ``eval/inputs.py`` for every conversion.
    """

    def __init__(self, protocol: str = "pysodmetrics"):
        self.protocol = check_protocol(protocol)
        self.reset()

    def reset(self) -> None:
        self._scalars = {key: array("d") for key in _SCALARS}
        self._curve_sum = np.zeros((4, N_THRESHOLDS))
        self.n_images = 0

    def update(self, pred, gt) -> ImageMetrics:
        """Score one pair (the prediction is resized to the GT if needed), add it, return it."""
        metrics = pair_metrics(pred, gt, self.protocol)
        self.add(metrics)
        return metrics

    def add(self, metrics: ImageMetrics) -> None:
        """Add one image's :class:`eval.metrics.ImageMetrics`."""
        for key in _SCALARS:
            self._scalars[key].append(getattr(metrics, key))
        self._curve_sum += metrics.curves
        self.n_images += 1

    @property
    def wfm_count(self) -> int:
        """Images whose weighted F is defined (all of them in the ``pysodmetrics`` protocol)."""
        return int(np.count_nonzero(~np.isnan(np.frombuffer(self._scalars["wfm"]))))

    def _mean(self, key: str) -> float:
        values = np.frombuffer(self._scalars[key])
        if key == "wfm" and self.protocol == "matlab":
            values = values[~np.isnan(values)]
            if values.size == 0:
                return float("nan")
        return float(np.mean(values))

    def curves(self) -> dict:
        """Mean curves over images: ``precision``, ``recall``, ``fm``, ``em`` (256 each) and the
        ``thresholds`` they belong to, all from the highest threshold down."""
        if self.n_images == 0:
            raise ValueError("no images were added")
        precision, recall, fm, em = self._curve_sum / self.n_images
        return dict(precision=precision, recall=recall, fm=fm, em=em,
                    thresholds=curve_thresholds(self.protocol))

    def results(self) -> dict:
        """``Sm, wFm, MAE, adpFm, meanFm, maxFm, adpEm, meanEm, maxEm`` (float), ``n_images`` (int)."""
        curves = self.curves()
        return dict(
            Sm=self._mean("sm"),
            wFm=self._mean("wfm"),
            MAE=self._mean("mae"),
            adpFm=self._mean("adp_fm"),
            meanFm=float(curves["fm"].mean()),
            maxFm=float(curves["fm"].max()),
            adpEm=self._mean("adp_em"),
            meanEm=float(curves["em"].mean()),
            maxEm=float(curves["em"].max()),
            n_images=self.n_images,
        )
