"""table.md / table.tex: ``--metrics``, ``--layout``, footnotes per dataset, and LaTeX that compiles
with booktabs alone (checked by structure always, by pdflatex where one is installed).

One evaluation serves most tests: datasets ``D_S#1`` (MIN_IMAGES_FOR_VERDICT images, no known
split) and ``DES`` (5 names of the RGBD135 list: a subset); methods ``A`` (good maps), ``B_x&y %1
#2`` (noisy, one ``D_S#1`` map missing), ``Tie`` (A's maps with one replaced by noise: within noise
of A) and ``M`` (two runs). Expected cells are read from metrics.json, never from the tables' code.
"""
import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eval import METRIC_KEYS
from eval.bootstrap import MIN_IMAGES_FOR_VERDICT
from eval.cli import main
from eval.report import latex_table, markdown_table
from tests.helpers import SPLITS, make_methods

ODD = "B_x&y %1 #2"  # a method label with LaTeX's special characters
PAPER_METRICS = ["Sm", "maxFm", "maxEm", "MAE"]
LAYOUTS = ("methods-as-columns", "datasets-as-columns")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(output folder, metrics.json content, its arguments but --out) of the default evaluation."""
    root = tmp_path_factory.mktemp("tables")
    noises = {"A": 0.02, "B": 0.3, "s0": 0.1, "s1": 0.2}
    data, folders = make_methods(root, MIN_IMAGES_FOR_VERDICT, noises, dataset="D_S#1")
    make_methods(root, 0, noises, seed=1, dataset="DES", stems=SPLITS.joinpath("RGBD135.txt").read_text().split()[:5])
    shutil.copytree(folders["A"], root / "Tie")
    shutil.copy(folders["B"] / "D_S#1" / "im03.png", root / "Tie" / "D_S#1" / "im03.png")
    (folders["B"] / "D_S#1" / "im05.png").unlink()
    out = root / "out"
    argv = ["--pred", f"A={folders['A']}", f"{ODD}={folders['B']}", f"Tie={root / 'Tie'}",
            f"M={folders['s0']},{folders['s1']}", "--data-root", str(data), "--datasets", "D_S#1", "DES",
            "--no-plots", "--allow-missing", "--ci", "300"]
    with pytest.warns(UserWarning, match="im05"):
        assert main([*argv, "--out", str(out)]) == 0
    return out, json.loads((out / "metrics.json").read_text()), argv


def in_layout(payload: dict, layout: str, metrics=None) -> dict:
    return {**payload, "table": {"metrics": metrics or payload["table"]["metrics"], "layout": layout}}


def expected_cells(payload: dict) -> dict:
    """``{(method, dataset, metric): (value, half width, bold)}`` from metrics.json: bold is the best
    printed value among the methods with every image, or a method within noise of the best."""
    results, cells = payload["results"], {}
    for dataset in ("D_S#1", "DES"):
        complete = [m for m in results if dataset in results[m] and not results[m][dataset]["n_missing"]]
        for key in payload["table"]["metrics"]:
            printed = [f"{results[m][dataset][key]:.3f}" for m in complete]
            best = (min if key == "MAE" else max)(printed, key=float)
            tied = payload["best"][dataset][key]["within_noise"] or []
            for method in results:
                s = results[method][dataset]
                value, (low, high) = f"{s[key]:.3f}", s["ci"][key]
                bold = method in complete and (value == best or method in tied)
                cells[method, dataset, key] = (value, f"{(high - low) / 2:.3f}".lstrip("0"), bold)
    return cells


MD_CELL = re.compile(r"^(\*\*)?(\d\.\d{3})(?:\*\*)? ±(\.\d{3})(?: \((\d+/\d+)\))?$")
TEX_CELL = re.compile(r"^(\\textbf\{)?(\d\.\d{3})\}?\{\\scriptsize\$\\pm\$(\.\d{3})\}"
                      r"(?:\\textsuperscript\{\((\d+/\d+)\)\})?$")


def parse(pattern, cell: str) -> tuple:
    """(value, half width, bold, count or None) of a table cell."""
    match = pattern.match(cell.strip())
    assert match, cell
    return match[2], match[3], bool(match[1]), match[4]


def md_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in text.splitlines()
            if line.startswith("|") and not line.startswith("|---")]


def md_cells(text: str, payload: dict, layout: str) -> dict:
    """``{(method, dataset, metric): (value, half, bold, count)}`` read back from table.md."""
    methods, keys, cells = list(payload["results"]), payload["table"]["metrics"], {}
    labels = {"M (2 runs)": "M"}
    if layout == "methods-as-columns":
        rows = md_rows(text.split("\n\n")[0])
        assert [labels.get(c, c) for c in rows[0][2:]] == methods
        for i, row in enumerate(rows[1:]):
            dataset = ("D_S#1", "DES")[i // len(keys)]
            assert row[0] == (f"{dataset}<sup>{'ab'[i // len(keys)]}</sup>" if i % len(keys) == 0 else "")
            assert row[1].split()[0] == keys[i % len(keys)]
            cells.update({(m, dataset, keys[i % len(keys)]): parse(MD_CELL, c) for m, c in zip(methods, row[2:])})
        return cells
    for section in text.split("### ")[1:]:
        dataset, rows = section.splitlines()[0], md_rows(section.split("\n\n")[1])
        assert [c.split()[0] for c in rows[0][1:-1]] == keys and rows[0][-1] == "n"
        for row in rows[1:]:
            count = row[-1] if "/" in row[-1] else None  # the n column
            for key, cell in zip(keys, row[1:-1]):
                cells[labels.get(row[0], row[0]), dataset, key] = (*parse(MD_CELL, cell)[:3], count)
    return cells


def tex_rows(text: str) -> list[list[str]]:
    """The cells of the tabular's data rows (after the header's \\midrule)."""
    body = text.split(r"\midrule", 1)[1].split(r"\bottomrule")[0]
    return [[c.strip() for c in re.split(r"(?<!\\)&", line.removesuffix(r"\\"))]
            for line in body.strip().splitlines() if line.endswith(r"\\")]


def tex_cells(text: str, payload: dict, layout: str) -> dict:
    """``{(method, dataset, metric): (value, half, bold, count)}`` read back from table.tex."""
    methods, keys, datasets = list(payload["results"]), payload["table"]["metrics"], ("D_S#1", "DES")
    rows = tex_rows(text)
    if layout == "methods-as-columns":
        assert [r[0] for r in rows] == [rf"{name}\textsuperscript{{{marker}}}" if i == 0 else ""
                                        for name, marker in ((r"D\_S\#1", "a"), ("DES", "b")) for i in range(len(keys))]
        return {(m, datasets[i // len(keys)], keys[i % len(keys)]): parse(TEX_CELL, c)
                for i, row in enumerate(rows) for m, c in zip(methods, row[2:])}
    assert [r[0] for r in rows] == ["A", r"B\_x\&y \%1 \#2", "Tie", "M (2 runs)"]
    return {(m, d, k): parse(TEX_CELL, row[1 + j * len(keys) + i])
            for m, row in zip(methods, rows) for j, d in enumerate(datasets) for i, k in enumerate(keys)}


# ----------------------------------------------------------------------------------- --metrics
def test_default_tables_are_the_four_paper_metrics_with_methods_as_columns(run):
    out, payload, _ = run
    assert payload["table"] == {"metrics": PAPER_METRICS, "layout": "methods-as-columns"}
    assert all(set(METRIC_KEYS) <= set(s) for per in payload["results"].values() for s in per.values())
    with open(out / "metrics.csv") as f:
        assert set(METRIC_KEYS) <= set(next(csv.reader(f)))
    rows = md_rows((out / "table.md").read_text().split("\n\n")[0])
    assert rows[0] == ["Dataset", "Metric", "A", ODD, "Tie", "M (2 runs)"]
    assert [row[1] for row in rows[1:]] == ["Sm ↑", "maxFm ↑", "maxEm ↑", "MAE ↓"] * 2
    assert (out / "table.md").read_text() == markdown_table(payload)
    assert (out / "table.tex").read_text() == latex_table(payload)


def test_metrics_choose_and_order_the_tables_and_the_console_but_not_the_files(run, tmp_path, capsys):
    capsys.readouterr()
    with pytest.warns(UserWarning):
        assert main([*run[2], "--out", str(tmp_path / "o"), "--ci", "0", "--metrics", "MAE", "wFm"]) == 0
    console = capsys.readouterr().out.splitlines()
    assert console[0].split() == ["Method", "Dataset", "MAE", "wFm", "n"]
    rows = md_rows((tmp_path / "o" / "table.md").read_text().split("\n\n")[0])
    assert [row[1] for row in rows[1:]] == ["MAE ↓", "wFm ↑"] * 2
    tex = (tmp_path / "o" / "table.tex").read_text()
    assert [row[1] for row in tex_rows(tex)] == [r"$M\downarrow$", r"$F^w_\beta\uparrow$"] * 2
    with open(tmp_path / "o" / "metrics.csv") as f:
        assert [k for k in next(csv.reader(f)) if k in METRIC_KEYS] == list(METRIC_KEYS)


@pytest.mark.parametrize("metrics, words", [
    (["Sm", "Fm"], "--metrics: unknown metric 'Fm'"),
    (["MAE", "Sm", "MAE"], "--metrics names 'MAE' twice"),
])
def test_bad_metrics_are_one_line_errors_that_list_the_valid_ones(run, tmp_path, capsys, metrics, words):
    capsys.readouterr()
    assert main([*run[2], "--out", str(tmp_path / "o"), "--metrics", *metrics]) == 1
    assert capsys.readouterr().err == f"error: {words}; valid: {', '.join(METRIC_KEYS)}\n"
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------ --layout
@pytest.mark.parametrize("layout", LAYOUTS)
def test_both_layouts_show_every_value_interval_bold_and_count(run, layout):
    payload = in_layout(run[1], layout)
    expected = expected_cells(payload)
    assert "Tie" in payload["best"]["D_S#1"]["Sm"]["within_noise"] and expected["Tie", "D_S#1", "Sm"][2]
    for cells in (md_cells(markdown_table(payload), payload, layout), tex_cells(latex_table(payload), payload, layout)):
        assert {k: v[:3] for k, v in cells.items()} == expected
        counts = {(m, d) for (m, d, _), (*_, count) in cells.items() if count}
        assert counts == {(ODD, "D_S#1")} and {c[3] for c in cells.values() if c[3]} == {
            f"{MIN_IMAGES_FOR_VERDICT - 1}/{MIN_IMAGES_FOR_VERDICT}"}
    assert "M (2 runs)" in markdown_table(payload) and "Runs of M on DES:" in markdown_table(payload)


def test_help_gives_the_table_options_their_defaults_and_an_example():
    helped = subprocess.run([sys.executable, "-m", "eval", "--help"], cwd=ROOT, capture_output=True, text=True)
    text = " ".join(helped.stdout.split())
    for words in ("--metrics KEY [KEY ...]", "(default: Sm maxFm maxEm MAE)", ", ".join(METRIC_KEYS),
                  "--layout {methods-as-columns,datasets-as-columns}", "methods-as-columns, the default",
                  "--metrics Sm wFm maxFm maxEm MAE --layout datasets-as-columns",
                  f"fewer than {MIN_IMAGES_FOR_VERDICT} images", "needs only \\usepackage{booktabs}"):
        assert words in text, words


def test_bad_layout_is_refused_by_the_parser(run, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*run[2], "--out", str(tmp_path / "o"), "--layout", "wide"])
    assert stop.value.code == 2 and "invalid choice: 'wide'" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- footnotes
@pytest.mark.parametrize("layout", LAYOUTS)
def test_footnotes_give_each_datasets_image_count_and_split_verdict(run, layout):
    payload = in_layout(run[1], layout)
    des = ("DES: n = 5 GT images. The GT folder is a subset (5 of 135) of the RGBD135 test split: its numbers are "
           f"not comparable with papers that used that split. Fewer than {MIN_IMAGES_FOR_VERDICT} images: only the "
           "best value is bold, no tie within noise.")
    other = f"n = {MIN_IMAGES_FOR_VERDICT} GT images. The GT folder is of an unknown dataset (no known split list)."
    md, tex = markdown_table(payload), latex_table(payload)
    assert len(SPLITS.joinpath("RGBD135.txt").read_text().split()) == 135
    assert des in md and f"D_S#1: {other}" in md
    assert f"\\textsuperscript{{b}}\\,{des}\\par" in tex.splitlines()
    assert f"\\textsuperscript{{a}}\\,D\\_S\\#1: {other}\\par" in tex.splitlines()
    if layout == "methods-as-columns":
        assert f"<sup>b</sup> {des}" in md.splitlines()


# -------------------------------------------------------------------------------------- LaTeX
def spec_columns(spec: str) -> int:
    """The number of columns of a tabular spec (letters l, c, r; ``*{n}{...}`` expanded)."""
    spec = re.sub(r"\*\{(\d+)\}\{([^}]*)\}", lambda m: m[2] * int(m[1]), spec)
    assert re.fullmatch(r"[lcr|]+", spec), spec
    return len(spec.replace("|", ""))


def check_structure(tex: str) -> None:
    """Every row has the spec's number of cells, braces balance, booktabs rules are in order,
    and no special character is left unescaped in a row."""
    depth = 0
    for char in re.sub(r"\\[{}%&#_$]", "", tex):
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    lines = tex.splitlines()
    begin = next(i for i, line in enumerate(lines) if line.startswith(r"\begin{tabular}"))
    end = lines.index(r"\end{tabular}")
    columns = spec_columns(re.fullmatch(r"\\begin\{tabular\}\{(.*)\}", lines[begin])[1])
    rules = [line for line in lines[begin + 1:end] if not line.endswith(r"\\")]
    assert rules[0] == r"\toprule" and rules[-1] == r"\bottomrule" and r"\midrule" in rules
    assert all(re.fullmatch(r"\\midrule|(\\cmidrule\(lr\)\{\d+-\d+\} ?)+", rule) for rule in rules[1:-1]), rules
    for row in (line for line in lines[begin + 1:end] if line.endswith(r"\\")):
        cells = re.split(r"(?<!\\)&", row.removesuffix(r"\\"))
        spans = [int(m[1]) if (m := re.match(r"\s*\\multicolumn\{(\d+)\}", c)) else 1 for c in cells]
        assert sum(spans) == columns, row
        assert not re.search(r"(?<!\\)[%#]", row), row
    assert ODD not in tex and r"B\_x\&y \%1 \#2" in tex and r"D\_S\#1" in tex


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("metrics", [None, ["Sm"], list(METRIC_KEYS)])
def test_latex_is_well_formed_and_compiles_with_booktabs_alone(run, tmp_path, layout, metrics):
    """Always the structure; and, where pdflatex is installed, a minimal document compiles."""
    payload = in_layout(run[1], layout, metrics)
    tex = latex_table(payload)
    check_structure(tex)
    keys = payload["table"]["metrics"]
    assert spec_columns(re.search(r"\\begin\{tabular\}\{(.*)\}", tex)[1]) == (
        2 + len(payload["results"]) if layout == "methods-as-columns" else 1 + 2 * len(keys))
    if shutil.which("pdflatex"):
        document = tmp_path / "paper.tex"
        document.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                            "\\begin{table}\n\\centering\n" + tex + "\\caption{Results.}\n\\end{table}\n"
                            "\\end{document}\n")
        done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", document.name],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout[-2000:]
        assert (tmp_path / "paper.pdf").stat().st_size > 0
