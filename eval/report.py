"""Writing results: metrics.json / metrics.csv / table.md / table.tex / curves.json, console table,
comparison.md / comparison.json.

``results`` is ``{method: {dataset: {Sm, wFm, MAE, adpFm, meanFm, maxFm, adpEm, meanEm, maxEm,
n_images, n_missing, [ci], [runs], ...}}}``; metrics.json and metrics.csv hold every metric, the
tables those of ``payload["table"]["metrics"]`` (``--metrics``, default
:data:`eval.scores.TABLE_METRICS`), laid out as ``payload["table"]["layout"]`` (:data:`LAYOUTS`).

Tables print 3 decimals; with a bootstrap each value is followed by ``±h``, h the half width of its
interval (``0.918 ±.006``; the bounds themselves are in metrics.json, since a percentile interval
need not be symmetric). The best value of each dataset and metric is bold (highest, lowest for MAE;
ties on the printed value are all bold), among the methods evaluated on every GT image of it; with
``bold == "tied"`` so is every such method within noise of the best (its paired interval of the
difference includes 0, ``eval/summary.py``), except on a dataset of fewer than
:data:`eval.bootstrap.MIN_IMAGES_FOR_VERDICT` images, where only the best value is. A method that
missed some images (``--allow-missing``) is shown with its image count (``5/6``, once per dataset)
and never bolded, and a method with no maps for a dataset keeps its row or column with an en dash in
each cell (``–``; ``--`` in LaTeX), as does an undefined value. A method of
several runs shows the mean over runs (``A (3 runs)``); table.md lists its runs below the table.
Each dataset has a footnote: its number of GT images and the split check (``eval/split_check.py``).
"""
import csv
import json
import math
from pathlib import Path

from utils.errors import EvalError

from .bootstrap import MIN_IMAGES_FOR_VERDICT
from .scores import LOWER_IS_BETTER, METRIC_KEYS, table_metrics
from .split_check import NOT_COMPARABLE, off_split

LAYOUTS = ("methods-as-columns", "datasets-as-columns")
"""The layouts of table.md and table.tex (``--layout``); the first is the default.

``methods-as-columns``: one column per method, one row per dataset and metric, as RGB-D SOD papers
print their comparison tables; its width grows with the methods only (7 test sets x 4 metrics are
28 rows, not 28 columns), so it fits a page and pastes as it is. ``datasets-as-columns``: one row
per method, one group of metric columns per dataset (table.tex) or one table per dataset (table.md):
for a few datasets and many methods."""

_LATEX_HEADER = {
    "Sm": r"$S_\alpha\uparrow$", "wFm": r"$F^w_\beta\uparrow$", "MAE": r"$M\downarrow$",
    "adpFm": r"$F_\beta^{\mathrm{adp}}\uparrow$", "meanFm": r"$F_\beta^{\mathrm{mean}}\uparrow$",
    "maxFm": r"$F_\beta^{\mathrm{max}}\uparrow$", "adpEm": r"$E_\xi^{\mathrm{adp}}\uparrow$",
    "meanEm": r"$E_\xi^{\mathrm{mean}}\uparrow$", "maxEm": r"$E_\xi^{\mathrm{max}}\uparrow$",
}
MISSING, TEX_MISSING = "–", "--"  # an en dash: no maps for the dataset, or an undefined value
_ARROWS = {k: "↓" if k in LOWER_IS_BETTER else "↑" for k in METRIC_KEYS}
_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def check_layout(layout: str) -> str:
    """``layout`` if it is one of :data:`LAYOUTS`."""
    if layout not in LAYOUTS:
        raise EvalError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    return layout


def _settings(payload: dict) -> tuple[tuple[str, ...], str]:
    """The metrics and the layout of the tables: ``payload["table"]``, else the defaults."""
    table = payload.get("table") or {}
    return table_metrics(table.get("metrics")), check_layout(table.get("layout", LAYOUTS[0]))


def _fmt(value) -> str:
    return MISSING if value is None or math.isnan(value) else f"{value:.3f}"


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


def _column_label(method: str, per_dataset: dict) -> str:
    """A method's label for a whole table (its runs are the same on every dataset)."""
    return next((_label(method, scores) for scores in per_dataset.values()), method)


