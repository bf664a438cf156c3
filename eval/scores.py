"""Per-image scores of one method on one dataset, and the dataset numbers they give.

:class:`ImageScores` holds, for R >= 1 runs of a method (several training seeds evaluated as one
method, ``LABEL=DIR1,DIR2``) scored on the same n images:

- ``values[key]`` for ``key`` in :data:`PER_IMAGE_KEYS` (S-measure, weighted F, MAE, adaptive F
  and E): (R, n) float64;
- ``curves``: (R, n, 4, 256) float64, each image's precision, recall, F and E curves, thresholds
  from the highest down (``eval.metrics.ImageMetrics.curves``).

Dataset numbers (docs/metrics.md, "Dataset-level numbers"), per run: scalars are
``np.mean`` over images (in the ``matlab`` protocol wFm over the images where it is defined,
``WFb.m`` giving NaN on an all-background GT); mean / max F and E are the mean / max over
thresholds of the mean curve ``curves.mean(axis=images)``, not the mean of per-image maxima.
``write_npz`` / ``load_npz`` keep them as ``per_image/<method>/<dataset>.npz``; ``csv_rows`` gives the
rows of its sortable ``.csv`` twin.
"""
from dataclasses import dataclass

import numpy as np

from utils.errors import EvalError

METRIC_KEYS = ("Sm", "wFm", "MAE", "adpFm", "meanFm", "maxFm", "adpEm", "meanEm", "maxEm")
# The default metrics of the tables (``--metrics``), in this order: S-measure, max F, max E and MAE,
# the four that RGB-D SOD papers print. metrics.json and metrics.csv always hold all of METRIC_KEYS.
TABLE_METRICS = ("Sm", "maxFm", "maxEm", "MAE")
LOWER_IS_BETTER = {"MAE"}
PER_IMAGE_KEYS = ("Sm", "wFm", "MAE", "adpFm", "adpEm")
# dataset number -> (row of ``curves``, reduction over thresholds)
CURVE_KEYS = {"meanFm": (2, np.mean), "maxFm": (2, np.max), "meanEm": (3, np.mean), "maxEm": (3, np.max)}
CURVE_NAMES = ("precision", "recall", "fm", "em")


def table_metrics(keys=None) -> tuple[str, ...]:
    """The metrics a table shows, in the order given: ``keys`` (``--metrics``) checked against
    :data:`METRIC_KEYS`, or :data:`TABLE_METRICS` when None."""
    if keys is None:
        return TABLE_METRICS
    keys, valid = tuple(keys), ", ".join(METRIC_KEYS)
    unknown = [key for key in keys if key not in METRIC_KEYS]
    if unknown or not keys:
        named = f"unknown metric {', '.join(map(repr, unknown))}" if unknown else "no metric"
        raise EvalError(f"--metrics: {named}; valid: {valid}")
    twice = [key for i, key in enumerate(keys) if key in keys[:i]]
    if twice:
        raise EvalError(f"--metrics names {twice[0]!r} twice; valid: {valid}")
    return keys


def nan_skipping(key: str, protocol: str) -> bool:
    """Whether the dataset number ``key`` averages only the images where it is defined."""
    return key == "wFm" and protocol == "matlab"


def image_mean(values: np.ndarray, key: str, protocol: str) -> float:
    """The dataset number of a per-image scalar: ``np.mean`` (see the module docstring)."""
    if nan_skipping(key, protocol):
        values = values[~np.isnan(values)]
        if values.size == 0:
            return float("nan")
    return float(np.mean(values))


