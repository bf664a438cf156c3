"""``python -m eval``: evaluate saliency-map folders against dataset GT."""
import argparse
import glob
import warnings
from pathlib import Path

from utils.cli import non_negative_int, run_cli
from utils.errors import EvalError

from .bootstrap import MIN_IMAGES_FOR_VERDICT
from .plots import add_limit_options, limits_from_args
from .protocol import PROTOCOLS
from .report import LAYOUTS
from .scores import METRIC_KEYS, TABLE_METRICS

EXAMPLES = """examples:
  python -m eval --pred maps/CDINet --data-root data/test --datasets NJU2K NLPR STERE DES SIP LFSD SSD --out out/cdinet
  python -m eval --pred maps/CDINet JL-DCF=maps/JL-DCF --data-root data/test \\
      --datasets NJU2K NLPR DES SIP --out out/compare --protocol matlab --workers 2
  python -m eval --pred CDINet=runs/seed0/maps,runs/seed1/maps,runs/seed2/maps JL-DCF=maps/JL-DCF \\
      --data-root data/test --datasets NJU2K NLPR --out out/seeds --compare CDINet JL-DCF
  python -m eval --pred 'CDINet=runs/seed*/maps' maps/JL-DCF maps/BBS-Net --data-root data/test \\
      --datasets NJU2K --out out/vs --reference CDINet --ci 2000 --ci-level 0.99 --seed 1
  python -m eval --pred maps/CDINet --data-root data/test --datasets NJU2K --out out/fast --ci 0
  python -m eval --pred maps/CDINet maps/JL-DCF --data-root data/test --datasets NJU2K NLPR SIP \\
      --out out/paper --metrics Sm wFm maxFm maxEm MAE --layout datasets-as-columns
  python -m eval --pred maps/CDINet maps/JL-DCF --data-root data/test --datasets NJU2K --out out/full \\
      --pr-xlim 0 1 --pr-ylim 0 1 --fm-ylim 0 1

Each --pred folder holds <DATASET>/<stem>.png; the GT is read from DATA_ROOT/<DATASET>/GT/
(or Mask, masks, test_masks, ... in any case). LABEL=DIR1,DIR2,... or LABEL='GLOB' (quoted, so
that eval expands it) makes one method of several runs (e.g. seeds): its mean over runs, the std
over runs and each run's numbers are reported. OUT receives metrics.json, metrics.csv, table.md,
table.tex, curves.json, per_image/<METHOD>/<DATASET>.{csv,npz}, plots/<DATASET>_{pr,fm}.{png,pdf}
and, with --compare/--reference, comparison.{md,json}; it is written only when everything
succeeded, and an existing non-empty OUT is refused unless --overwrite.

table.md and table.tex show the --metrics (default: Sm maxFm maxEm MAE, the columns of RGB-D SOD
papers) with methods as columns, one row per dataset and metric (--layout methods-as-columns, the
default: 7 datasets x 4 metrics stay 28 rows instead of 28 columns), or one column group per
dataset (--layout datasets-as-columns); metrics.json and metrics.csv hold all nine metrics. Each
dataset has a footnote: its number of GT images and whether it is the known test split.
table.tex needs only \\usepackage{booktabs}; paste it inside a table environment. The PR and
F-measure figures are zoomed on the top-right corner where methods differ (--pr-xlim, --pr-ylim,
--fm-ylim 0 1: full axes); python -m eval.plots OUT redraws them from OUT/curves.json.

Every dataset number gets a percentile bootstrap interval over images (--ci resamples, default
1000; --ci 0: none), shown as 0.918 ±.006 (half its width; bounds in metrics.json). On a dataset
of fewer than %(min_images)d images the interval is too unreliable for a verdict: comparisons say
"too few images for a verdict" and only the best value is bold. Each GT folder is compared with
the known test split of its dataset (eval/splits/): numbers on another split are not comparable
with papers that used it.
"""


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eval", description=__doc__,
        epilog=EXAMPLES % {"min_images": MIN_IMAGES_FOR_VERDICT},
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pred", nargs="+", required=True, metavar="[LABEL=]PATH",
                        help="method folders; the method is named after the folder unless LABEL= is given; "
                        "LABEL=DIR1,DIR2,... or LABEL='GLOB': one method of several runs (seeds)")
    parser.add_argument("--data-root", required=True, type=Path, help="folder holding one folder per dataset")
    parser.add_argument("--datasets", nargs="+", required=True, metavar="NAME[=FOLDER]",
                        help="datasets to evaluate; a name also finds the folder of another name of the same "
                        "benchmark (DES = RGBD135, DUT-RGBD = DUT-D = DUT, STERE = STEREO = STEREO1000, "
                        "NJU2K = NJUD); NAME=FOLDER names the GT folder under --data-root explicitly")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--protocol", choices=PROTOCOLS, default=PROTOCOLS[0],
                        help="pysodmetrics (default): PySODMetrics 1.6.2; matlab: Fan's MATLAB toolbox")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: one per CPU core, at most 8)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="skip GT stems without a prediction (warn and record n_missing)")
    parser.add_argument("--ci", type=non_negative_int, default=1000, metavar="N",
                        help="bootstrap resamples of the images for the confidence intervals (default: 1000; "
                        "0: no intervals, comparisons or within-noise bolding)")
    parser.add_argument("--ci-level", type=float, default=0.95, metavar="L",
                        help="confidence level of the intervals (default: 0.95)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the bootstrap resampling (default: 0)")
    parser.add_argument("--compare", nargs=2, action="append", default=[], metavar=("A", "B"),
                        help="paired comparison A - B per dataset and metric, in comparison.md/.json "
                        "(repeatable)")
    parser.add_argument("--reference", metavar="LABEL",
                        help="compare every other method with LABEL (method - LABEL), in comparison.md/.json")
    parser.add_argument("--bold", choices=("best", "tied"), default=None,
                        help="tables: bold the best value of each dataset and metric (best), or also every "
                        "value within noise of it (tied: its paired interval of the difference from the best "
                        "includes 0; the default when intervals are on; not on too few images)")
    parser.add_argument("--metrics", nargs="+", default=None, metavar="KEY",
                        help=f"the metrics of the tables and the console, in this order (default: "
                        f"{' '.join(TABLE_METRICS)}); one of {', '.join(METRIC_KEYS)}")
    parser.add_argument("--layout", choices=LAYOUTS, default=LAYOUTS[0],
                        help="table.md / table.tex: a column per method and a row per dataset and metric "
                        "(methods-as-columns, the default: as papers print them, and it stays as wide as the "
                        "methods), or a row per method and a column group per dataset (datasets-as-columns)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    parser.add_argument("--no-plots", action="store_true", help="skip the PR / F-measure curve figures")
    add_limit_options(parser)
    return parser


def _expand(item: str, path: str) -> list[Path]:
    """The folders of one ``--pred`` path list: comma-separated, each a folder or a glob."""
    folders = []
    for part in path.split(","):
        if not part:
            raise EvalError(f"--pred {item!r}: an empty folder name")
        if Path(part).is_dir() or not any(c in part for c in "*?["):
            folders.append(Path(part))
            continue
        matches = sorted(Path(p) for p in glob.glob(part) if Path(p).is_dir())
        if not matches:
            raise EvalError(f"--pred {item!r}: no folder matches {part!r}")
        folders += matches
    return folders


def parse_preds(items: list[str], runs: bool = True) -> dict[str, Path | list[Path]]:
    """``LABEL=PATH`` or ``PATH`` (labelled by the folder's name) into ``{label: path}``; with
    ``runs``, ``LABEL=DIR1,DIR2,...`` or a glob gives ``{label: [folders]}`` (several runs)."""
    preds: dict[str, Path | list[Path]] = {}
    for item in items:
        label, sep, path = item.partition("=")
        path = path if sep else item
        folders = _expand(item, path) if runs else [Path(path)]
        label = label if sep else folders[0].resolve().name
        if not label:
            raise EvalError(f"empty label in --pred {item!r}")
        if label in preds:
            raise EvalError(f"two --pred folders are labelled {label!r}; name them with LABEL=PATH")
        if len(folders) > 1 and not sep:
            raise EvalError(f"--pred {item!r} names {len(folders)} folders: give the method a LABEL=")
        for folder in folders:
            if not folder.is_dir():
                raise EvalError(f"prediction folder not found: {folder}")
        preds[label] = folders if len(folders) > 1 else folders[0]
    return preds


def main(argv: list[str] | None = None) -> int:
    """The command line (``python -m eval``); errors are one line, exit 1."""
    warnings.formatwarning = lambda message, category, *rest: f"warning: {message}\n"
    return run_cli(get_args_parser(), _run, argv)


def _run(args: argparse.Namespace) -> int:
    from . import Bootstrap, evaluate_folders, format_table

    result = evaluate_folders(
        parse_preds(args.pred), args.data_root, args.datasets, args.out, protocol=args.protocol,
        workers=args.workers, allow_missing=args.allow_missing, overwrite=args.overwrite,
        plots=not args.no_plots, bootstrap=Bootstrap(args.ci, args.ci_level, args.seed) if args.ci else None,
        compare=args.compare, reference=args.reference, bold=args.bold, metrics=args.metrics, layout=args.layout,
        curve_limits=limits_from_args(args),
    )
    print(format_table(result))
    for note in result["notes"]:
        print(f"note: {note}")
    print(f"wrote {args.out}")
    return 0
