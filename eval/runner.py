"""Folder evaluation: pair files, score them in worker processes, write the output folder.

Work is split per GT image (decoded and prepared once, then scored against every method's runs)
and streamed dataset by dataset: the parent keeps the per-image scores of the dataset in progress
(about 8 KB per image and run), and when its last image is in it writes that dataset's per-image
files, draws its bootstrap and keeps only the dataset numbers. Results are added in a fixed order,
so numbers do not depend on ``workers``. The output folder is built in a temporary folder beside
it and renamed into place at the end: a failed run leaves nothing. An existing non-empty folder is
refused unless ``overwrite``, which swaps the new folder in and then deletes the old one.
"""
import csv
import multiprocessing
import os
import sys
import threading
import warnings
from collections import Counter
from pathlib import Path

from utils.cli import first_few
from utils.errors import EvalError
from utils.files import atomic_folder
from utils.images import GT_KINDS, gt_kind, read_gray_map, read_gt_map
from utils.layout import find_dataset_folder, find_role_dirs, list_datasets, role_dir, unique_images

from .aggregate import SODEvaluator, curve_thresholds
from .bootstrap import MIN_IMAGES_FOR_VERDICT, Bootstrap
from .inputs import prediction_levels
from .metrics import GroundTruth, image_metrics
from .protocol import check_protocol
from .report import LAYOUTS, check_layout, jsonable, write_comparison, write_reports
from .scores import CURVE_NAMES, ImageScores, table_metrics
from .split_check import check_split, split_note
from .summary import best_within_noise, comparison, method_entry

_SERIAL_BELOW = 16  # tasks; fewer are not worth starting processes for
BOLD_CHOICES = ("best", "tied")


def default_workers() -> int:
    """One worker process per available CPU core (at most 8)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 8))


def _plan(sources: dict, data_root: Path, datasets: list[str], allow_missing: bool):
    """Tasks ``(gt_path, ((source, dataset), pred_path) ...)``, each task's ``(dataset, stem)``,
    missing counts per (source, dataset), and each dataset's ``(GT folder, GT stems)``."""
    tasks, meta, missing, problems, gt_info, extras = [], [], {}, [], {}, []
    for spec in datasets:
        dataset, gt_root = _dataset_folder(data_root, spec)
        if not gt_root.is_dir():
            raise EvalError(_no_dataset_message(data_root, spec, gt_root))
        if dataset in gt_info:
            raise EvalError(f"--datasets names {dataset!r} twice")
        _check_name(dataset, "dataset name")
        gt_dir = role_dir(gt_root, "gt")
        gts = unique_images(gt_dir)
        if not gts:
            raise EvalError(f"no GT images in {gt_dir}")
        gt_info[dataset] = (gt_root, list(gts))
        available = {source: _method_maps(Path(folder), dataset, allow_missing) for source, folder in sources.items()}
        for source, images in available.items():
            extra = [stem for stem in images if stem not in gts]
            if extra:
                extras.append(f"{source}/{dataset}: {len(extra)} map(s) without a GT image were ignored "
                              f"({', '.join(extra[:3])}{', ...' if len(extra) > 3 else ''})")
            absent = [stem for stem in gts if stem not in images]
            missing[source, dataset] = len(absent)
            if len(absent) == len(gts):
                if not allow_missing:
                    raise EvalError(f"no predictions of {source} for {dataset} in {Path(sources[source]) / dataset} "
                                    f"(--allow-missing leaves its cells empty)")
                problems.append(f"{source}/{dataset}: no maps at all (en dashes in the tables)")
            elif absent:
                shown = ", ".join(absent[:5]) + (", ..." if len(absent) > 5 else "")
                problems.append(f"{source}/{dataset}: {len(absent)} of {len(gts)} ({shown})")
        for stem, gt_path in gts.items():
            pairs = tuple(((s, dataset), str(images[stem])) for s, images in available.items() if stem in images)
            tasks.append((str(gt_path), pairs))
            meta.append((dataset, stem))
    if problems:
        message = "missing predictions for GT stems: " + "; ".join(problems)
        if not allow_missing:
            raise EvalError(message + " (--allow-missing skips them)")
        warnings.warn(message + " (skipped)", stacklevel=3)
    return tasks, meta, missing, gt_info, extras