def _gt_images(results: dict, dataset: str) -> int:
    """The number of GT images of ``dataset`` (scored plus missed, for any method that has it)."""
    return max(s["n_images"] + (s.get("n_missing") or 0) for per in results.values() if (s := per.get(dataset)))


def _marker(index: int) -> str:
    """The footnote marker of the index-th dataset: a, b, ..., z, aa, ab, ..."""
    letters, index = "", index + 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters


def dataset_note(payload: dict, dataset: str) -> str:
    """A dataset's footnote: its number of GT images, the split check's verdict and, with
    ``bold == "tied"`` on fewer than ``MIN_IMAGES_FOR_VERDICT`` images, that no tie is bolded."""
    n = _gt_images(payload["results"], dataset)
    text = f"{dataset}: n = {n} GT images."
    check = (payload.get("splits") or {}).get(dataset)
    if check:
        text += f" The GT folder {check['summary']}" + (f": {NOT_COMPARABLE}." if off_split(check) else ".")
    if payload.get("bold") == "tied" and n < MIN_IMAGES_FOR_VERDICT:
        text += f" Fewer than {MIN_IMAGES_FOR_VERDICT} images: only the best value is bold, no tie within noise."
    return text


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
    metrics.json content (then of its table metrics); ``±h`` after a value when it has an interval."""
    keys = table_metrics((results.get("table") or {}).get("metrics")) if "results" in results else table_metrics()
    results = _unwrap(results)
    header = ["Method", "Dataset", *keys, "n"]
    rows = [
        [_label(method, scores), dataset,
         *(_fmt(scores[k]) + (f"±{h}" if (h := _half_width(scores, k)) else "") for k in keys),
         _count(scores)]
        for method, per_dataset in results.items()
        for dataset, scores in per_dataset.items()
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- table.md
def _md(text: str) -> str:
    """A name in a Markdown table cell (``|`` would end the cell)."""
    return text.replace("|", r"\|")


def _md_cell(value: str, half: str, bold: bool) -> str:
    value = f"**{value}**" if bold else value
    return f"{value} ±{half}" if half else value


def _md_value(scores: dict | None, key: str, bold: bool, count: bool) -> str:
    """One method's value in a cell (an en dash without scores), with its count if ``count`` and
    it missed images."""
    if not scores:
        return MISSING
    cell = _md_cell(_fmt(scores[key]), _half_width(scores, key), bold)
    return f"{cell} ({_count(scores)})" if count and not _complete(scores) else cell


def _md_runs(method: str, dataset: str, scores: dict, keys) -> list[str]:
    """The table of one method's runs on a dataset: each run, their mean (with its interval) and std."""
    lines = ["", f"Runs of {_md(method)} on {_md(dataset)}:", "",
             "| Run | " + " | ".join(f"{k} {_ARROWS[k]}" for k in keys) + " |",
             "|---|" + "---:|" * len(keys)]
    for i, run in enumerate(scores["runs"]["per_run"], 1):
        cells = [_md_cell(_fmt(run[k]), _half_width(run, k), False) for k in keys]
        lines.append(f"| {i}: `{run['folder']}` | " + " | ".join(cells) + " |")
    lines.append("| mean | " + " | ".join(_md_cell(_fmt(scores[k]), _half_width(scores, k), False)
                                        for k in keys) + " |")
    lines.append("| std over runs | " + " | ".join(_fmt(scores["runs"]["std"][k]) for k in keys) + " |")
    return lines


def _legend(payload: dict) -> str:
    boot = payload.get("bootstrap")
    if not boot:
        return "Bold: the best value of each dataset and metric, among the methods scored on every image."
    level = f"{boot['level']:.0%}"
    text = (f"±: half the width of the {level} percentile bootstrap interval over images ({boot['resamples']} "
            f"resamples, seed {boot['seed']}); the bounds are in metrics.json. Bold: the best value of each "
            f"dataset and metric")
    if payload.get("bold") == "tied":
        text += (f", and every value within noise of it (the paired {level} interval of its difference from the "
                 f"best includes 0; not judged on fewer than {MIN_IMAGES_FOR_VERDICT} images)")
    return text + ", among the methods scored on every image."


