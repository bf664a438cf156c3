"""Writing results: metrics.json / metrics.csv / table.md / table.tex / curves.json, console table,
comparison.md / comparison.json.

``results`` is ``{method: {dataset: {Sm, wFm, MAE, adpFm, meanFm, maxFm, adpEm, meanEm, maxEm,
n_images, n_missing, [ci], [runs], ...}}}``. Tables print 3 decimals; with a bootstrap each value
is followed by ``±h``, h the half width of its interval (``0.918 ±.006``; the bounds themselves
are in metrics.json, since a percentile interval need not be symmetric). The best value of each
column within a dataset is bold (highest, lowest for MAE; ties on the printed value are all
bold), among the methods evaluated on every GT image of it; with ``bold == "tied"`` so is every
such method within noise of the best (its paired interval of the difference includes 0,
``eval/summary.py``), except on a dataset of fewer than
:data:`eval.bootstrap.MIN_IMAGES_FOR_VERDICT` images, where only the best value is. A method that
missed some images (``--allow-missing``) is shown with its image count (``5/6``) and never bolded,
and a method with no maps for a dataset gets an empty cell.
A method of several runs shows the mean over runs (``A (3 runs)``); table.md lists its runs below.
"""
import csv
import json
import math
from pathlib import Path

from .bootstrap import MIN_IMAGES_FOR_VERDICT
from .scores import LOWER_IS_BETTER, METRIC_KEYS

_LATEX_HEADER = {
    "Sm": r"$S_\alpha\uparrow$", "wFm": r"$F^w_\beta\uparrow$", "MAE": r"$M\downarrow$",
    "adpFm": r"$F^{adp}_\beta\uparrow$", "meanFm": r"$F^{mean}_\beta\uparrow$",
    "maxFm": r"$F^{max}_\beta\uparrow$", "adpEm": r"$E^{adp}_\xi\uparrow$",
    "meanEm": r"$E^{mean}_\xi\uparrow$", "maxEm": r"$E^{max}_\xi\uparrow$",
}
_ARROWS = {k: "↓" if k in LOWER_IS_BETTER else "↑" for k in METRIC_KEYS}


def _fmt(value) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def _half_width(scores: dict, key: str) -> str:
    """``.006`` for an interval of width 0.012; empty without (or with an undefined) interval."""
    low, high = (scores.get("ci") or {}).get(key, (None, None))
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return ""
    return f"{(high - low) / 2:.3f}".lstrip("0")


def _datasets(results: dict) -> list[str]:
    return list(dict.fromkeys(d for per_dataset in results.values() for d in per_dataset))


def _complete(scores: dict) -> bool:
    return not scores.get("n_missing")


def _count(scores: dict) -> str:
    """``n``, or ``n/total`` for a method that missed some images."""
    n, missed = scores["n_images"], scores.get("n_missing") or 0
    return f"{n}/{n + missed}" if missed else str(n)


def _label(method: str, scores: dict) -> str:
    runs = scores.get("runs")
    return f"{method} ({runs['n']} runs)" if runs else method


def _best(results: dict, dataset: str, key: str) -> str | None:
    """The best printed value of ``key`` on ``dataset`` among the methods evaluated on all of
    its images (see the module docstring)."""
    printed = [
        (float(_fmt(v)), _fmt(v))
        for per_dataset in results.values()
        if _complete(per_dataset.get(dataset, {}))
        and (v := per_dataset.get(dataset, {}).get(key)) is not None and not math.isnan(v)
    ]
    if not printed:
        return None
    return (min if key in LOWER_IS_BETTER else max)(printed)[1]


class _Bolding:
    """Which cells of a table are bold (module docstring)."""

    def __init__(self, payload: dict):
        self.results = payload["results"]
        self.tied = payload.get("bold") == "tied"
        self.best = payload.get("best") or {}
        self.printed = {(d, k): _best(self.results, d, k) for d in _datasets(self.results) for k in METRIC_KEYS}

    def __call__(self, method: str, dataset: str, key: str) -> bool:
        scores = self.results[method].get(dataset)
        if not scores or not _complete(scores):
            return False
        if _fmt(scores[key]) == self.printed[dataset, key]:
            return True
        tied = self.best.get(dataset, {}).get(key, {}).get("within_noise") or ()  # None: too few images
        return self.tied and method in tied


def _unwrap(results: dict) -> dict:
    return results["results"] if "results" in results else results