def _no_dataset_message(data_root: Path, spec: str, folder: Path) -> str:
    """Why ``--datasets`` ``spec`` has no folder: what ``data_root`` holds, or that it is itself a
    dataset folder (one level too deep)."""
    if not data_root.is_dir():
        return f"--data-root {data_root} is not a folder"
    inside = find_role_dirs(data_root)
    if "gt" in inside and not list_datasets(data_root):
        return (f"--data-root {data_root} is itself a dataset folder ({inside['gt'].name}/ inside): pass its parent, "
                f"--data-root {data_root.parent} --datasets {data_root.resolve().name}")
    found = ", ".join(p.name for p in sorted(data_root.iterdir()) if p.is_dir() and not p.name.startswith("."))
    return f"dataset {spec}: no folder {folder.name} under --data-root {data_root}; found: {found or 'nothing'}"


def _check_name(name: str, what: str) -> None:
    """A method label or dataset name names files in the output folder (``per_image/``)."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise EvalError(f"{what} {name!r} cannot name a file (no '/', '\\', '.' or '..')")


def method_sources(preds: dict) -> dict[str, list[Path]]:
    """``{label: [run folder, ...]}`` from ``{label: folder or list of folders}``."""
    methods = {}
    for label, folders in preds.items():
        _check_name(label, "method label")
        folders = [Path(folders)] if isinstance(folders, (str, os.PathLike)) else [Path(f) for f in folders]
        if not folders:
            raise EvalError(f"method {label!r} has no folder")
        if len(set(folders)) != len(folders):
            raise EvalError(f"method {label!r} lists a folder twice")
        methods[label] = folders
    return methods


def _source_labels(methods: dict) -> dict[str, tuple[str, Path]]:
    """``{source: (method, folder)}``: a one-run method is its own source, run k of a method of
    several runs is ``LABEL#k`` (1-based)."""
    return {(label if len(folders) == 1 else f"{label}#{k}"): (label, folder)
            for label, folders in methods.items() for k, folder in enumerate(folders, 1)}


def _method_maps(folder: Path, dataset: str, allow_missing: bool) -> dict[str, Path]:
    """``{stem: path}`` of one method's maps for ``dataset``; a missing folder is an error that
    lists what the method's folder holds (or, with ``allow_missing``, no maps)."""
    path = _dataset_folder(folder, dataset)[1]
    if not path.is_dir():
        if allow_missing:
            return {}
        own = unique_images(folder)
        if own:
            raise EvalError(f"{folder} holds {len(own)} maps itself, not one folder per dataset: pass its parent, "
                            f"--pred {folder.parent} (maps go to <method folder>/<DATASET>/<stem>.png)")
        found = ", ".join(sorted(p.name for p in folder.iterdir() if p.is_dir())) or "nothing"
        raise EvalError(f"no {dataset} folder in {folder}; found: {found} (--allow-missing leaves its cells empty)")
    return unique_images(path)


def _dataset_folder(root: Path, spec: str) -> tuple[str, Path]:
    """(name, folder) of a ``--datasets`` entry: ``NAME=FOLDER``, or a name that may be stored
    under another name of the same benchmark (``DES`` finds ``RGBD135``; ``utils.layout``)."""
    name, sep, folder = spec.partition("=")
    if sep:
        return name, root / folder
    return name, find_dataset_folder(root, name) or root / name


def _score_gt(task, protocol: str):
    """How the GT image is stored (``utils.images.gt_kind``) and every method's scores on it;
    also names the maps that were resized.

    A map whose size is the GT's transposed (H and W swapped) is an error, not a silent stretch.
    """
    gt_path, pairs = task
    stored = read_gt_map(Path(gt_path))
    gt = GroundTruth(stored, protocol)
    scored = []
    for key, pred_path in pairs:
        pred = read_gray_map(Path(pred_path))
        if pred.shape != gt.shape and pred.shape == gt.shape[::-1]:
            raise EvalError(f"{pred_path} ({key[0]}): the map is {pred.shape[1]}x{pred.shape[0]}, its GT "
                            f"{gt.shape[1]}x{gt.shape[0]} (WxH): height and width are swapped")
        levels, codes = prediction_levels(pred, gt.shape, protocol)
        resized = (f"{key[0]}: {pred_path} {pred.shape[1]}x{pred.shape[0]} -> {gt.shape[1]}x{gt.shape[0]}"
                   if pred.shape != gt.shape else None)
        scored.append((key, image_metrics(levels, codes, gt), resized))
    return gt_kind(stored), scored


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


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise EvalError(f"output path exists and is not a folder: {out_dir}")
        if not overwrite and any(out_dir.iterdir()):
            raise EvalError(f"output folder is not empty: {out_dir} (--overwrite replaces it)")


