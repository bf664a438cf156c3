"""``python -m eval.qualitative``: the qualitative comparison figure of RGB-D SOD papers.

Rows are images, columns are RGB, depth, GT, then each method's saliency map (in the order the
methods are given). The rows are the stems asked for, or picked by the S-measure of one method
(the ``rank_by`` method): best, median and worst, spread evenly; each row is labelled with its
stem and that S-measure. Files are found as ``python -m eval`` finds them (``utils/layout.py``): maps
in ``<method>/<DATASET>/<stem>.png``, inputs in ``ROOT/<DATASET>/{RGB,depth,GT}`` (or
``Image``/``depths``/``Mask``... in any case). Depth is read unchanged (8- or 16-bit) and
min-max normalised; maps are shown as stored, GT as eval reads it (a 0/1 mask as 0/255). Every
tile is fitted, keeping its aspect, into one cell ``size`` px high; the figure is written as PNG
and PDF, each atomically.
matplotlib is imported only when the figure is drawn.
"""
import argparse
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from utils.cli import run_cli
from utils.errors import EvalError
from utils.files import atomic_file
from utils.images import apply_gt_rule, minmax_depth, read_depth_raw, read_gray_map, read_gt_map, read_rgb
from utils.layout import role_dir, unique_images

from .cli import parse_preds
from .metrics import pair_metrics

GAP = 4  # px between tiles
DPI = 100  # the PNG holds the tiles at exactly one pixel per pixel
FIGURE_SUFFIXES = (".png", ".pdf")

EXAMPLES = """examples:
  python -m eval.qualitative --data-root data/test --dataset NJU2K \\
      --pred CDINet=runs/cdinet/maps maps/JL-DCF maps/BBS-Net --out figs/nju2k
  python -m eval.qualitative --data-root data/test --dataset DES --pred runs/cdinet/maps \\
      maps/JL-DCF --stems RGBD_data_1 RGBD_data_4 --out figs/des.pdf --size 200
  python -m eval.qualitative --data-root data/test --dataset SIP --pred maps/A maps/B \\
      --rank-by B --n 9 --invert-depth --out figs/sip

Each --pred folder holds <DATASET>/<stem>.png; RGB, depth and GT are read from
DATA_ROOT/<DATASET>/{RGB,depth,GT}/ (or Image/images, depths, Mask/masks/test_masks, any case).
Without --stems, N rows are picked by the S-measure of the --rank-by method (default: the first):
best, median and worst in equal shares (N=6: 2 + 2 + 2), best first. FIG is written as FIG.png
and FIG.pdf (a .png/.pdf suffix on FIG is dropped first).
"""


@dataclass(frozen=True)
class Column:
    """One column of the figure: its title, the folder its images come from, ``{stem: path}``."""

    title: str
    folder: Path
    files: dict


def figure_paths(out) -> tuple[Path, Path]:
    """``(FIG.png, FIG.pdf)`` for ``out`` given with or without a .png / .pdf suffix."""
    out = Path(out)
    if out.suffix.lower() in FIGURE_SUFFIXES:
        out = out.with_suffix("")
    return tuple(out.with_name(out.name + suffix) for suffix in FIGURE_SUFFIXES)


def dataset_columns(data_root, dataset: str, preds: dict) -> list[Column]:
    """The RGB, depth, GT and method columns of ``dataset`` (errors name the missing folder)."""
    dataset_dir = Path(data_root) / dataset
    folders = [("RGB", role_dir(dataset_dir, "rgb")), ("Depth", role_dir(dataset_dir, "depth")),
               ("GT", role_dir(dataset_dir, "gt"))]
    folders += [(label, Path(folder) / dataset) for label, folder in preds.items()]
    return [Column(title, folder, unique_images(folder)) for title, folder in folders]


def check_stems(stems, columns: list[Column]) -> None:
    """Raise an :class:`EvalError` naming the first stem that a column's folder lacks."""
    for stem in stems:
        for column in columns:
            if stem not in column.files:
                raise EvalError(f"no image {stem!r} in {column.folder} ({column.title})")


