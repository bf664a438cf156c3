"""``python -m eval``: evaluate saliency-map folders against dataset GT."""
import argparse
import warnings
from pathlib import Path

from utils.cli import run_cli
from utils.errors import EvalError
from .protocol import PROTOCOLS

EXAMPLES = """examples:
  python -m eval --pred maps/CDINet --data-root data/test --datasets NJU2K NLPR STERE DES SIP LFSD SSD --out out/cdinet
  python -m eval --pred maps/CDINet JL-DCF=maps/JL-DCF --data-root data/test \\
      --datasets NJU2K NLPR DES SIP --out out/compare --protocol matlab --workers 2

Each --pred folder holds <DATASET>/<stem>.png; the GT is read from DATA_ROOT/<DATASET>/GT/
(or Mask, masks, test_masks, ... in any case). OUT receives metrics.json, metrics.csv, table.md,
table.tex, curves.json and plots/<DATASET>_{pr,fm}.{png,pdf}; it is written only when everything
succeeded, and an existing non-empty OUT is refused unless --overwrite.
"""


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eval", description=__doc__, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--pred", nargs="+", required=True, metavar="[LABEL=]PATH",
                        help="method folders; the method is named after the folder unless LABEL= is given")
    parser.add_argument("--data-root", required=True, type=Path, help="folder holding one folder per dataset")
    parser.add_argument("--datasets", nargs="+", required=True, metavar="NAME[=FOLDER]",
                        help="datasets to evaluate; a name also finds the folder of another name of the same "
                        "benchmark (DES = RGBD135, DUT-RGBD = DUT-D = DUT, STERE = STEREO = STEREO1000, "
                        "NJU2K = NJUD); NAME=FOLDER names the GT folder under --data-root explicitly")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="pysodmetrics",
                        help="pysodmetrics (default): PySODMetrics 1.6.2; matlab: Fan's MATLAB toolbox")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: one per CPU core, at most 8)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="skip GT stems without a prediction (warn and record n_missing)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    parser.add_argument("--no-plots", action="store_true", help="skip the PR / F-measure curve figures")
    return parser


def parse_preds(items: list[str]) -> dict[str, Path]:
    """``LABEL=PATH`` or ``PATH`` (labelled by the folder's name) into ``{label: path}``."""
    preds: dict[str, Path] = {}
    for item in items:
        label, sep, path = item.partition("=")
        path = Path(path) if sep else Path(item)
        label = label if sep else path.resolve().name
        if not label:
            raise EvalError(f"empty label in --pred {item!r}")
        if label in preds:
            raise EvalError(f"two --pred folders are labelled {label!r}; name them with LABEL=PATH")
        if not path.is_dir():
            raise EvalError(f"prediction folder not found: {path}")
        preds[label] = path
    return preds


def main(argv: list[str] | None = None) -> int:
    """The command line (``python -m eval``); errors are one line, exit 1."""
    warnings.formatwarning = lambda message, category, *rest: f"warning: {message}\n"
    return run_cli(get_args_parser(), _run, argv)


def _run(args: argparse.Namespace) -> int:
    from . import evaluate_folders, format_table

    result = evaluate_folders(
        parse_preds(args.pred), args.data_root, args.datasets, args.out, protocol=args.protocol,
        workers=args.workers, allow_missing=args.allow_missing, overwrite=args.overwrite,
        plots=not args.no_plots,
    )
    print(format_table(result))
    for note in result["notes"]:
        print(f"note: {note}")
    print(f"wrote {args.out}")
    return 0
