"""Folder evaluation: pair files, score them in worker processes, write the output folder.

Work is split per GT image (decoded and prepared once, then scored against every method) and
streamed: the parent keeps only running sums (``SODEvaluator``), so memory does not grow with the
number of images, and it adds results in a fixed order, so numbers do not depend on ``workers``.
The output folder is built in a temporary folder beside it and renamed into place at the end:
a failed run leaves nothing. An existing non-empty folder is refused unless ``overwrite``, which
swaps the new folder in and then deletes the old one.
"""
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from .aggregate import SODEvaluator, curve_thresholds
from .inputs import prediction_levels
from utils.errors import EvalError
from utils.layout import find_dataset_folder

from .io import find_gt_folder, list_images, read_gray
from .metrics import GroundTruth, image_metrics
from .protocol import check_protocol
from .report import jsonable, write_reports

_SERIAL_BELOW = 16  # tasks; fewer are not worth starting processes for


def default_workers() -> int:
    """One worker process per available CPU core (at most 8)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 8))


def _plan(preds: dict, data_root: Path, datasets: list[str], allow_missing: bool):
    """Tasks ``(gt_path, ((method, dataset), pred_path) ...)`` and missing counts per pair."""
    tasks, missing, problems = [], {}, []
    for spec in datasets:
        dataset, gt_root = _dataset_folder(data_root, spec)
        gt_dir = find_gt_folder(gt_root)
        gts = list_images(gt_dir)
        if not gts:
            raise EvalError(f"no GT images in {gt_dir}")
        available = {method: _method_maps(Path(folder), dataset, allow_missing) for method, folder in preds.items()}
        for method, images in available.items():
            absent = [stem for stem in gts if stem not in images]
            missing[method, dataset] = len(absent)
            if len(absent) == len(gts):
                if not allow_missing:
                    raise EvalError(f"no predictions of {method} for {dataset} in {Path(preds[method]) / dataset}")
                problems.append(f"{method}/{dataset}: no maps at all (an empty cell in the tables)")
            elif absent:
                shown = ", ".join(absent[:5]) + (", ..." if len(absent) > 5 else "")
                problems.append(f"{method}/{dataset}: {len(absent)} of {len(gts)} ({shown})")
        for stem, gt_path in gts.items():
            pairs = tuple(((m, dataset), str(images[stem])) for m, images in available.items() if stem in images)
            tasks.append((str(gt_path), pairs))
    if problems:
        message = "missing predictions for GT stems: " + "; ".join(problems)
        if not allow_missing:
            raise EvalError(message + " (--allow-missing skips them)")
        warnings.warn(message + " (skipped)", stacklevel=3)
    return tasks, missing


def _method_maps(folder: Path, dataset: str, allow_missing: bool) -> dict[str, Path]:
    """``{stem: path}`` of one method's maps for ``dataset``; a missing folder is an error that
    lists what the method's folder holds (or, with ``allow_missing``, no maps)."""
    path = _dataset_folder(folder, dataset)[1]
    if not path.is_dir():
        if allow_missing:
            return {}
        found = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_dir())) or "nothing"
        raise EvalError(f"no {dataset} folder in {folder}; found: {found}")
    return list_images(path)


def _dataset_folder(root: Path, spec: str) -> tuple[str, Path]:
    """(name, folder) of a ``--datasets`` entry: ``NAME=FOLDER``, or a name that may be stored
    under another name of the same benchmark (``DES`` finds ``RGBD135``; ``utils.layout``)."""
    name, sep, folder = spec.partition("=")
    if sep:
        return name, root / folder
    return name, find_dataset_folder(root, name) or root / name


def _score_gt(task, protocol: str):
    """Score every method's prediction of one GT image; also names those that were resized.

    A map whose size is the GT's transposed (H and W swapped) is an error, not a silent stretch.
    """
    gt_path, pairs = task
    gt = GroundTruth(read_gray(Path(gt_path)), protocol)
    scored = []
    for key, pred_path in pairs:
        pred = read_gray(Path(pred_path))
        if pred.shape != gt.shape and pred.shape == gt.shape[::-1]:
            raise EvalError(f"{pred_path} ({key[0]}): the map is {pred.shape[1]}x{pred.shape[0]}, its GT "
                            f"{gt.shape[1]}x{gt.shape[0]} (WxH): height and width are swapped")
        levels, codes = prediction_levels(pred, gt.shape, protocol)
        resized = (f"{key[0]}: {pred_path} {pred.shape[1]}x{pred.shape[0]} -> {gt.shape[1]}x{gt.shape[0]}"
                   if pred.shape != gt.shape else None)
        scored.append((key, image_metrics(levels, codes, gt), resized))
    return scored


class _Scorer:  # picklable callable for the pool
    def __init__(self, protocol: str):
        self.protocol = protocol

    def __call__(self, task):
        return _score_gt(task, self.protocol)


def _single_thread_opencv():
    import cv2

    cv2.setNumThreads(1)