def evaluate_folders(preds: dict, data_root, datasets, out_dir, protocol: str = "pysodmetrics",
                     workers: int | None = None, allow_missing: bool = False, overwrite: bool = False,
                     plots: bool = True, progress: bool | None = None, bootstrap: Bootstrap | None = Bootstrap(),
                     compare=(), reference: str | None = None, bold: str | None = None, metrics=None,
                     layout: str = LAYOUTS[0], curve_limits=None) -> dict:
    """Evaluate method folders against the GT of ``datasets`` and write ``out_dir``.

    ``preds``: ``{label: folder}``, each folder holding ``<DATASET>/<stem>.png``, or ``{label:
    [folder, ...]}`` for a method of several runs (seeds), reported as their mean with the std
    over runs. GT comes from ``data_root/<DATASET>/<GT folder>/`` (``utils/layout.py``). Writes
    metrics.json, metrics.csv, table.md, table.tex, curves.json, ``per_image/<method>/<dataset>
    .{csv,npz}``, (``plots``) ``plots/<DATASET>_{pr,fm}.{png,pdf}`` and, for ``compare`` (pairs
    ``(A, B)``: A - B) or ``reference`` (every other method - it), comparison.md and .json.
    ``bootstrap``: the settings of the confidence intervals (None: none). ``bold``: ``"best"``
    (the best printed value of each dataset and metric) or ``"tied"`` (also every method within
    noise of the best; the default with a bootstrap). ``metrics``: the metrics of the tables, in
    order (default ``eval.scores.TABLE_METRICS``; metrics.json and .csv hold all); ``layout``:
    theirs, one of ``eval.report.LAYOUTS``; ``curve_limits``: the axes of the plots, an
    ``eval.plots.CurveLimits`` (default: zoomed on the top-right corner).
    Returns the metrics.json content: ``{"protocol", "bootstrap", "bold", "table": {"metrics",
    "layout"}, "results": {method: {dataset: {Sm, wFm, MAE, adpFm, meanFm, maxFm, adpEm, meanEm,
    maxEm, n_images, n_missing[, wFm_n_images][, ci][, runs]}}}, "best", "splits", "gt_values":
    {dataset: {kind: count}} (how its GT masks are stored, ``utils.images.GT_KINDS``), "notes"}``
    (NaN written as null). ``progress``: a progress bar (default: when stderr is a terminal).
    Raises :class:`EvalError` / :class:`DatasetError` (``utils.errors``) on missing or unreadable
    inputs and unusable options.
    """
    check_protocol(protocol)
    if not preds:
        raise EvalError("no prediction folders given")
    methods = method_sources(preds)
    pairs = _comparison_pairs(methods, compare, reference, bootstrap)
    bold = _bold_mode(bold, bootstrap)
    table = {"metrics": list(table_metrics(metrics)), "layout": check_layout(layout)}
    data_root, out_dir = Path(data_root), Path(out_dir)
    sources = _source_labels(methods)
    tasks, meta, missing, gt_info, extras = _plan({s: folder for s, (_, folder) in sources.items()}, data_root,
                                                  list(datasets), allow_missing)
    _check_out_dir(out_dir, overwrite)

    with atomic_folder(out_dir) as tmp:
        run = _Run(methods, sources, gt_info, missing, protocol, bootstrap, pairs, tmp)
        run.score(tasks, meta, workers or default_workers(), plots, progress)
        payload = {"protocol": protocol, "bootstrap": bootstrap.as_dict() if bootstrap else None,
                   "bold": bold, "table": table, "results": run.results, "best": run.best, "splits": run.splits,
                   "gt_values": run.gt_values,
                   "notes": _notes(protocol, run.resized, missing, run.splits, bootstrap) + extras
                   + gt_notes(run.gt_values)}
        write_reports(tmp, payload, run.curves)
        if pairs:
            write_comparison(tmp, {"protocol": protocol, "bootstrap": bootstrap.as_dict(),
                                   "comparisons": run.comparisons})
        if plots:
            from .plots import CurveLimits, plot_curves

            plot_curves(run.curves, tmp / "plots", curve_limits or CurveLimits())
    return jsonable(payload)