def s_measures(stems, pred: Column, gt: Column) -> dict[str, float]:
    """``{stem: S-measure}`` of the maps of ``pred`` against ``gt`` (``pysodmetrics`` protocol)."""
    return {stem: pair_metrics(read_gray_map(pred.files[stem]), read_gt_map(gt.files[stem])).sm for stem in stems}


def pick_rows(scores: dict[str, float], n: int) -> list[str]:
    """``n`` stems from best to worst S-measure: the best, median and worst in equal shares
    (a remainder goes to the best, then the worst); every stem if there are no more than ``n``."""
    ranked = sorted(scores, key=lambda stem: (-scores[stem], stem))
    if n >= len(ranked):
        return ranked
    n_best, n_worst = n // 3 + (n % 3 >= 1), n // 3 + (n % 3 >= 2)
    n_median = n - n_best - n_worst
    start = min(max((len(ranked) - n_median) // 2, n_best), len(ranked) - n_worst - n_median)
    return ranked[:n_best] + ranked[start:start + n_median] + ranked[len(ranked) - n_worst:]


def read_depth(path: Path, invert: bool = False) -> np.ndarray:
    """A depth map (8/16-bit or float) for display: min-max normalised to 8-bit gray, flipped
    if ``invert``; a constant map is black."""
    gray = np.round(255 * minmax_depth(read_depth_raw(path))).astype(np.uint8)
    return 255 - gray if invert else gray


def fit_tile(image: np.ndarray, cell_h: int, cell_w: int) -> np.ndarray:
    """``image`` resized, keeping its aspect, to fit a white ``cell_h`` x ``cell_w`` RGB cell."""
    h, w = image.shape[:2]
    scale = min(cell_h / h, cell_w / w)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    tile = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    if tile.ndim == 2:
        tile = cv2.cvtColor(tile, cv2.COLOR_GRAY2RGB)
    cell = np.full((cell_h, cell_w, 3), 255, np.uint8)
    top, left = (cell_h - th) // 2, (cell_w - tw) // 2
    cell[top:top + th, left:left + tw] = tile
    return cell


def row_images(stem: str, columns: list[Column], invert_depth: bool) -> list[np.ndarray]:
    """The decoded tiles of one row: RGB, normalised depth, GT (after the GT rule) and the maps."""
    rgb, depth, gt, *maps = columns
    return ([read_rgb(rgb.files[stem]), read_depth(depth.files[stem], invert_depth),
             apply_gt_rule(read_gt_map(gt.files[stem]))] + [read_gray_map(column.files[stem]) for column in maps])


def mosaic(rows: list[list[np.ndarray]], size: int) -> tuple[np.ndarray, int]:
    """The tiles on a white grid of cells ``size`` px high, as wide as the widest GT needs;
    returns the image and the cell width."""
    aspect = max(row[2].shape[1] / row[2].shape[0] for row in rows)
    cell_w = max(1, round(size * aspect))
    n_cols = len(rows[0])
    grid = np.full((len(rows) * (size + GAP) - GAP, n_cols * (cell_w + GAP) - GAP, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            y, x = i * (size + GAP), j * (cell_w + GAP)
            grid[y:y + size, x:x + cell_w] = fit_tile(image, size, cell_w)
    return grid, cell_w


def draw_figure(grid: np.ndarray, cell_w: int, titles: list[str], row_labels: list[str], out) -> list[Path]:
    """Write ``grid`` with column titles above and row labels to its left as FIG.png and FIG.pdf
    (each to a temporary name beside it, then renamed, once both are drawn)."""
    from .plots import import_matplotlib

    plt = import_matplotlib()
    cell_h = (grid.shape[0] + GAP) // len(row_labels) - GAP
    fig = plt.figure(figsize=(grid.shape[1] / DPI, grid.shape[0] / DPI), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(grid, interpolation="none")
    ax.set_axis_off()
    for j, title in enumerate(titles):
        ax.text(j * (cell_w + GAP) + cell_w / 2, -6, title, ha="center", va="bottom", fontsize=12)
    for i, label in enumerate(row_labels):
        ax.text(-8, i * (cell_h + GAP) + cell_h / 2, label, ha="right", va="center", fontsize=10)
    paths = figure_paths(out)
    try:
        with ExitStack() as stack:  # both files are renamed into place once both are drawn
            for path in paths:
                fig.savefig(stack.enter_context(atomic_file(path)), format=path.suffix[1:], dpi=DPI,
                            bbox_inches="tight", pad_inches=0.04)
    finally:
        plt.close(fig)
    return list(paths)


def qualitative_figure(data_root, dataset: str, preds: dict, out, stems=None, n: int = 6,
                       rank_by: str | None = None, size: int = 160, invert_depth: bool = False) -> list[str]:
    """Draw the comparison figure of ``dataset`` and write it to ``out`` (.png and .pdf).

    ``preds``: ``{label: folder}`` in column order, each folder holding ``<dataset>/<stem>.png``.
    ``stems``: the rows, in order; default: ``n`` rows picked by the S-measure of ``rank_by``
    (a label of ``preds``; default the first) with :func:`pick_rows`. ``size``: cell height in px.
    ``invert_depth``: show depth flipped (near = bright for datasets stored near = dark).
    Returns the stems of the rows; raises :class:`EvalError` naming a missing or bad file/folder.
    """
    if not preds:
        raise EvalError("no prediction folders given")
    rank_by = next(iter(preds)) if rank_by is None else rank_by
    if rank_by not in preds:
        raise EvalError(f"--rank-by {rank_by!r} is not one of the methods: {', '.join(preds)}")
    if n < 1 or size < 8:
        raise EvalError(f"need at least one row and 8 px cells (got n={n}, size={size})")
    columns = dataset_columns(data_root, dataset, preds)
    gt = columns[2]
    ranker = columns[3 + list(preds).index(rank_by)]
    if stems is None:
        check_stems(gt.files, [ranker])
        scores = s_measures(gt.files, ranker, gt)
        stems = pick_rows(scores, n)
    else:
        stems = list(stems)
        check_stems(stems, [gt, ranker])
        scores = s_measures(stems, ranker, gt)
    check_stems(stems, columns)
    if not stems:
        raise EvalError(f"no GT images in {gt.folder}")
    grid, cell_w = mosaic([row_images(stem, columns, invert_depth) for stem in stems], size)
    labels = [f"{stem}\n{rank_by}: S={scores[stem]:.3f}" for stem in stems]
    draw_figure(grid, cell_w, [column.title for column in columns], labels, out)
    return stems


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eval.qualitative", description=__doc__.split("\n\n")[0], epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-root", required=True, type=Path, help="folder holding one folder per dataset")
    parser.add_argument("--dataset", required=True, metavar="NAME")
    parser.add_argument("--pred", nargs="+", required=True, metavar="[LABEL=]PATH",
                        help="method folders, one column each in this order; named after the folder unless LABEL=")
    parser.add_argument("--out", required=True, type=Path, metavar="FIG", help="writes FIG.png and FIG.pdf")
    parser.add_argument("--stems", nargs="+", metavar="STEM", help="the rows, in order (default: picked by S-measure)")
    parser.add_argument("--n", type=int, default=6, help="rows picked without --stems (default: 6)")
    parser.add_argument("--rank-by", metavar="LABEL",
                        help="method whose S-measure picks and labels rows (default: first)")
    parser.add_argument("--size", type=int, default=160, help="cell height in px (default: 160)")
    parser.add_argument("--invert-depth", action="store_true", help="show depth flipped (near = bright)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line (``python -m eval.qualitative``); errors are one line, exit 1."""
    return run_cli(get_args_parser(), _run, argv)


def _run(args: argparse.Namespace) -> int:
    stems = qualitative_figure(args.data_root, args.dataset, parse_preds(args.pred, runs=False), args.out,
                               stems=args.stems, n=args.n, rank_by=args.rank_by, size=args.size,
                               invert_depth=args.invert_depth)
    png, pdf = figure_paths(args.out)
    print(f"wrote {png} and {pdf} ({len(stems)} rows: {' '.join(stems)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
