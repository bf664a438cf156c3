"""Percentile bootstrap over images: confidence intervals and paired differences.

The convention, exactly (the tests' reference loops draw the very same indices). For a dataset
of n images, in the order of :attr:`eval.scores.ImageScores.stems`, and B resamples::

    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(B, n))    # row b: the n images of resample b, with replacement

The statistic of resample b is the dataset number recomputed on the images ``idx[b]`` exactly as
on the full set (``eval/scores.py``): for a per-image scalar ``np.mean(v[idx[b]])`` (``matlab``
wFm: ``np.nanmean``, the images where it is defined; NaN if there are none); for mean / max F and
E the mean / max over thresholds of the resampled mean curve ``curves[idx[b]].mean(axis=0)``.
For a method of R runs it is the mean over runs of each run's statistic on the same images (the
CI of the run mean: what the choice of images adds, given these runs; the spread between runs is
their std, reported beside it). The interval is
``np.percentile(stats, [100 * (1 - level) / 2, 100 * (1 + level) / 2])`` (numpy's default linear
method; ``np.nanpercentile`` for ``matlab`` wFm, leaving out resamples without a defined image).
A statistic that is NaN in some resample (an S-measure both references leave undefined) gives a
NaN interval. The same ``seed`` is used for every dataset.

Paired comparison: two methods scored on the same images are resampled with the same ``idx``, and
the difference's distribution is ``stats_A - stats_B`` resample by resample; a method against
itself gives exactly 0 with the interval [0, 0]. Methods scored on different images (with
``--allow-missing``) are compared on the images both have (n is then their count).

Vectorised: ``idx`` becomes the count matrix ``counts[b, i] = #{j: idx[b, j] == i}`` (B, n), and
every resampled mean is one matrix product ``counts @ v / n`` (the loop's sum in another order,
equal to ~1e-16), curves included: ``counts @ curves`` gives all B mean curves at once.
"""
import functools
from dataclasses import dataclass

import numpy as np

from utils.errors import EvalError

from .scores import CURVE_KEYS, LOWER_IS_BETTER, METRIC_KEYS, PER_IMAGE_KEYS, ImageScores, nan_skipping

MIN_IMAGES_FOR_VERDICT = 60
"""The fewest images on which a paired comparison gives a verdict ("better", "within noise") and the
tables bold ties within noise; below it comparisons say "too few images" (the intervals are still
reported) and the tables bold only the best value, which claims nothing about noise.

The rule behind the value: the percentile interval is too narrow on few images, so the threshold
is the smallest size of ``eval.bootstrap_coverage.SIZES`` at which, for every score shape there
(per-image scores of two methods shaped like S-measure, MAE and F-measure: bounded, skewed,
correlated through the image), the coverage of the nominal 95% interval of a paired mean
difference (how often it holds the true difference) is within 2 points of 95%, and stays so, up
to the Monte Carlo error, at every larger size. ``python -m eval.bootstrap_coverage`` (4000
simulated data sets per cell, B = 1000, seed 0) prints that table. The simulation covers means
of per-image scores (Sm, wFm, MAE, adaptive F and E, mean F and E); max F and max E, maxima of a
mean curve, are not means and the threshold is not claimed to be enough for them. Every shipped
test split has at least 80 images (SSD), so the threshold only ever silences subsets and quick
checks.
"""