def _comparison_pairs(methods: dict, compare, reference: str | None, bootstrap) -> list[tuple[str, str]]:
    """The (first, second) pairs to compare, each once, in the order given."""
    pairs = [tuple(pair) for pair in compare]
    if reference is not None:
        pairs += [(method, reference) for method in methods if method != reference]
    for label in {label for pair in pairs for label in pair} | ({reference} - {None}):
        if label not in methods:
            raise EvalError(f"--compare/--reference: {label!r} is not one of the methods: {', '.join(methods)}")
    if pairs and bootstrap is None:
        raise EvalError("--compare/--reference need the bootstrap (--ci > 0)")
    return list(dict.fromkeys(pairs))


def _bold_mode(bold: str | None, bootstrap) -> str:
    if bold is None:
        return "tied" if bootstrap else "best"
    if bold not in BOLD_CHOICES:
        raise EvalError(f"--bold must be one of {', '.join(BOLD_CHOICES)}, got {bold!r}")
    if bold == "tied" and bootstrap is None:
        raise EvalError("--bold tied needs the bootstrap (--ci > 0)")
    return bold


class _Run:
    """The streaming part of one folder evaluation: per-image scores in, dataset results out."""

    def __init__(self, methods, sources, gt_info, missing, protocol, bootstrap, pairs, out: Path):
        self.methods, self.sources, self.gt_info = methods, sources, gt_info
        self.protocol, self.bootstrap, self.pairs, self.out = protocol, bootstrap, pairs, out
        self.evaluators = {key: SODEvaluator(protocol) for key in missing}
        self.results, self.best, self.splits, self.comparisons, self.resized = {}, {}, {}, [], []
        self.gt_values = {dataset: dict.fromkeys(GT_KINDS, 0) for dataset in gt_info}
        self.curves = {"protocol": protocol, "thresholds": curve_thresholds(protocol).tolist(), "curves": {}}

    def score(self, tasks, meta, workers: int, plots: bool, progress: bool | None) -> None:
        """Score every task, finishing each dataset as soon as its last image is in."""
        meanwhile = None
        if plots:
            from .plots import import_matplotlib as meanwhile
        results = _scored(tasks, self.protocol, workers, meanwhile)
        if progress if progress is not None else sys.stderr.isatty():
            from tqdm import tqdm

            results = tqdm(results, total=len(tasks), unit="GT", desc="evaluating")
        remaining = Counter(dataset for dataset, _ in meta)
        for (dataset, stem), (kind, scored) in zip(meta, results):
            self.gt_values[dataset][kind] += 1
            for key, metrics, note in scored:
                self.evaluators[key].add(metrics, stem)
                self.resized += [note] if note else []
            remaining[dataset] -= 1
            if remaining[dataset] == 0:
                self.finish(dataset)

    def method_scores(self, method: str, dataset: str) -> tuple[ImageScores | None, int]:
        """The method's per-image scores on ``dataset`` (its runs on the images they all have)
        and how many GT images it misses; None if it has none."""
        runs = [self.evaluators.pop((s, dataset)) for s, (m, _) in self.sources.items() if m == method]
        n_gt = len(self.gt_info[dataset][1])
        if any(ev.n_images == 0 for ev in runs):
            return None, n_gt
        if len(runs) == 1:
            scores = runs[0].scores()
        else:
            scores = ImageScores.stack([ev.scores() for ev in runs], [str(k) for k in range(1, len(runs) + 1)])
        return (scores if scores.n_images else None), n_gt - scores.n_images

    def finish(self, dataset: str) -> None:
        """Write the dataset's per-image files and keep its numbers, intervals and comparisons."""
        gt_root, gt_stems = self.gt_info[dataset]
        self.splits[dataset] = check_split(gt_stems, dataset, gt_root.name)
        scores, entries, dists = {}, {}, {}
        for method, folders in self.methods.items():
            method_scores, n_missing = self.method_scores(method, dataset)
            if method_scores is None:  # --allow-missing and no maps at all: en dashes in the tables
                continue
            scores[method] = method_scores
            _write_per_image(self.out / "per_image" / method, dataset, method_scores)
            dists[method] = self.bootstrap.distributions(method_scores) if self.bootstrap else None
            entries[method] = method_entry(method_scores, n_missing, self.bootstrap, dists[method], folders)
            self.results.setdefault(method, {})[dataset] = entries[method]
            mean_curves = method_scores.mean_curves().mean(axis=0)
            self.curves["curves"].setdefault(method, {})[dataset] = {
                **{name: curve.tolist() for name, curve in zip(CURVE_NAMES, mean_curves)},
                "n_images": method_scores.n_images, "n_missing": n_missing}
        if self.bootstrap and entries:
            self.best[dataset] = best_within_noise(entries, dists, self.bootstrap, self.protocol)
        for first, second in self.pairs:
            if first in scores and second in scores:
                result = comparison(first, second, scores, entries, dists, self.bootstrap)
                self.comparisons.append({"dataset": dataset, **result})


