"""Writing results: metrics.json / metrics.csv / table.md / table.tex / curves.json, console table.

``results`` is ``{method: {dataset: {Sm, wFm, MAE, adpFm, meanFm, maxFm, adpEm, meanEm, maxEm,
n_images, n_missing, ...}}}``. Tables print 3 decimals and bold the best value of each column
within a dataset (highest, lowest for MAE; ties on the printed value are all bold), among the
methods evaluated on every GT image of it: a method that missed some (``--allow-missing``) is
shown with its image count (``5/6``) and never bolded, and a method with no maps for a dataset
gets an empty cell.
"""
import csv
import json
import math
from pathlib import Path

from .aggregate import METRIC_KEYS

LOWER_IS_BETTER = {"MAE"}
_LATEX_HEADER = {
    "Sm": r"$S_\alpha\uparrow$", "wFm": r"$F^w_\beta\uparrow$", "MAE": r"$M\downarrow$",
    "adpFm": r"$F^{adp}_\beta\uparrow$", "meanFm": r"$F^{mean}_\beta\uparrow$",
    "maxFm": r"$F^{max}_\beta\uparrow$", "adpEm": r"$E^{adp}_\xi\uparrow$",
    "meanEm": r"$E^{mean}_\xi\uparrow$", "maxEm": r"$E^{max}_\xi\uparrow$",
}


def _fmt(value) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def _datasets(results: dict) -> list[str]:
    return list(dict.fromkeys(d for per_dataset in results.values() for d in per_dataset))


def _complete(scores: dict) -> bool:
    return not scores.get("n_missing")


def _count(scores: dict) -> str:
    """``n``, or ``n/total`` for a method that missed some images."""
    n, missed = scores["n_images"], scores.get("n_missing") or 0
    return f"{n}/{n + missed}" if missed else str(n)


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


def _unwrap(results: dict) -> dict:
    return results["results"] if "results" in results else results


def format_table(results: dict) -> str:
    """A plain-text table (one row per method and dataset) of ``results`` or of the whole
    metrics.json content."""
    results = _unwrap(results)
    header = ["Method", "Dataset", *METRIC_KEYS, "n"]
    rows = [
        [method, dataset, *(_fmt(scores[k]) for k in METRIC_KEYS), _count(scores)]
        for method, per_dataset in results.items()
        for dataset, scores in per_dataset.items()
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(results: dict) -> str:
    """One Markdown table per dataset, methods as rows, best per column in bold."""
    arrows = {k: "↓" if k in LOWER_IS_BETTER else "↑" for k in METRIC_KEYS}
    parts = []
    for dataset in _datasets(results):
        best = {k: _best(results, dataset, k) for k in METRIC_KEYS}
        lines = [
            f"### {dataset}",
            "",
            "| Method | " + " | ".join(f"{k} {arrows[k]}" for k in METRIC_KEYS) + " | n |",
            "|---|" + "---:|" * (len(METRIC_KEYS) + 1),
        ]
        for method, per_dataset in results.items():
            if dataset not in per_dataset:
                continue
            scores = per_dataset[dataset]
            cells = [f"**{c}**" if (c := _fmt(scores[k])) == best[k] and _complete(scores) else c
                     for k in METRIC_KEYS]
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {_count(scores)} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _tex(text: str) -> str:
    for char in "\\&%$#_{}":
        text = text.replace(char, "\\" + char if char != "\\" else r"\textbackslash{}")
    return text


def latex_table(results: dict) -> str:
    """A booktabs tabular: methods as rows, one column group per dataset, best in bold."""
    datasets = _datasets(results)
    n = len(METRIC_KEYS)
    lines = [
        r"% requires \usepackage{booktabs}",
        r"\begin{tabular}{l" + ("*{%d}{c}" % n) * len(datasets) + "}",
        r"\toprule",
        " & ".join([""] + [rf"\multicolumn{{{n}}}{{c}}{{{_tex(d)}}}" for d in datasets]) + r" \\",
        " ".join(rf"\cmidrule(lr){{{2 + i * n}-{1 + (i + 1) * n}}}" for i in range(len(datasets))),
        " & ".join(["Method"] + [_LATEX_HEADER[k] for k in METRIC_KEYS] * len(datasets)) + r" \\",
        r"\midrule",
    ]
    for method, per_dataset in results.items():
        cells = [_tex(method)]
        for dataset in datasets:
            scores = per_dataset.get(dataset, {})
            for i, key in enumerate(METRIC_KEYS):
                cell = _fmt(scores.get(key))
                if scores and not _complete(scores) and i == 0:  # the count, once per dataset group
                    cell += rf"\textsuperscript{{({_count(scores)})}}"
                elif scores and _complete(scores) and cell == _best(results, dataset, key):
                    cell = rf"\textbf{{{cell}}}"
                cells.append(cell)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def jsonable(value):
    """NaN becomes null (JSON has no NaN); numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_reports(out_dir: Path, payload: dict, curves: dict) -> None:
    """metrics.json, metrics.csv, table.md, table.tex and curves.json in ``out_dir``.

    ``payload`` is the metrics.json content; ``curves`` is ``{"thresholds": [...],
    "curves": {method: {dataset: {precision, recall, fm, em}}}}`` (lists of 256 floats)."""
    results = payload["results"]
    (out_dir / "metrics.json").write_text(json.dumps(jsonable(payload), indent=2) + "\n")
    (out_dir / "curves.json").write_text(json.dumps(jsonable(curves)) + "\n")
    extra = list(dict.fromkeys(
        k for per_dataset in results.values() for s in per_dataset.values() for k in s
        if k not in METRIC_KEYS
    ))
    with open(out_dir / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "dataset", *METRIC_KEYS, *extra])
        for method, per_dataset in results.items():
            for dataset, scores in per_dataset.items():
                writer.writerow([method, dataset, *(repr(scores[k]) for k in METRIC_KEYS),
                                 *(scores.get(k, "") for k in extra)])
    (out_dir / "table.md").write_text(markdown_table(results))
    (out_dir / "table.tex").write_text(latex_table(results))