def _scored(tasks, protocol: str, workers: int, meanwhile=None):
    """Yield each task's results, in task order. With worker processes, ``meanwhile`` (if any)
    runs in a thread of this (then idle) process once they have started."""
    scorer = _Scorer(protocol)
    if workers <= 1 or len(tasks) < _SERIAL_BELOW:
        yield from map(scorer, tasks)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    chunksize = max(1, min(32, len(tasks) // (4 * workers)))
    # Shrink OpenCV's thread pool before forking: a child that reconfigures a pool inherited
    # from a parent that had used it waits forever (OpenCV 4.14, e.g. test.py --eval).
    import cv2

    parent_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with context.Pool(workers, initializer=_single_thread_opencv) as pool:
            if meanwhile is not None:  # after the fork: no thread may hold the import lock then
                threading.Thread(target=meanwhile, daemon=True).start()
            yield from pool.imap(scorer, tasks, chunksize=chunksize)
    finally:
        cv2.setNumThreads(parent_threads)


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise EvalError(f"output path exists and is not a folder: {out_dir}")
        if not overwrite and any(out_dir.iterdir()):
            raise EvalError(f"output folder is not empty: {out_dir} (--overwrite replaces it)")


def _publish(tmp: Path, out_dir: Path) -> None:
    """Move the finished ``tmp`` folder to ``out_dir`` (replacing it if it exists)."""
    if out_dir.exists() and any(out_dir.iterdir()):
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.replace(out_dir, old / out_dir.name)
        os.replace(tmp, out_dir)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out_dir)  # an empty folder is replaced by the rename


def evaluate_folders(preds: dict, data_root, datasets, out_dir, protocol: str = "pysodmetrics",
                     workers: int | None = None, allow_missing: bool = False, overwrite: bool = False,
                     plots: bool = True, progress: bool | None = None) -> dict:
    """Evaluate method folders against the GT of ``datasets`` and write ``out_dir``.

    ``preds``: ``{label: folder}``, each folder holding ``<DATASET>/<stem>.png``. GT comes from
    ``data_root/<DATASET>/<GT folder>/`` (``eval/io.py``). Writes metrics.json, metrics.csv,
    table.md, table.tex, curves.json and (``plots``) ``plots/<DATASET>_{pr,fm}.{png,pdf}``.
    Returns the metrics.json content: ``{"protocol", "results": {method: {dataset: {Sm, wFm,
    MAE, adpFm, meanFm, maxFm, adpEm, meanEm, maxEm, n_images, n_missing[, wFm_n_images]}}},
    "notes": [...]}`` (NaN written as null). ``progress``: a progress bar (default: when stderr
    is a terminal). Raises :class:`EvalError` / :class:`DatasetError` (``utils.errors``) on missing or unreadable inputs.
    """
    check_protocol(protocol)
    if not preds:
        raise EvalError("no prediction folders given")
    data_root, out_dir = Path(data_root), Path(out_dir)
    tasks, missing = _plan(preds, data_root, list(datasets), allow_missing)
    _check_out_dir(out_dir, overwrite)

    evaluators = {key: SODEvaluator(protocol) for key in missing}
    resized: list[str] = []
    meanwhile = None
    if plots:
        from .plots import import_matplotlib as meanwhile
    results = _scored(tasks, protocol, workers or default_workers(), meanwhile)
    if progress if progress is not None else sys.stderr.isatty():
        from tqdm import tqdm

        results = tqdm(results, total=len(tasks), unit="GT", desc="evaluating")
    for scored in results:
        for key, metrics, note in scored:
            evaluators[key].add(metrics)
            resized += [note] if note else []

    payload = {"protocol": protocol, "results": {}, "notes": _notes(protocol, resized, missing)}
    curves = {"protocol": protocol, "thresholds": curve_thresholds(protocol).tolist(), "curves": {}}
    for (method, dataset), ev in evaluators.items():
        if ev.n_images == 0:  # --allow-missing and no maps at all: an empty cell
            continue
        entry = {**ev.results(), "n_missing": missing[method, dataset]}
        if protocol == "matlab":
            entry["wFm_n_images"] = ev.wfm_count
        payload["results"].setdefault(method, {})[dataset] = entry
        c = ev.curves()
        curves["curves"].setdefault(method, {})[dataset] = {
            **{k: c[k].tolist() for k in ("precision", "recall", "fm", "em")},
            "n_images": ev.n_images, "n_missing": missing[method, dataset]}

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private (0700); the result is an ordinary folder
    try:
        write_reports(tmp, payload, curves)
        if plots:
            from .plots import plot_curves

            plot_curves(curves, tmp / "plots")
        _publish(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return jsonable(payload)


def _notes(protocol: str, resized: list[str], missing: dict) -> list[str]:
    notes = [
        "pysodmetrics protocol: identical to PySODMetrics 1.6.2" if protocol == "pysodmetrics" else
        "matlab protocol: Fan's MATLAB toolbox conventions (colon-operator thresholds, '>' for E, "
        "MATLAB centroid rounding); wFm is NaN on an all-background GT and the dataset wFm is the "
        "mean over the images where it is defined (wFm_n_images)",
    ]
    if resized:
        shown = "; ".join(resized[:5]) + (f"; and {len(resized) - 5} more" if len(resized) > 5 else "")
        notes.append(f"{len(resized)} predictions were resized to their GT's size (OpenCV bilinear): {shown}")
    if any(missing.values()):
        notes.append(f"{sum(missing.values())} missing predictions were skipped (n_missing); a method "
                     f"evaluated on fewer images than another is shown with its count and never marked best")
    return notes