def _md_methods_as_columns(payload: dict, keys, bold: _Bolding) -> list[str]:
    """One table, a column per method and a row per dataset and metric; footnotes below it."""
    results = payload["results"]
    datasets = _datasets(results)
    lines = ["| Dataset | Metric | " + " | ".join(_md(_column_label(m, per)) for m, per in results.items()) + " |",
             "|---|---|" + "---:|" * len(results)]
    for i, dataset in enumerate(datasets):
        for j, key in enumerate(keys):
            name = f"{_md(dataset)}<sup>{_marker(i)}</sup>" if j == 0 else ""
            cells = [_md_value(per.get(dataset), key, bold(m, dataset, key), j == 0) for m, per in results.items()]
            lines.append(f"| {name} | {key} {_ARROWS[key]} | " + " | ".join(cells) + " |")
    for i, dataset in enumerate(datasets):
        lines += ["", f"<sup>{_marker(i)}</sup> {_md(dataset_note(payload, dataset))}"]
    return lines


def _md_datasets_as_columns(payload: dict, keys, bold: _Bolding) -> list[str]:
    """One table per dataset, a row per method and a column per metric; its footnote below it."""
    results, lines = payload["results"], []
    for dataset in _datasets(results):
        lines += [f"### {_md(dataset)}", "",
                  "| Method | " + " | ".join(f"{k} {_ARROWS[k]}" for k in keys) + " | n |",
                  "|---|" + "---:|" * (len(keys) + 1)]
        for method, per_dataset in results.items():
            scores = per_dataset.get(dataset)
            cells = [_md_value(scores, k, bold(method, dataset, k), False) for k in keys]
            count = _count(scores) if scores else MISSING
            lines.append(f"| {_md(_column_label(method, per_dataset))} | " + " | ".join(cells) + f" | {count} |")
        lines += ["", _md(dataset_note(payload, dataset)), ""]
    return lines[:-1]


def markdown_table(payload: dict) -> str:
    """table.md: the table(s) in the payload's layout with the datasets' footnotes, bold as the
    module docstring says, the legend, then the runs of every several-run method."""
    keys, layout = _settings(payload)
    body = {"methods-as-columns": _md_methods_as_columns,
            "datasets-as-columns": _md_datasets_as_columns}[layout](payload, keys, _Bolding(payload))
    runs = [line for method, per_dataset in payload["results"].items() for dataset, scores in per_dataset.items()
            if scores.get("runs") for line in _md_runs(method, dataset, scores, keys)]
    return "\n".join([*body, "", _legend(payload), *runs]) + "\n"


# ------------------------------------------------------------------------------------ table.tex
def _tex(text: str) -> str:
    """Text with LaTeX's special characters escaped."""
    return "".join(_TEX_ESCAPES.get(char, char) for char in text)


def _tex_value(scores: dict | None, key: str, bold: bool, count: bool) -> str:
    """One method's value in a cell: ``\\textbf`` if ``bold``, ``{\\scriptsize$\\pm$.006}`` after a
    value with an interval and, if ``count``, ``\\textsuperscript{(5/6)}`` when it missed images;
    an en dash (``--``) without scores or value."""
    if not scores or _fmt(scores.get(key)) == MISSING:
        return TEX_MISSING
    cell = _fmt(scores.get(key))
    if bold:
        cell = rf"\textbf{{{cell}}}"
    if half := _half_width(scores, key):
        cell += rf"{{\scriptsize$\pm${half}}}"
    if count and not _complete(scores):
        cell += rf"\textsuperscript{{({_count(scores)})}}"
    return cell


def _tex_row(cells) -> str:
    return " & ".join(cells) + r" \\"


def _tex_methods_as_columns(payload: dict, keys, bold: _Bolding) -> tuple[str, list[str], list[str]]:
    """Column spec, header and body rows: a column per method, a row per dataset and metric."""
    results = payload["results"]
    head = [_tex_row(["Dataset", "Metric", *(_tex(_column_label(m, per)) for m, per in results.items())])]
    body = []
    for i, dataset in enumerate(_datasets(results)):
        body += [r"\midrule"] if i else []
        for j, key in enumerate(keys):
            name = rf"{_tex(dataset)}\textsuperscript{{{_marker(i)}}}" if j == 0 else ""
            body.append(_tex_row([name, _LATEX_HEADER[key], *(
                _tex_value(per.get(dataset), key, bold(m, dataset, key), j == 0) for m, per in results.items())]))
    return "ll" + "c" * len(results), head, body


