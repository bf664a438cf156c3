"""Figures and tables fit for a paper: a distinct (colour, line style) per method, the legend off
the curves, axis limits as asked (or zoomed on the top-right corner), the same rows in both table
layouts, en dashes for missing cells, upright superscripts in LaTeX; and the help examples of the
eval and bench commands. Axis limits and styles are read from the figure objects, never from
pixels."""
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eval import evaluate_folders, plots
from eval.cli import main as eval_main
from eval.plots import CurveLimits, curve_figure, import_matplotlib, plot_curves
from eval.report import latex_table, markdown_table
from tests.helpers import make_dataset

ROOT = Path(__file__).resolve().parents[1]
N_METHODS = 12


def synthetic_curves(n_methods: int, datasets=("DES",)) -> dict:
    """curves.json content: method k's precision falls off with recall as 1 - a_k r^4 (a_k grows
    with k), over 256 descending thresholds; F (beta^2 = 0.3) computed here."""
    recall = np.linspace(0, 1, 256) ** 0.5
    curves = {}
    for k in range(n_methods):
        precision = 1 - (0.2 + 0.05 * k) * recall ** 4
        fm = 1.3 * precision * recall / np.maximum(0.3 * precision + recall, 1e-12)
        curves[f"Method {k}"] = {d: {"precision": precision.tolist(), "recall": recall.tolist(), "fm": fm.tolist(),
                                     "n_images": 10, "n_missing": 0} for d in datasets}
    return {"thresholds": (np.arange(255, -1, -1) / 255).tolist(), "curves": curves}


@pytest.fixture(scope="module")
def plt():
    return import_matplotlib()


def styles(fig) -> list[tuple[str, str]]:
    return [(line.get_color(), line.get_linestyle()) for line in fig.axes[0].get_lines()]


@pytest.mark.parametrize("kind", ["pr", "fm"])
def test_twelve_methods_get_twelve_distinct_colour_and_line_style_pairs(plt, kind):
    fig = curve_figure(plt, synthetic_curves(N_METHODS), "DES", kind)
    pairs = styles(fig)
    assert len(pairs) == N_METHODS and len(set(pairs)) == N_METHODS
    assert len({c for c, _ in pairs}) > 1 and len({s for _, s in pairs}) > 1
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [f"Method {k}" for k in range(N_METHODS)]
    plt.close(fig)


def test_styles_stay_distinct_far_beyond_twelve_and_follow_the_method():
    many = [tuple(sorted(plots.curve_style(i).items())) for i in range(plots.DISTINCT_STYLES)]
    assert len(set(many)) == len(many) >= 100
    pairs = [(s["color"], s["linestyle"]) for s in map(plots.curve_style, range(plots.PAIRS))]
    assert len(set(pairs)) == plots.PAIRS  # the first 28 need no marker
    from matplotlib.colors import to_rgb  # no two colours are close (grey-scale aside)

    colours = [np.array(to_rgb(c)) for c in plots.COLOURS]
    assert min(np.abs(a - b).sum() for i, a in enumerate(colours) for b in colours[i + 1:]) > 0.3


def test_a_method_missing_from_a_dataset_keeps_everyone_elses_style(plt):
    curves = synthetic_curves(4, datasets=("A", "B"))
    del curves["curves"]["Method 1"]["B"]
    full, partial = (curve_figure(plt, curves, d, "pr") for d in ("A", "B"))
    assert styles(partial) == [styles(full)[i] for i in (0, 2, 3)]
    plt.close(full)
    plt.close(partial)


@pytest.mark.parametrize("kind", ["pr", "fm"])
@pytest.mark.parametrize("n_methods", [1, N_METHODS, 45])
def test_the_legend_is_outside_the_axes(plt, kind, n_methods):
    fig = curve_figure(plt, synthetic_curves(n_methods), "DES", kind)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend, frame = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 > frame.x1  # to the right of the plotting area: it covers no curve
    assert len(ax.get_legend().get_texts()) == n_methods
    plt.close(fig)


def reference_zoom(curves: dict, dataset: str, kind: str) -> tuple:
    """The documented default: 0.2 below the lowest coordinate of any max-F point, rounded down to
    0.1, up to just above 1 (written out here as a loop)."""
    lows = {"recall": 1.0, "precision": 1.0, "fm": 1.0}
    for per_dataset in curves["curves"].values():
        c = per_dataset[dataset]
        best = int(np.argmax(c["fm"]))
        for key in lows:
            lows[key] = min(lows[key], c[key][best])
    floor = {key: max(0.0, math.floor(round(10 * (value - 0.2), 9)) / 10) for key, value in lows.items()}
    if kind == "fm":
        return (0.0, 255.0), (floor["fm"], 1.01)
    return (floor["recall"], 1.01), (floor["precision"], 1.01)