@dataclass(frozen=True)
class ImageScores:
    """Per-image scores of one method (R runs) on one dataset; see the module docstring."""

    stems: tuple
    values: dict
    curves: np.ndarray
    protocol: str
    runs: tuple = ("",)

    def __post_init__(self):
        shape = (len(self.runs), len(self.stems))
        if len(set(self.stems)) != len(self.stems):
            raise ValueError("image names must be unique")
        if self.curves.shape != (*shape, 4, 256) or any(self.values[k].shape != shape for k in PER_IMAGE_KEYS):
            raise ValueError(f"per-image arrays do not all have {len(self.runs)} runs x {len(self.stems)} images")

    @property
    def n_images(self) -> int:
        return len(self.stems)

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    def select(self, stems) -> "ImageScores":
        """The same scores restricted to ``stems`` (in that order)."""
        position = {stem: i for i, stem in enumerate(self.stems)}
        index = np.array([position[stem] for stem in stems], dtype=np.intp)
        return ImageScores(tuple(stems), {k: v[:, index] for k, v in self.values.items()},
                           self.curves[:, index], self.protocol, self.runs)

    @classmethod
    def stack(cls, runs: list["ImageScores"], labels) -> "ImageScores":
        """Several runs as one method, on the images every run has (in the first run's order)."""
        common = set.intersection(*(set(run.stems) for run in runs))
        stems = tuple(stem for stem in runs[0].stems if stem in common)
        runs = [run.select(stems) for run in runs]
        return cls(stems, {k: np.concatenate([r.values[k] for r in runs]) for k in PER_IMAGE_KEYS},
                   np.concatenate([r.curves for r in runs]), runs[0].protocol, tuple(labels))

    def mean_curves(self) -> np.ndarray:
        """(R, 4, 256): each run's precision, recall, F and E curves averaged over images."""
        return self.curves.mean(axis=1)

    def numbers(self) -> list[dict]:
        """Each run's dataset numbers ``{Sm, wFm, MAE, adpFm, meanFm, maxFm, adpEm, meanEm, maxEm}``."""
        if self.n_images == 0:
            raise ValueError("no images were added")
        runs = []
        for r, curves in enumerate(self.mean_curves()):
            numbers = {k: image_mean(self.values[k][r], k, self.protocol) for k in PER_IMAGE_KEYS}
            numbers.update({k: float(reduce(curves[row])) for k, (row, reduce) in CURVE_KEYS.items()})
            runs.append({k: numbers[k] for k in METRIC_KEYS})
        return runs

    def defined_count(self, key: str) -> int:
        """Images where the per-image ``key`` is defined (not NaN) in the first run."""
        return int(np.count_nonzero(~np.isnan(self.values[key][0])))

    def csv_rows(self) -> tuple[list[str], list[list]]:
        """Header and rows of the per-image CSV: stem, (run,) the per-image scalars, and the mean /
        max of the image's own F and E curves (the dataset meanFm / meanEm are their means over
        images; the dataset maxFm / maxEm are not: they are maxima of the mean curve)."""
        multi = self.n_runs > 1
        header = ["stem", *(["run"] if multi else []), *PER_IMAGE_KEYS, *CURVE_KEYS]
        rows = []
        for r, run in enumerate(self.runs):
            own = {k: reduce(self.curves[r, :, row], axis=-1) for k, (row, reduce) in CURVE_KEYS.items()}
            for i, stem in enumerate(self.stems):
                rows.append([stem, *([run] if multi else []),
                             *(repr(float(self.values[k][r, i])) for k in PER_IMAGE_KEYS),
                             *(repr(float(own[k][i])) for k in CURVE_KEYS)])
        return header, rows

    def write_npz(self, path) -> None:
        """Compressed arrays: ``stems`` (n,), ``runs`` (R,), ``protocol``, the per-image scalars
        (R, n) float64 and ``curves`` (R, n, 4, 256) as float32 (7 significant digits; the numbers
        in metrics.json come from the float64 originals)."""
        np.savez_compressed(path, stems=np.array(self.stems, dtype=str), runs=np.array(self.runs, dtype=str),
                            protocol=np.array(self.protocol), curves=self.curves.astype(np.float32),
                            **self.values)


def load_npz(path) -> ImageScores:
    """The :class:`ImageScores` that ``per_image/<method>/<dataset>.npz`` holds (curves as float64
    again, from their float32 copy)."""
    try:
        with np.load(path) as data:
            return ImageScores(tuple(data["stems"].tolist()), {k: data[k] for k in PER_IMAGE_KEYS},
                               data["curves"].astype(np.float64), str(data["protocol"]),
                               tuple(data["runs"].tolist()))
    except (OSError, ValueError, KeyError) as error:
        raise EvalError(f"{path}: not a per-image file of python -m eval ({error})") from None