@dataclass(frozen=True)
class Bootstrap:
    """Settings of the percentile bootstrap over images: ``resamples`` (B), ``level``, ``seed``."""

    resamples: int = 1000
    level: float = 0.95
    seed: int = 0

    def __post_init__(self):
        if int(self.resamples) != self.resamples or self.resamples < 1:
            raise EvalError(f"bootstrap resamples (--ci) must be a positive integer, got {self.resamples!r}")
        if int(self.seed) != self.seed or self.seed < 0:
            raise EvalError(f"bootstrap seed (--seed) must be a non-negative integer, got {self.seed!r}")
        if not 0 < self.level < 1:
            raise EvalError(f"confidence level (--ci-level) must lie strictly between 0 and 1, got {self.level!r}")

    def as_dict(self) -> dict:
        return {"resamples": self.resamples, "level": self.level, "seed": self.seed,
                "method": "percentile bootstrap over images (eval/bootstrap.py)",
                "min_images_for_verdict": MIN_IMAGES_FOR_VERDICT}

    def counts(self, n: int) -> np.ndarray:
        """(B, n) float64: how often each image is drawn in each resample (module docstring);
        read-only, and the last ones are kept, since every method of a dataset uses the same."""
        return _counts(self.resamples, self.seed, n)

    def distributions(self, scores: ImageScores) -> dict[str, np.ndarray]:
        """``{metric: (B, R)}``: each run's statistic in each resample."""
        n = scores.n_images
        counts = self.counts(n)
        stats = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            for key in PER_IMAGE_KEYS:
                values = scores.values[key]  # (R, n)
                undefined = np.isnan(values)
                sums = counts @ np.where(undefined, 0.0, values).T
                if nan_skipping(key, scores.protocol):
                    stats[key] = sums / (counts @ (~undefined).T)
                else:
                    stats[key] = np.where(counts @ undefined.T > 0, np.nan, sums / n)
        rows = sorted({row for row, _ in CURVE_KEYS.values()})
        picked = scores.curves[:, :, rows]  # (R, n, 2, 256): F and E
        mean_curves = (counts @ picked.transpose(1, 0, 2, 3).reshape(n, -1)) / n
        mean_curves = mean_curves.reshape(len(counts), scores.n_runs, len(rows), -1)
        for key, (row, reduce) in CURVE_KEYS.items():
            stats[key] = reduce(mean_curves[:, :, rows.index(row)], axis=-1)
        return {key: stats[key] for key in METRIC_KEYS}

    def interval(self, stats: np.ndarray, key: str, protocol: str) -> tuple[float, float]:
        """The percentile interval of the B statistics ``stats`` of ``key`` (module docstring)."""
        q = [100 * (1 - self.level) / 2, 100 * (1 + self.level) / 2]
        if nan_skipping(key, protocol):
            if np.isnan(stats).all():
                return float("nan"), float("nan")
            low, high = np.nanpercentile(stats, q)
        else:
            low, high = np.percentile(stats, q)
        return float(low), float(high)

    def intervals(self, dists: dict, protocol: str) -> dict[str, tuple[float, float]]:
        """``{metric: (low, high)}`` of the run mean, from :meth:`distributions`."""
        return {key: self.interval(d.mean(axis=1), key, protocol) for key, d in dists.items()}

    def run_intervals(self, dists: dict, protocol: str) -> list[dict]:
        """Each run's own ``{metric: (low, high)}``, from :meth:`distributions`."""
        n_runs = next(iter(dists.values())).shape[1]
        return [{key: self.interval(d[:, r], key, protocol) for key, d in dists.items()} for r in range(n_runs)]

    def confidence_intervals(self, scores: ImageScores) -> dict[str, tuple[float, float]]:
        """``{metric: (low, high)}`` of every dataset number of ``scores`` (of the run mean)."""
        return self.intervals(self.distributions(scores), scores.protocol)

    def difference(self, key: str, point: float, stats: np.ndarray, protocol: str, n_images: int) -> dict:
        """One paired difference on ``n_images`` images: its value, interval (from the per-resample
        differences ``stats``), whether the interval excludes 0, which side is better (``"first"``,
        ``"second"`` or None) and the ``verdict``: ``"first better"``, ``"second better"``,
        ``"within noise"`` (the interval includes 0) or, below :data:`MIN_IMAGES_FOR_VERDICT`
        images, ``"too few images"`` (``better`` None whatever the interval)."""
        low, high = self.interval(stats, key, protocol)
        excludes = bool(low > 0 or high < 0)
        better = None
        if n_images < MIN_IMAGES_FOR_VERDICT:
            verdict = "too few images"
        elif excludes:
            better = "first" if (low > 0) != (key in LOWER_IS_BETTER) else "second"
            verdict = f"{better} better"
        else:
            verdict = "within noise"
        return {"difference": point, "ci": [low, high], "excludes_0": excludes, "better": better, "verdict": verdict}

    def compare(self, a: ImageScores, b: ImageScores) -> dict:
        """Paired bootstrap of ``a - b`` on the images both have: ``{"n_images", "metrics":
        {metric: {difference, ci, excludes_0, better, verdict, values}}}`` (see :meth:`difference`)."""
        if a.protocol != b.protocol:
            raise EvalError(f"cannot compare scores of the {a.protocol} and {b.protocol} protocols")
        common = set(b.stems)
        stems = [stem for stem in a.stems if stem in common]
        if not stems:
            raise EvalError("the two methods have no image in common")
        a, b = a.select(stems), b.select(stems)
        return {"n_images": len(stems),
                "metrics": self.paired(run_means(a), run_means(b), self.distributions(a), self.distributions(b),
                                       a.protocol, len(stems))}

    def paired(self, point_a: dict, point_b: dict, dists_a: dict, dists_b: dict, protocol: str,
               n_images: int) -> dict:
        """``{metric: {difference, ci, excludes_0, better, verdict, values}}`` of two methods
        resampled with the same counts on ``n_images`` images (run means; ``values``: the two
        dataset numbers)."""
        return {key: {**self.difference(key, point_a[key] - point_b[key],
                                        dists_a[key].mean(axis=1) - dists_b[key].mean(axis=1), protocol, n_images),
                      "values": [point_a[key], point_b[key]]}
                for key in METRIC_KEYS}


@functools.lru_cache(maxsize=2)
def _counts(resamples: int, seed: int, n: int) -> np.ndarray:
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    flat = (idx + n * np.arange(resamples)[:, None]).ravel()
    counts = np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype(np.float64)
    counts.flags.writeable = False
    return counts


def run_means(scores: ImageScores) -> dict[str, float]:
    """The dataset numbers averaged over the runs (the numbers themselves for one run)."""
    runs = scores.numbers()
    return {key: float(np.mean([run[key] for run in runs])) for key in METRIC_KEYS}
