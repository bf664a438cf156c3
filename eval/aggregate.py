"""Dataset-level aggregation: per-image scores kept in memory, dataset numbers from them.

docs/metrics.md "Dataset-level numbers": scalars are means over images; each curve is averaged per threshold
over images first, then max F / mean F are the max / mean of the mean curve (same for E).
PySODMetrics ``get_results`` takes ``np.mean`` of its per-image lists; the means here are taken
the same way, over images in the order they were added, so results do not depend on worker
counts. In the ``matlab`` protocol the weighted F of an all-background GT is NaN (``WFb.m``); the
dataset wFm is then the mean over the images where it is defined, and ``wfm_count`` says how many.
Each image costs about 8 KB (its four 256-point curves in float64).
"""
from array import array

import numpy as np

from .bootstrap import Bootstrap
from .metrics import ImageMetrics, pair_metrics
from .protocol import N_THRESHOLDS, check_protocol, matlab_thresholds
from .scores import METRIC_KEYS, PER_IMAGE_KEYS, ImageScores

__all__ = ["METRIC_KEYS", "SODEvaluator", "curve_thresholds"]
_FIELDS = dict(zip(PER_IMAGE_KEYS, ("sm", "wfm", "mae", "adp_fm", "adp_em")))  # ImageMetrics names


def curve_thresholds(protocol: str) -> np.ndarray:
    """The 256 thresholds of the curves, descending, on the [0, 1] scale."""
    if protocol == "matlab":
        return matlab_thresholds()
    return np.arange(N_THRESHOLDS - 1, -1, -1) / 255


class SODEvaluator:
    """Accumulate S-measure, MAE, weighted F, adaptive / mean / max F and E over images.

    Usage: ``ev = SODEvaluator()`` (or ``protocol="matlab"``), ``ev.update(pred, gt)`` for each
    pair (arrays or torch tensors, one map each; ``name=`` labels the image), then
    ``ev.results()``, ``ev.curves()``, ``ev.scores()`` (per image) and
    ``ev.confidence_intervals()`` (bootstrap over images, ``eval/bootstrap.py``).

    ``pred``: uint8 (0-255, the exact reference semantics: /255 then min-max) or float in [0, 1]
    (min-max normalised, no 8-bit rounding except inside the 256-threshold curves); ``gt``: bool,
    uint8 (``> 128``; a 0/1 mask as 0/255) or float (``* 255 > 128``). See ``eval/inputs.py`` for
    every conversion.
    """

    def __init__(self, protocol: str = "pysodmetrics"):
        self.protocol = check_protocol(protocol)
        self.reset()

    def reset(self) -> None:
        self._scalars = {key: array("d") for key in PER_IMAGE_KEYS}
        self._curves: list[np.ndarray] = []
        self.names: list[str] = []

    @property
    def n_images(self) -> int:
        return len(self.names)

    def update(self, pred, gt, name: str | None = None) -> ImageMetrics:
        """Score one pair (the prediction is resized to the GT if needed), add it, return it."""
        metrics = pair_metrics(pred, gt, self.protocol)
        self.add(metrics, name)
        return metrics

    def add(self, metrics: ImageMetrics, name: str | None = None) -> None:
        """Add one image's :class:`eval.metrics.ImageMetrics` (``name`` defaults to its index)."""
        for key, field in _FIELDS.items():
            self._scalars[key].append(getattr(metrics, field))
        self._curves.append(metrics.curves)
        self.names.append(str(self.n_images) if name is None else name)

    @property
    def wfm_count(self) -> int:
        """Images whose weighted F is defined (all of them in the ``pysodmetrics`` protocol)."""
        return int(np.count_nonzero(~np.isnan(np.frombuffer(self._scalars["wFm"]))))

    def scores(self) -> ImageScores:
        """The per-image scores added so far (one run), in the order they were added."""
        if self.n_images == 0:
            raise ValueError("no images were added")
        values = {key: np.frombuffer(self._scalars[key]).copy()[None] for key in PER_IMAGE_KEYS}
        return ImageScores(tuple(self.names), values, np.stack(self._curves)[None], self.protocol)

    def curves(self) -> dict:
        """Mean curves over images: ``precision``, ``recall``, ``fm``, ``em`` (256 each) and the
        ``thresholds`` they belong to, all from the highest threshold down."""
        precision, recall, fm, em = self.scores().mean_curves()[0]
        return dict(precision=precision, recall=recall, fm=fm, em=em,
                    thresholds=curve_thresholds(self.protocol))

    def results(self) -> dict:
        """``Sm, wFm, MAE, adpFm, meanFm, maxFm, adpEm, meanEm, maxEm`` (float), ``n_images`` (int)."""
        return {**self.scores().numbers()[0], "n_images": self.n_images}

    def confidence_intervals(self, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
        """``{metric: (low, high)}``: the percentile bootstrap interval over images of every
        dataset number (see :class:`eval.bootstrap.Bootstrap` for the exact resampling)."""
        return Bootstrap(resamples, level, seed).confidence_intervals(self.scores())