def format_table(results: dict) -> str:
    """A plain-text table (one row per method and dataset) of ``results`` or of the whole
    metrics.json content; ``±h`` after a value when it has an interval."""
    results = _unwrap(results)
    header = ["Method", "Dataset", *METRIC_KEYS, "n"]
    rows = [
        [_label(method, scores), dataset,
         *(_fmt(scores[k]) + (f"±{h}" if (h := _half_width(scores, k)) else "") for k in METRIC_KEYS),
         _count(scores)]
        for method, per_dataset in results.items()
        for dataset, scores in per_dataset.items()
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_cell(value: str, half: str, bold: bool) -> str:
    value = f"**{value}**" if bold else value
    return f"{value} ±{half}" if half else value


def _md_runs(method: str, scores: dict) -> list[str]:
    """The table of one method's runs: each run, their mean (with its interval) and std."""
    lines = ["", f"Runs of {method}:", "",
             "| Run | " + " | ".join(f"{k} {_ARROWS[k]}" for k in METRIC_KEYS) + " |",
             "|---|" + "---:|" * len(METRIC_KEYS)]
    for i, run in enumerate(scores["runs"]["per_run"], 1):
        cells = [_md_cell(_fmt(run[k]), _half_width(run, k), False) for k in METRIC_KEYS]
        lines.append(f"| {i}: `{run['folder']}` | " + " | ".join(cells) + " |")
    lines.append("| mean | " + " | ".join(_md_cell(_fmt(scores[k]), _half_width(scores, k), False)
                                        for k in METRIC_KEYS) + " |")
    lines.append("| std over runs | " + " | ".join(_fmt(scores["runs"]["std"][k]) for k in METRIC_KEYS) + " |")
    return lines


def _legend(payload: dict) -> str:
    boot = payload.get("bootstrap")
    if not boot:
        return "Bold: the best value of each column, among the methods scored on every image."
    level = f"{boot['level']:.0%}"
    text = (f"±: half the width of the {level} percentile bootstrap interval over images ({boot['resamples']} "
            f"resamples, seed {boot['seed']}); the bounds are in metrics.json. Bold: the best value of each column")
    if payload.get("bold") == "tied":
        text += (f", and every value within noise of it (the paired {level} interval of its difference from the "
                 f"best includes 0; not judged on fewer than {MIN_IMAGES_FOR_VERDICT} images)")
    return text + ", among the methods scored on every image."


def markdown_table(payload: dict) -> str:
    """One Markdown table per dataset, methods as rows, bold as the module docstring says; the
    dataset's split check above it and the runs of several-run methods below it."""
    results, bold = payload["results"], _Bolding(payload)
    parts = []
    for dataset in _datasets(results):
        lines = [f"### {dataset}", ""]
        if dataset in (payload.get("splits") or {}):
            lines += [f"The GT folder {payload['splits'][dataset]['summary']}.", ""]
        lines += ["| Method | " + " | ".join(f"{k} {_ARROWS[k]}" for k in METRIC_KEYS) + " | n |",
                  "|---|" + "---:|" * (len(METRIC_KEYS) + 1)]
        runs = []
        for method, per_dataset in results.items():
            if dataset not in per_dataset:
                continue
            scores = per_dataset[dataset]
            cells = [_md_cell(_fmt(scores[k]), _half_width(scores, k), bold(method, dataset, k)) for k in METRIC_KEYS]
            lines.append(f"| {_label(method, scores)} | " + " | ".join(cells) + f" | {_count(scores)} |")
            runs += _md_runs(method, scores) if scores.get("runs") else []
        parts.append("\n".join(lines + runs))
    return "\n\n".join(parts) + "\n\n" + _legend(payload) + "\n"


def _tex(text: str) -> str:
    for char in "\\&%$#_{}":
        text = text.replace(char, "\\" + char if char != "\\" else r"\textbackslash{}")
    return text


def latex_table(payload: dict) -> str:
    """A booktabs tabular: methods as rows, one column group per dataset, bold as in table.md,
    ``{\\scriptsize$\\pm$.006}`` after a value with an interval."""
    results, bold = payload["results"], _Bolding(payload)
    datasets = _datasets(results)
    n = len(METRIC_KEYS)
    lines = [
        r"% requires \usepackage{booktabs}",
        "% " + _legend(payload).replace("±", "+/-"),
        r"\begin{tabular}{l" + ("*{%d}{c}" % n) * len(datasets) + "}",
        r"\toprule",
        " & ".join([""] + [rf"\multicolumn{{{n}}}{{c}}{{{_tex(d)}}}" for d in datasets]) + r" \\",
        " ".join(rf"\cmidrule(lr){{{2 + i * n}-{1 + (i + 1) * n}}}" for i in range(len(datasets))),
        " & ".join(["Method"] + [_LATEX_HEADER[k] for k in METRIC_KEYS] * len(datasets)) + r" \\",
        r"\midrule",
    ]
    for method, per_dataset in results.items():
        label = next((_label(method, s) for s in per_dataset.values()), method)
        cells = [_tex(label)]
        for dataset in datasets:
            scores = per_dataset.get(dataset, {})
            for i, key in enumerate(METRIC_KEYS):
                cell = _fmt(scores.get(key))
                if scores and bold(method, dataset, key):
                    cell = rf"\textbf{{{cell}}}"
                if scores and (half := _half_width(scores, key)):
                    cell += rf"{{\scriptsize$\pm${half}}}"
                if scores and not _complete(scores) and i == 0:  # the count, once per dataset group
                    cell += rf"\textsuperscript{{({_count(scores)})}}"
                cells.append(cell)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def jsonable(value):
    """NaN becomes null (JSON has no NaN); tuples become lists."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _csv_rows(results: dict) -> tuple[list[str], list[list]]:
    """metrics.csv: one row per method and dataset; interval bounds and std over runs as columns
    ``<metric>_ci_low``, ``<metric>_ci_high``, ``<metric>_std`` where any entry has them."""
    entries = [s for per_dataset in results.values() for s in per_dataset.values()]
    counts = [k for k in ("n_images", "n_missing", "wFm_n_images") if any(k in s for s in entries)]
    with_ci, with_runs = any("ci" in s for s in entries), any("runs" in s for s in entries)
    header = ["method", "dataset", *METRIC_KEYS, *counts]
    header += [f"{k}_ci_{side}" for k in METRIC_KEYS for side in ("low", "high")] if with_ci else []
    header += ["runs", *(f"{k}_std" for k in METRIC_KEYS)] if with_runs else []
    rows = []
    for method, per_dataset in results.items():
        for dataset, s in per_dataset.items():
            row = [method, dataset, *(repr(s[k]) for k in METRIC_KEYS), *(s.get(k, "") for k in counts)]
            if with_ci:
                row += [repr(bound) for k in METRIC_KEYS for bound in s["ci"][k]]
            if with_runs:
                runs = s.get("runs") or {"n": 1, "std": {}}
                row += [runs["n"], *(repr(runs["std"][k]) if k in runs["std"] else "" for k in METRIC_KEYS)]
            rows.append(row)
    return header, rows


def write_reports(out_dir: Path, payload: dict, curves: dict) -> None:
    """metrics.json, metrics.csv, table.md, table.tex and curves.json in ``out_dir``.

    ``payload`` is the metrics.json content; ``curves`` is ``{"thresholds": [...],
    "curves": {method: {dataset: {precision, recall, fm, em}}}}`` (lists of 256 floats)."""
    (out_dir / "metrics.json").write_text(json.dumps(jsonable(payload), indent=2) + "\n")
    (out_dir / "curves.json").write_text(json.dumps(jsonable(curves)) + "\n")
    header, rows = _csv_rows(payload["results"])
    with open(out_dir / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    (out_dir / "table.md").write_text(markdown_table(payload))
    (out_dir / "table.tex").write_text(latex_table(payload))


def _signed(value) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:+.4f}"


def comparison_markdown(content: dict) -> str:
    """comparison.md: one table per compared pair, a row per dataset and metric."""
    boot = content["bootstrap"]
    level = f"{boot['level']:.0%}"
    lines = ["# Paired comparisons", "",
             f"Difference first - second of each dataset number, with its {level} paired percentile bootstrap "
             f"interval ({boot['resamples']} resamples of the images, the same resamples for both methods, seed "
             f"{boot['seed']}). \"within noise\": the interval includes 0. Each interval holds for one comparison; "
             f"none is corrected for the number of metrics, datasets and pairs looked at. On fewer than "
             f"{MIN_IMAGES_FOR_VERDICT} images the interval is too unreliable for a verdict (eval/bootstrap.py, "
             f"MIN_IMAGES_FOR_VERDICT): \"too few images for a verdict\".", ""]
    pairs = list(dict.fromkeys((c["first"], c["second"]) for c in content["comparisons"]))
    for first, second in pairs:
        lines += [f"## {first} - {second}", "",
                  f"| Dataset | Metric | {first} | {second} | difference | {level} interval | verdict | n |",
                  "|---|---|---:|---:|---:|---|---|---:|"]
        for c in content["comparisons"]:
            if (c["first"], c["second"]) != (first, second):
                continue
            for key, m in c["metrics"].items():
                verdict = {"first better": f"**{first} better**", "second better": f"**{second} better**",
                           "too few images": "too few images for a verdict"}.get(m["verdict"], m["verdict"])
                lines.append(f"| {c['dataset']} | {key} {_ARROWS[key]} | {_fmt(m['values'][0])} | {_fmt(m['values'][1])}"
                             f" | {_signed(m['difference'])} | [{_signed(m['ci'][0])}, {_signed(m['ci'][1])}]"
                             f" | {verdict} | {c['n_images']} |")
        lines.append("")
    return "\n".join(lines)


def write_comparison(out_dir: Path, content: dict) -> None:
    """comparison.json (``{"protocol", "bootstrap", "comparisons": [{"dataset", "first", "second",
    "n_images", "metrics": {metric: {difference, ci, excludes_0, better, verdict, values}}}]}``,
    ``verdict`` as :meth:`eval.bootstrap.Bootstrap.difference` gives it) and comparison.md in ``out_dir``."""
    (out_dir / "comparison.json").write_text(json.dumps(jsonable(content), indent=2) + "\n")
    (out_dir / "comparison.md").write_text(comparison_markdown(content))