def _write_per_image(folder: Path, dataset: str, scores: ImageScores) -> None:
    """``folder/<dataset>.csv`` (one row per image, and run) and ``folder/<dataset>.npz``."""
    folder.mkdir(parents=True, exist_ok=True)
    header, rows = scores.csv_rows()
    with open(folder / f"{dataset}.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    scores.write_npz(folder / f"{dataset}.npz")


def gt_notes(gt_values: dict) -> list[str]:
    """One note per dataset with 0/1 masks (read as 0/255) and one per dataset with faint masks
    (no value above 128: empty under the references' rule), from ``{dataset: {kind: count}}``."""
    notes = []
    for dataset, kinds in gt_values.items():
        total = sum(kinds.values())
        if kinds["0/1"]:
            notes.append(f"{dataset}: {kinds['0/1']} of {total} GT masks store 0/1; read as 0/255, as datasets/ "
                         f"and training read them (the references' > 128 would score them as empty)")
        if kinds["faint"]:
            notes.append(f"{dataset}: {kinds['faint']} of {total} GT masks are not empty but have no value above "
                         f"128: scored as all background (the references' > 128 rule)")
    return notes


def _notes(protocol: str, resized: list[str], missing: dict, splits: dict, bootstrap) -> list[str]:
    notes = [
        "pysodmetrics protocol: identical to PySODMetrics 1.6.2" if protocol == "pysodmetrics" else
        "matlab protocol: Fan's MATLAB toolbox conventions (colon-operator thresholds, '>' for E, "
        "MATLAB centroid rounding); wFm is NaN on an all-background GT and the dataset wFm is the "
        "mean over the images where it is defined (wFm_n_images)",
    ]
    if bootstrap:
        notes.append(f"'±' after a value: half the width of its {bootstrap.level:.0%} percentile bootstrap interval "
                     f"over images ({bootstrap.resamples} resamples, seed {bootstrap.seed}); the bounds are "
                     f"in metrics.json (ci)")
    if resized:
        notes.append(f"{len(resized)} predictions were resized to their GT's size (OpenCV bilinear): "
                     f"{first_few(resized, separator='; ')}")
    if any(missing.values()):
        notes.append(f"{sum(missing.values())} missing predictions were skipped (n_missing); a method "
                     f"evaluated on fewer images than another is shown with its count and never marked best")
    notes += [f"{dataset}: the GT folder {check['summary']}" for dataset, check in splits.items()
              if check["status"] == "matches"]
    notes += [note for dataset, check in splits.items() if (note := split_note(dataset, check))]
    if bootstrap:
        notes += [f"{dataset}: {check['n_images']} images, fewer than {MIN_IMAGES_FOR_VERDICT}: too few for a "
                  f"verdict from the bootstrap (no 'better' or 'within noise' in comparisons, no within-noise bold)"
                  for dataset, check in splits.items() if check["n_images"] < MIN_IMAGES_FOR_VERDICT]
    return notes