@pytest.mark.parametrize("kind", ["pr", "fm"])
def test_default_limits_zoom_on_the_top_right_corner(plt, kind):
    curves = synthetic_curves(N_METHODS)
    fig = curve_figure(plt, curves, "DES", kind)
    (x_low, _), (y_low, _) = expected = reference_zoom(curves, "DES", kind)
    assert [*fig.axes[0].get_xlim(), *fig.axes[0].get_ylim()] == pytest.approx([*expected[0], *expected[1]])
    assert y_low > 0.3 and (kind == "fm" or x_low > 0.3)  # zoomed, not the full square
    plt.close(fig)


def test_given_limits_are_honoured(plt):
    limits = CurveLimits(pr_x=(0, 1), pr_y=(0.55, 0.95), fm_y=(0.25, 0.75))
    curves = synthetic_curves(3)
    pr, fm = (curve_figure(plt, curves, "DES", kind, limits) for kind in ("pr", "fm"))
    assert pr.axes[0].get_xlim() == (0, 1) and pr.axes[0].get_ylim() == (0.55, 0.95)
    assert fm.axes[0].get_xlim() == (0, 255) and fm.axes[0].get_ylim() == (0.25, 0.75)
    plt.close(pr)
    plt.close(fm)


@pytest.mark.parametrize("limits", [(0.5, 0.5), (0.9, 0.1), (-0.1, 1), (0, 1.5)])
def test_bad_limits_are_one_line_errors_naming_the_option(tmp_path, capsys, limits):
    data, folders = make_dataset(tmp_path, n=2, methods=("A",))
    argv = ["--pred", str(folders["A"]), "--data-root", str(data), "--datasets", "DS", "--out", str(tmp_path / "o"),
            "--pr-ylim", *map(str, limits)]
    assert eval_main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --pr-ylim needs 0 <= LOW < HIGH <= 1") and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_eval_passes_the_limits_to_every_figure(tmp_path, monkeypatch):
    drawn = []

    def recording(plt, curves, dataset, kind, limits=CurveLimits()):
        fig = curve_figure(plt, curves, dataset, kind, limits)
        drawn.append((dataset, kind, fig.axes[0].get_xlim(), fig.axes[0].get_ylim()))
        return fig

    monkeypatch.setattr(plots, "curve_figure", recording)
    data, folders = make_dataset(tmp_path, n=3)
    assert eval_main(["--pred", str(folders["A"]), str(folders["B"]), "--data-root", str(data), "--datasets", "DS",
                      "--out", str(tmp_path / "out"), "--ci", "0", "--pr-xlim", "0.2", "1", "--pr-ylim", "0", "1",
                      "--fm-ylim", "0.1", "0.9"]) == 0
    assert drawn == [("DS", "pr", (0.2, 1), (0, 1)), ("DS", "fm", (0, 255), (0.1, 0.9))]
    assert {p.name for p in (tmp_path / "out" / "plots").iterdir()} == {
        "DS_pr.png", "DS_pr.pdf", "DS_fm.png", "DS_fm.pdf"}


def test_plots_command_redraws_from_curves_json(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "curves.json").write_text(json.dumps(synthetic_curves(3, ("DES", "SIP"))))
    assert plots.main([str(tmp_path / "run"), "--pr-ylim", "0", "1"]) == 0
    assert "wrote 8 figures" in capsys.readouterr().out
    written = sorted(p.name for p in (tmp_path / "run" / "plots").iterdir())
    assert written == sorted(f"{d}_{k}.{s}" for d in ("DES", "SIP") for k in ("pr", "fm") for s in ("png", "pdf"))
    assert (tmp_path / "run" / "plots" / "DES_pr.png").read_bytes()[:4] == b"\x89PNG"
    assert plots.main([str(tmp_path / "nothing")]) == 1
    assert "no such file" in capsys.readouterr().err


def test_written_figures_embed_truetype_fonts(tmp_path):
    written = plot_curves(synthetic_curves(N_METHODS), tmp_path)
    assert sorted(p.name for p in written) == ["DES_fm.pdf", "DES_fm.png", "DES_pr.pdf", "DES_pr.png"]
    pdf = (tmp_path / "DES_pr.pdf").read_bytes()
    assert (b"/TrueType" in pdf or b"/CIDFontType2" in pdf) and b"/Type3" not in pdf  # as publishers ask


