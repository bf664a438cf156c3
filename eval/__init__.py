"""Saliency evaluation: S-measure, MAE, weighted F, adaptive / mean / max F and E, PR / F / E curves.

Two protocols (``../shared/reference/METRICS.md``): ``pysodmetrics`` (default, identical to
PySODMetrics 1.6.2) and ``matlab`` (Fan's MATLAB toolbox). Our own vectorised code; never
imports torch (tensors are accepted by duck typing) and imports matplotlib only to plot.

- :class:`SODEvaluator`: in-memory, ``update(pred, gt)`` then ``results()`` / ``curves()``.
- :func:`evaluate_folders`: the folder evaluation behind ``python -m eval``.
- :func:`format_table`: the console table of a result.
"""
from .aggregate import METRIC_KEYS, SODEvaluator
from utils.errors import EvalError
from .metrics import GroundTruth, ImageMetrics, image_metrics, pair_metrics
from .protocol import PROTOCOLS
from .report import format_table
from .runner import evaluate_folders

__all__ = [
    "METRIC_KEYS", "PROTOCOLS", "EvalError", "GroundTruth", "ImageMetrics", "SODEvaluator",
    "evaluate_folders", "format_table", "image_metrics", "pair_metrics",
]
