"""Saliency evaluation: S-measure, MAE, weighted F, adaptive / mean / max F and E, PR / F / E curves,
with per-image scores, bootstrap confidence intervals, paired comparisons and split checks.

Two protocols (docs/metrics.md, "The two protocols"): ``pysodmetrics`` (default, identical to
PySODMetrics 1.6.2) and ``matlab`` (Fan's MATLAB toolbox). Our own vectorised code; never
imports torch (tensors are accepted by duck typing) and imports matplotlib only to plot.

- :class:`SODEvaluator`: in-memory, ``update(pred, gt)`` then ``results()`` / ``curves()`` /
  ``scores()`` (per image) / ``confidence_intervals()``.
- :class:`Bootstrap`: the percentile bootstrap over images (``confidence_intervals(scores)``,
  ``compare(a, b)``: paired); :func:`compare` for two evaluators.
- :class:`ImageScores` / :func:`load_npz`: per-image scores, also as written to ``per_image/``.
- :func:`check_split`: is a list of GT stems a known test split?
- :func:`evaluate_folders`: the folder evaluation behind ``python -m eval``.
- :func:`format_table`: the console table of a result.
"""
from utils.errors import EvalError

from .aggregate import METRIC_KEYS, SODEvaluator
from .bootstrap import Bootstrap
from .metrics import GroundTruth, ImageMetrics, image_metrics, pair_metrics
from .protocol import PROTOCOLS
from .report import format_table
from .runner import evaluate_folders
from .scores import ImageScores, load_npz
from .split_check import check_split


def compare(a, b, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Paired bootstrap comparison ``a - b`` of two :class:`SODEvaluator` (or
    :class:`ImageScores`) on the images both have, matched by name: ``{"n_images", "metrics":
    {metric: {difference, ci, excludes_0, better, values}}}`` (``eval/bootstrap.py``)."""
    a, b = (x.scores() if isinstance(x, SODEvaluator) else x for x in (a, b))
    return Bootstrap(resamples, level, seed).compare(a, b)


__all__ = [
    "METRIC_KEYS", "PROTOCOLS", "Bootstrap", "EvalError", "GroundTruth", "ImageMetrics", "ImageScores",
    "SODEvaluator", "check_split", "compare", "evaluate_folders", "format_table", "image_metrics",
    "load_npz", "pair_metrics",
]
