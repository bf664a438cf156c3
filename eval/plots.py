"""PR and F-measure curves, one figure per dataset with every method (PNG and PDF).

Each method keeps one style on every figure: a colour of the Okabe-Ito palette (colour-blind
safe; its yellow left out, too faint on white) and a line style, paired so that no two of the
first :data:`DISTINCT_STYLES` methods share both (after 28 methods markers are added). The legend
sits to the right of the axes, where it covers no curve. By default each axis is zoomed on the
top-right corner where methods differ (:func:`auto_limits`); :class:`CurveLimits` sets them.

``python -m eval.plots OUT`` redraws the figures of an evaluation folder from its curves.json,
e.g. with other limits, without scoring again. matplotlib is imported here only, with the Agg
backend, so the metric code stays light.
"""
from __future__ import annotations

import argparse
import json
import math
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from utils.cli import run_cli
from utils.errors import EvalError
from utils.files import atomic_file

# Okabe & Ito, "Color Universal Design" (2008), without yellow (#F0E442)
COLOURS = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7")
LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = (None, "o", "s", "^", "v", "D", "x", "+", "*", "P")
PAIRS = len(COLOURS) * len(LINE_STYLES)  # 7 and 4 are coprime: method i gets (i % 7, i % 4)
DISTINCT_STYLES = PAIRS * len(MARKERS)
ZOOM_MARGIN = 0.2  # auto limits: this far below the lowest max-F point, rounded down to 0.1
AUTO_HIGH = 1.01  # auto limits end a little above 1, so that a curve along 1 is not hidden by the frame
LEGEND_ROWS = 20  # entries per legend column
KINDS = {"pr": ("Recall", "Precision"), "fm": ("Threshold", "F-measure")}

EXAMPLES = """examples:
  python -m eval.plots out/compare                               (redraw out/compare/plots/)
  python -m eval.plots out/compare --pr-xlim 0 1 --pr-ylim 0 1 --fm-ylim 0 1   (full axes)
  python -m eval.plots out/compare/curves.json --pr-ylim 0.7 1 --out figs/curves

OUT is an output folder of python -m eval (or its curves.json). By default each axis starts
0.2 below the lowest precision, recall or max F of any method at its max-F point, rounded down
to 0.1, and ends at 1: the top-right corner where methods differ. The figures are written as
<DATASET>_pr.{png,pdf} and <DATASET>_fm.{png,pdf} in OUT/plots (or --out).
"""


def import_matplotlib():
    """pyplot with the Agg backend (about a second: the folder evaluation starts it early, in a
    thread, while worker processes compute)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curve_style(index: int) -> dict:
    """matplotlib keywords of the ``index``-th method's curve: colour, line style and (after
    :data:`PAIRS` methods) a marker; distinct for the first :data:`DISTINCT_STYLES` methods."""
    marker = MARKERS[(index // PAIRS) % len(MARKERS)]
    style = {"color": COLOURS[index % len(COLOURS)], "linestyle": LINE_STYLES[index % len(LINE_STYLES)]}
    return {**style, "marker": marker, "markevery": 0.1} if marker else style


def check_limits(option: str, limits) -> tuple[float, float] | None:
    """``(low, high)`` with ``0 <= low < high <= 1``, or None (automatic); else an EvalError."""
    if limits is None:
        return None
    low, high = (float(v) for v in limits)
    if not 0 <= low < high <= 1:
        raise EvalError(f"{option} needs 0 <= LOW < HIGH <= 1, got {low:g} {high:g}")
    return low, high


@dataclass(frozen=True)
class CurveLimits:
    """Axis limits of the figures, each ``(low, high)`` in [0, 1] or None (automatic): ``pr_x``
    (recall), ``pr_y`` (precision), ``fm_y`` (F-measure; its threshold axis is always 0-255)."""

    pr_x: tuple[float, float] | None = None
    pr_y: tuple[float, float] | None = None
    fm_y: tuple[float, float] | None = None

    def __post_init__(self):
        for name, option in (("pr_x", "--pr-xlim"), ("pr_y", "--pr-ylim"), ("fm_y", "--fm-ylim")):
            object.__setattr__(self, name, check_limits(option, getattr(self, name)))


def _floor_tenth(value: float) -> float:
    return max(0.0, math.floor(10 * value + 1e-9) / 10)


def auto_limits(curves: list[dict], kind: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Default (x, y) limits for ``curves`` (each ``{precision, recall, fm}``): from
    :data:`ZOOM_MARGIN` below the lowest coordinate of any method's max-F point, rounded down to
    0.1, up to just above 1 (PR); the F-measure figure zooms its F axis the same way, over all
    thresholds."""
    best = [max(range(len(c["fm"])), key=c["fm"].__getitem__) for c in curves]
    if kind == "fm":
        return (0.0, 255.0), (_floor_tenth(min(c["fm"][i] for c, i in zip(curves, best)) - ZOOM_MARGIN), AUTO_HIGH)
    low_recall = min(c["recall"][i] for c, i in zip(curves, best))
    low_precision = min(c["precision"][i] for c, i in zip(curves, best))
    return ((_floor_tenth(low_recall - ZOOM_MARGIN), AUTO_HIGH),
            (_floor_tenth(low_precision - ZOOM_MARGIN), AUTO_HIGH))


