"""One dataset's results from its methods' per-image scores: the metrics.json entries, the best
method per metric and those within noise of it, and the paired comparisons asked for.

A method of several runs is reported as the mean over runs of each dataset number, with their std
over runs (``ddof=1``) and each run's own numbers; its interval is the bootstrap interval of the
run mean (``eval/bootstrap.py``). "Within noise of the best": among the methods scored on every
GT image of the dataset, those whose paired bootstrap interval of ``method - best`` includes 0
(the best being the highest value, the lowest for MAE); not judged (None) on a dataset of fewer
than :data:`eval.bootstrap.MIN_IMAGES_FOR_VERDICT` images, where the interval is too unreliable.
"""
import math

import numpy as np

from .bootstrap import MIN_IMAGES_FOR_VERDICT, Bootstrap, run_means
from .scores import LOWER_IS_BETTER, METRIC_KEYS, ImageScores


def _ci(intervals: dict) -> dict:
    return {key: list(bounds) for key, bounds in intervals.items()}


def method_entry(scores: ImageScores, n_missing: int, boot: Bootstrap | None, dists: dict | None,
                 folders: list) -> dict:
    """The metrics.json entry of one method on one dataset: its numbers (the run mean), counts,
    ``ci`` (with a bootstrap) and, for several runs, ``runs`` = ``{"n", "std", "per_run"}``."""
    runs = scores.numbers()
    entry = {**run_means(scores), "n_images": scores.n_images, "n_missing": n_missing}
    if scores.protocol == "matlab":
        entry["wFm_n_images"] = scores.defined_count("wFm")
    if boot is not None:
        entry["ci"] = _ci(boot.intervals(dists, scores.protocol))
    if scores.n_runs > 1:
        per_run = [{"folder": str(folder), **numbers} for folder, numbers in zip(folders, runs)]
        if boot is not None:
            for run, intervals in zip(per_run, boot.run_intervals(dists, scores.protocol)):
                run["ci"] = _ci(intervals)
        std = {key: float(np.std([run[key] for run in runs], ddof=1)) for key in METRIC_KEYS}
        entry["runs"] = {"n": scores.n_runs, "std": std, "per_run": per_run}
    return entry


def best_within_noise(entries: dict, dists: dict, boot: Bootstrap, protocol: str) -> dict:
    """``{metric: {"method": best, "within_noise": [...]}}`` among the complete methods of one
    dataset (``entries``: ``{method: entry}``; ``dists``: their bootstrap distributions, all drawn
    on the same images); ``within_noise`` is None below ``MIN_IMAGES_FOR_VERDICT`` images."""
    complete = [m for m, entry in entries.items() if not entry["n_missing"]]
    best = {}
    for key in METRIC_KEYS:
        scored = [m for m in complete if not math.isnan(entries[m][key])]
        if not scored:
            continue
        pick = min if key in LOWER_IS_BETTER else max
        top = pick(scored, key=lambda m: entries[m][key])
        n_images = entries[top]["n_images"]
        tied = None if n_images < MIN_IMAGES_FOR_VERDICT else [
            m for m in scored if m != top and not boot.difference(
                key, entries[m][key] - entries[top][key],
                dists[m][key].mean(axis=1) - dists[top][key].mean(axis=1), protocol, n_images)["excludes_0"]]
        best[key] = {"method": top, "within_noise": tied}
    return best


def comparison(first: str, second: str, scores: dict, entries: dict, dists: dict, boot: Bootstrap) -> dict:
    """The paired comparison ``first - second`` on one dataset: from the distributions already
    drawn when both were scored on the same images, else on the images both have."""
    a, b = scores[first], scores[second]
    if a.stems == b.stems:
        result = {"n_images": a.n_images, "metrics": boot.paired(entries[first], entries[second], dists[first],
                                                                 dists[second], a.protocol, a.n_images)}
    else:
        result = boot.compare(a, b)
    return {"first": first, "second": second, **result}