def _tex_datasets_as_columns(payload: dict, keys, bold: _Bolding) -> tuple[str, list[str], list[str]]:
    """Column spec, header and body rows: a row per method, a group of metric columns per dataset."""
    results, n = payload["results"], len(keys)
    datasets = _datasets(results)
    head = [
        _tex_row(["", *(rf"\multicolumn{{{n}}}{{c}}{{{_tex(d)}\textsuperscript{{{_marker(i)}}}}}"
                        for i, d in enumerate(datasets))]),
        " ".join(rf"\cmidrule(lr){{{2 + i * n}-{1 + (i + 1) * n}}}" for i in range(len(datasets))),
        _tex_row(["Method", *[_LATEX_HEADER[k] for k in keys] * len(datasets)]),
    ]
    body = [_tex_row([_tex(_column_label(method, per_dataset)), *(
        _tex_value(per_dataset.get(dataset), key, bold(method, dataset, key), i == 0)
        for dataset in datasets for i, key in enumerate(keys))]) for method, per_dataset in results.items()]
    return "l" + "c" * (n * len(datasets)), head, body


def latex_table(payload: dict) -> str:
    """table.tex: a booktabs tabular in the payload's layout, bold as in table.md, then the
    datasets' footnotes (marked ``\\textsuperscript{a}`` at the dataset's name) as paragraphs
    after the tabular. Needs only ``\\usepackage{booktabs}``; paste it inside a ``table``."""
    keys, layout = _settings(payload)
    spec, head, body = {"methods-as-columns": _tex_methods_as_columns,
                        "datasets-as-columns": _tex_datasets_as_columns}[layout](payload, keys, _Bolding(payload))
    notes = [rf"\textsuperscript{{{_marker(i)}}}\,{_tex(dataset_note(payload, d))}\par"
             for i, d in enumerate(_datasets(payload["results"]))]
    return "\n".join([
        r"% requires \usepackage{booktabs}; paste inside a table environment",
        "% " + _legend(payload).replace("±", "+/-"),
        rf"\begin{{tabular}}{{{spec}}}", r"\toprule", *head, r"\midrule", *body, r"\bottomrule", r"\end{tabular}",
        r"\par\smallskip",
        r"{\footnotesize % notes (outside the tabular: keep them out of any \resizebox)",
        *notes, "}",
    ]) + "\n"


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
    return MISSING if value is None or math.isnan(value) else f"{value:+.4f}"


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
                  f"| Dataset | Metric | {_md(first)} | {_md(second)} | difference | {level} interval | verdict | n |",
                  "|---|---|---:|---:|---:|---|---|---:|"]
        for c in content["comparisons"]:
            if (c["first"], c["second"]) != (first, second):
                continue
            for key, m in c["metrics"].items():
                verdict = {"first better": f"**{_md(first)} better**", "second better": f"**{_md(second)} better**",
                           "too few images": "too few images for a verdict"}.get(m["verdict"], m["verdict"])
                lines.append(f"| {_md(c['dataset'])} | {key} {_ARROWS[key]} | {_fmt(m['values'][0])}"
                             f" | {_fmt(m['values'][1])} | {_signed(m['difference'])}"
                             f" | [{_signed(m['ci'][0])}, {_signed(m['ci'][1])}] | {verdict} | {c['n_images']} |")
        lines.append("")
    return "\n".join(lines)


def write_comparison(out_dir: Path, content: dict) -> None:
    """comparison.json (``{"protocol", "bootstrap", "comparisons": [{"dataset", "first", "second",
    "n_images", "metrics": {metric: {difference, ci, excludes_0, better, verdict, values}}}]}``,
    ``verdict`` as :meth:`eval.bootstrap.Bootstrap.difference` gives it) and comparison.md in ``out_dir``."""
    (out_dir / "comparison.json").write_text(json.dumps(jsonable(content), indent=2) + "\n")
    (out_dir / "comparison.md").write_text(comparison_markdown(content))