# ------------------------------------------------------------------------------------- tables
@pytest.fixture(scope="module")
def missing_run(tmp_path_factory) -> dict:
    """metrics.json of A (both datasets) and B (DS only: no DS2 folder) with --allow-missing."""
    root = tmp_path_factory.mktemp("missing")
    data, folders = make_dataset(root, n=4)
    second, _ = make_dataset(root / "second", n=4, methods=("A",), seed=1)
    (data / "DS2").symlink_to(second / "DS")
    (folders["A"] / "DS2").symlink_to(root / "second" / "maps" / "A" / "DS")
    return evaluate_folders(folders, data, ["DS", "DS2"], root / "out", allow_missing=True, plots=False,
                            bootstrap=None)


def md_method_rows(text: str) -> list[tuple[str, str, list[str]]]:
    """(dataset, method, cells) of every row of the datasets-as-columns table.md."""
    rows = []
    for section in text.split("### ")[1:]:
        dataset = section.splitlines()[0]
        for line in section.splitlines():
            if line.startswith("| ") and not line.startswith("| Method"):
                cells = [c.strip() for c in line.strip("|").split("|")]
                rows.append((dataset, cells[0], cells[1:]))
    return rows


def tex_body_rows(text: str) -> list[list[str]]:
    body = text.split(r"\midrule", 1)[1].split(r"\bottomrule")[0]
    return [[c.strip() for c in re.split(r"(?<!\\)&", line.removesuffix(r"\\"))]
            for line in body.strip().splitlines() if line.endswith(r"\\")]


def test_both_layouts_have_the_same_rows_with_en_dashes_for_missing_cells(missing_run):
    assert set(missing_run["results"]["B"]) == {"DS"}
    wide = {**missing_run, "table": {**missing_run["table"], "layout": "datasets-as-columns"}}
    tall = {**missing_run, "table": {**missing_run["table"], "layout": "methods-as-columns"}}
    md_rows = md_method_rows(markdown_table(wide))
    assert [(d, m) for d, m, _ in md_rows] == [("DS", "A"), ("DS", "B"), ("DS2", "A"), ("DS2", "B")]
    assert md_rows[3][2] == ["–"] * 5  # four metrics and n
    tex = tex_body_rows(latex_table(wide))
    assert [row[0] for row in tex] == ["A", "B"]
    assert tex[1][5:] == ["--"] * 4 and "-" not in [c for row in tex for c in row]
    md_tall = [[c.strip() for c in line.strip("|").split("|")] for line in markdown_table(tall).splitlines()
               if line.startswith("| ") and not line.startswith("| Dataset")]
    assert [row[3] == "–" for row in md_tall] == [False] * 4 + [True] * 4  # B's column: DS, then DS2
    tex_tall = tex_body_rows(latex_table(tall))
    assert [row[-1] for row in tex_tall[4:]] == ["--"] * 4 and all(row[-1] != "--" for row in tex_tall[:4])


def test_latex_sets_the_superscripts_upright(missing_run):
    every = {**missing_run, "table": {"metrics": ["maxFm", "meanFm", "adpFm", "maxEm", "meanEm", "adpEm"],
                                      "layout": "datasets-as-columns"}}
    tex = latex_table(every)
    for label in ("max", "mean", "adp"):
        assert rf"F_\beta^{{\mathrm{{{label}}}}}" in tex and rf"E_\xi^{{\mathrm{{{label}}}}}" in tex
    assert not re.search(r"\^\{(max|mean|adp)\}", tex)


# ---------------------------------------------------------------------------------- slips
def test_missing_method_error_names_allow_missing(tmp_path, capsys):
    data, folders = make_dataset(tmp_path, n=2)
    (folders["B"] / "DS").rename(folders["B"] / "OTHER")
    assert eval_main(["--pred", str(folders["A"]), str(folders["B"]), "--data-root", str(data), "--datasets", "DS",
                      "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "no DS folder in" in err and "--allow-missing" in err


@pytest.mark.parametrize("module", ["eval.bootstrap_coverage", "bench.gpu", "eval.plots"])
def test_help_has_usage_examples(module):
    helped = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True)
    assert helped.returncode == 0
    examples = helped.stdout.split("examples:\n", 1)[1]
    assert f"python -m {module} " in examples and f"usage: python -m {module}" in helped.stdout