def _limits(limits: CurveLimits, kind: str, curves: list[dict]):
    x_auto, y_auto = auto_limits(curves, kind)
    if kind == "fm":
        return x_auto, limits.fm_y or y_auto
    return limits.pr_x or x_auto, limits.pr_y or y_auto


def curve_figure(plt, curves: dict, dataset: str, kind: str, limits: CurveLimits = CurveLimits()):
    """The ``kind`` (``"pr"`` or ``"fm"``) figure of ``dataset``: every method of ``curves`` (the
    curves.json content) that has it, in its own style, the legend outside the axes."""
    thresholds = [255 * t for t in curves["thresholds"]]
    xlabel, ylabel = KINDS[kind]
    fig, ax = plt.subplots(figsize=(3.6, 3.3))
    drawn = []
    for index, (method, per_dataset) in enumerate(curves["curves"].items()):
        if dataset not in per_dataset:
            continue
        c = per_dataset[dataset]
        x, y = (c["recall"], c["precision"]) if kind == "pr" else (thresholds, c["fm"])
        missed = c.get("n_missing") or 0  # fewer images than the others: say so
        label = f"{method} (n={c['n_images']}/{c['n_images'] + missed})" if missed else method
        ax.plot(x, y, label=label, linewidth=1.4, markersize=4, **curve_style(index))
        drawn.append(c)
    (x_low, x_high), (y_low, y_high) = _limits(limits, kind, drawn)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=dataset, xlim=(x_low, x_high), ylim=(y_low, y_high))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.03, 1), borderaxespad=0, frameon=False, fontsize="small",
              handlelength=3, ncol=math.ceil(len(drawn) / LEGEND_ROWS))
    return fig


def plot_curves(curves: dict, out_dir: Path, limits: CurveLimits = CurveLimits()) -> list[Path]:
    """Write ``<dataset>_pr.{png,pdf}`` and ``<dataset>_fm.{png,pdf}`` into ``out_dir``, each
    atomically. ``curves``: ``{"thresholds": [...], "curves": {method: {dataset: {precision,
    recall, fm, n_images[, n_missing]}}}}`` (the curves.json content)."""
    plt = import_matplotlib()
    per_method = curves["curves"]
    datasets = list(dict.fromkeys(d for per_dataset in per_method.values() for d in per_dataset))
    written = []
    with plt.rc_context({"pdf.fonttype": 42}):  # TrueType in the PDF, as publishers ask
        for dataset in datasets:
            for kind in KINDS:
                fig = curve_figure(plt, curves, dataset, kind, limits)
                try:
                    with ExitStack() as stack:
                        for suffix in (".png", ".pdf"):
                            path = out_dir / f"{dataset}_{kind}{suffix}"
                            fig.savefig(stack.enter_context(atomic_file(path)), format=suffix[1:], dpi=200,
                                        bbox_inches="tight", pad_inches=0.03)
                            written.append(path)
                finally:
                    plt.close(fig)
    return written


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """``--pr-xlim``, ``--pr-ylim`` and ``--fm-ylim`` (shared by ``python -m eval``)."""
    for option, axis in (("--pr-xlim", "recall axis of the PR curves"), ("--pr-ylim", "precision axis of the PR "
                         "curves"), ("--fm-ylim", "F axis of the F-measure curves")):
        parser.add_argument(option, nargs=2, type=float, metavar=("LOW", "HIGH"),
                            help=f"limits of the {axis} (default: zoomed on the top-right corner; 0 1: full)")


def limits_from_args(args: argparse.Namespace) -> CurveLimits:
    return CurveLimits(args.pr_xlim, args.pr_ylim, args.fm_ylim)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval.plots", description=__doc__.split("\n\n")[0],
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, metavar="OUT", help="an output folder of python -m eval, or its "
                        "curves.json")
    parser.add_argument("--out", type=Path, metavar="DIR", help="where the figures go (default: OUT/plots)")
    add_limit_options(parser)
    return parser


def _run(args: argparse.Namespace) -> int:
    source = args.source / "curves.json" if args.source.is_dir() else args.source
    if not source.is_file():
        raise EvalError(f"{source}: no such file (pass an output folder of python -m eval or its curves.json)")
    try:
        curves = json.loads(source.read_text())
    except ValueError as exc:
        raise EvalError(f"{source}: not a curves.json ({exc})") from None
    written = plot_curves(curves, args.out or source.parent / "plots", limits_from_args(args))
    print(f"wrote {len(written)} figures in {(args.out or source.parent / 'plots')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line (``python -m eval.plots``); errors are one line, exit 1."""
    return run_cli(get_args_parser(), _run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
