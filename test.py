"""Dump saliency maps of a registered model (CDINet, BBS-Net, ...) for benchmark sets, with the
release's test-time pipeline of that model.

Examples:
  python test.py --checkpoint runs/cdinet/weights_final.pth --data-root data/test --out maps/CDINet --eval
  python test.py --checkpoint CDINet.pth --data-root data/test --datasets NJU2K NLPR STERE DES SIP --out maps/release
  python test.py --checkpoint CDINet.pth --data-root data/test --datasets SSD DES --invert-depth auto --out maps/x
  python test.py --checkpoint CDINet.pth --data-root data/test --datasets SSD --invert-depth SSD --out maps/x
  python test.py --checkpoint CDINet.pth --data-root data/test --datasets DES=RGBD135 --out maps/x
  python test.py --checkpoint CDINet.pth --data-root data/test --device cuda --batch-size 16 --amp bf16 --out maps/x
  python test.py --checkpoint CDINet.pth --data-root data/test --backend torch --out maps/x   # PyTorch on the CPU too
  python test.py --checkpoint CDINet.pth --data-root data/test --datasets SIP --out maps/x --overwrite   # redo one set
  python test.py --checkpoint BBSNet.pth --data-root data/test --out maps/BBSNet     # the authors' BBS-Net file
  python test.py --checkpoint CDINet.pth --export-onnx cdinet.onnx

The checkpoint says which model it holds: a file of ours records its model and options, an
authors' file is recognised by its keys (CDINet.pth, BBSNet.pth). The inputs go through that
model's release pixel path by default (its input spec: size, normalisation; Pillow decoding,
torchvision-style antialiased bilinear resize, 8-bit depth / 255); a checkpoint of ours trained
with other data.preprocess settings or another size is tested with those, and --size, --resize,
--interpolation and --depth-* override either. Each map is written to OUT/<DATASET>/<stem>.png:
8-bit grayscale at the GT's size (the RGB's where a stem has no GT), from bilinearly resized
logits, sigmoid, per-image min-max, x255 (docs/pixel-path.md).

Depth polarity: each model expects one convention (its input spec's near; python -m models --list
shows it). Where a dataset has GT, its depth polarity is measured (as python -m
datasets.check does, on up to 50 samples) and a warning names the flag when the setting in use
contradicts the model's; --invert-depth auto applies the measured verdict and says so. Depth holes
(pixels stored as 0) are counted on the same maps: where the maps are taken as near = dark and
more than 1% of their pixels are holes, a warning names --depth-holes far.

OUT/test_info.json keeps one record per dataset folder in OUT (checkpoint SHA-256, every
setting, the depth decision and its measurement, time): re-running some datasets with
--overwrite replaces their folders and records and keeps the others'. A dataset's maps are
written to a temporary folder and moved into place when complete.

On a CPU, --backend auto runs, of the backends listed in the model's cpu_backend_costs, the
one that saves the most time on this job once its set-up is paid (the Winograd form's
conversion, the ONNX export), else PyTorch; every backend gives the authors' maps within 1 gray
level (docs/inference.md; speeds in docs/performance.md). --backend onnxruntime exports the
checkpoint to ONNX once (announced) and caches it beside it, or in --onnx-cache, as
<stem>.<sha256[:16]>.onnx. On CUDA, with --amp or --compile, PyTorch runs. A note line names the
backend chosen and why.
"""
from __future__ import annotations

import utils.cpu_threads  # noqa: F401  (before torch: OpenMP's wait policy)

# isort: split
import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict

import torch
from tqdm import tqdm

from datasets import DatasetSource, RGBDSODDataset
from datasets.polarity import AUTO, DepthDecision, decide_and_say
from eval.protocol import PROTOCOLS
from inference import BACKENDS, Predictor
from models import describe, get_entry, model_from_checkpoint
from models.export import export_onnx, onnx_difference
from utils.cli import non_negative_int, positive_int, run_cli
from utils.config import AMP_MODES, DEVICES, PreprocessConfig
from utils.errors import CDINetError
from utils.files import atomic_folder, atomic_write_bytes, atomic_write_text
from utils.images import encode_png
from utils.layout import find_dataset_folder, find_role_dirs, list_datasets
from utils.runtime import make_loader

INFO_FORMAT = "cdinet-sod/test-info/2"


class TestError(CDINetError):
    """Bad command-line input; the message names the path or dataset."""


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Write saliency maps of a registered model for RGB-D SOD benchmark sets.",
        epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="our checkpoint/weights or an authors' release "
                        "(CDINet.pth, BBSNet.pth)")
    parser.add_argument("--data-root", help="folder holding one sub-folder per dataset")
    parser.add_argument("--datasets", nargs="+", metavar="NAME[=FOLDER]",
                        help="datasets under --data-root (default: every dataset folder there); another name "
                        "of the same benchmark is found too (DES finds RGBD135), NAME=FOLDER names a folder")
    parser.add_argument("--out", help="output folder; maps go to OUT/<NAME>/<stem>.png")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    parser.add_argument("--size", type=positive_int,
                        help="network input size (default: the checkpoint's training size, "
                        "else the model's release size, its input spec's: python -m models --list)")
    PreprocessConfig.add_arguments(parser, "the checkpoint's data.preprocess, else the model's release")
    parser.add_argument("--batch-size", type=positive_int, help="images per forward pass (default: 1 on CPU, "
                        "8 on CUDA)")
    parser.add_argument("--workers", type=non_negative_int,
                        help="DataLoader workers (default: 0 on CPU, where workers would "
                        "take cores from the network, 4 on CUDA)")
    parser.add_argument("--amp", nargs="?", const="bf16", default="none", choices=AMP_MODES,
                        help="autocast; --amp alone means bf16")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                        help="channels_last memory format for the torch backend (default on; the "
                        "maps are the same either way)")
    parser.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="auto (default): on a CPU with fp32 and no --compile, the backend of the model's "
                        "cpu_backend_costs that saves the most on this job once its set-up is paid, else torch")
    parser.add_argument("--onnx-cache", metavar="DIR",
                        help="folder for the ONNX export (default: beside the checkpoint)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (torch backend)")
    parser.add_argument("--tta", action="store_true", help="average the logits of the image and its horizontal flip")
    parser.add_argument("--invert-depth", nargs="+", default=[], metavar="NAME|auto",
                        help="datasets whose depth polarity is the opposite of the model's (its input spec's "
                        "near: python -m models --list), or auto: each dataset as its measured polarity "
                        "says (datasets with GT)")
    parser.add_argument("--skip-bad", action="store_true", help="skip unreadable or unpaired samples (listed in "
                        "test_info.json) instead of stopping")
    parser.add_argument("--overwrite", action="store_true", help="write into an existing, non-empty --out "
                        "(the datasets run now are replaced, the others kept)")
    parser.add_argument("--eval", action="store_true", help="evaluate the written maps with eval/ and print the table")
    parser.add_argument("--protocol", default=PROTOCOLS[0], choices=PROTOCOLS,
                        help="metric protocol for --eval")
    parser.add_argument("--export-onnx", metavar="FILE", help="export the model to ONNX (dynamic batch and size, "
                        "torch.onnx.export(dynamo=True)), check it with onnxruntime at another batch and size, "
                        "and stop")
    return parser


def resolve_datasets(args) -> Dict[str, Path]:
    """``{name: folder}`` of the datasets to run, after checking names and flags. Nothing is
    written yet. Without ``--datasets``: every dataset folder under ``--data-root``."""
    for flag in ("data_root", "out"):
        if not getattr(args, flag):
            raise TestError(f"--{flag.replace('_', '-')} is required (unless --export-onnx)")
    root = Path(args.data_root)
    if not root.is_dir():
        raise TestError(f"--data-root {root} is not a folder")
    found = list_datasets(root)
    inside = find_role_dirs(root)
    if not found and {"rgb", "depth"} <= set(inside):
        raise TestError(f"--data-root {root} is itself a dataset folder ({inside['rgb'].name}/ and "
                        f"{inside['depth'].name}/ inside): pass its parent, --data-root {root.parent} "
                        f"--datasets {root.resolve().name}")
    folders: Dict[str, Path] = {}
    for item in args.datasets or found:
        name, sep, folder = item.partition("=")
        path = root / folder if sep else find_dataset_folder(root, name)
        if path is None or not path.is_dir():
            raise TestError(f"dataset {item} not under {root}; found: {', '.join(found) or 'none'}")
        folders[name] = path
    if not folders:
        raise TestError(f"no dataset folders (with RGB and depth folders inside) under {root}")
    if AUTO in args.invert_depth and len(args.invert_depth) > 1:
        raise TestError(f"--invert-depth takes dataset names or '{AUTO}' alone, got {' '.join(args.invert_depth)}")
    unknown = sorted(set(args.invert_depth) - set(folders) - {AUTO})
    if unknown:
        raise TestError(f"--invert-depth names datasets not being run: {', '.join(unknown)} "
                        f"(running: {', '.join(folders)})")
    return folders


def build_datasets(folders: Dict[str, Path], predictor: Predictor, args) -> Dict[str, RGBDSODDataset]:
    """Pair every dataset's files (and, for ``--eval``, check that each has its GT) before
    anything is written, so a bad input never leaves a half-filled ``--out``."""
    datasets = {}
    for name, folder in folders.items():
        datasets[name] = RGBDSODDataset(DatasetSource(folder, name=name), predictor.transform, load_gt=False,
                                        skip_bad=args.skip_bad, skip_option="--skip-bad")
        if args.eval:
            no_gt = [s.name for s in datasets[name].samples if s.gt is None]
            if no_gt:
                raise TestError(f"--eval needs GT: {len(no_gt)} of {len(datasets[name])} images of {name} have "
                                f"no GT file in {folder} (e.g. {no_gt[0]}); run without --eval to write the maps")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise TestError(f"output folder {out} exists and is not empty; pass --overwrite to write into it")
    return datasets


def depth_decisions(datasets: Dict[str, RGBDSODDataset], invert_depth: list, model: str, near: str,
                    holes: str) -> Dict[str, DepthDecision]:
    """Per dataset: its measured depth polarity (where it has GT) and whether its depth is
    inverted for a model expecting ``near``; a warning line for each dataset whose setting the
    measurement contradicts, a note of what ``auto`` decided, and, with ``holes``
    (``--depth-holes``) ``keep``, a warning where depth taken as near = dark has many holes."""
    decisions = {}
    for name, dataset in datasets.items():
        setting = AUTO if invert_depth == [AUTO] else name in invert_depth
        decisions[name] = decision = decide_and_say(name, setting, dataset.samples, near, model, lambda invert: (
            f"pass --invert-depth {name} (or --invert-depth auto)" if invert
            else f"leave {name} out of --invert-depth (or pass --invert-depth auto)"),
            "--depth-holes far" if holes == "keep" else None)
        dataset.set_invert_depth(decision.invert)
    return decisions


def dump_dataset(predictor: Predictor, dataset: RGBDSODDataset, out_dir: Path, args,
                 pool: ThreadPoolExecutor) -> Dict[str, float]:
    """Write one dataset's maps into ``out_dir``; returns model-only FPS and end-to-end images/s."""
    loader = make_loader(dataset, predictor.batch_size, args.workers, predictor.device)
    sync = torch.cuda.synchronize if predictor.device.type == "cuda" else (lambda: None)
    model_seconds, pending, start = 0.0, [], time.perf_counter()
    for batch in tqdm(loader, desc=dataset.sources[0].name, unit="batch", dynamic_ncols=True):
        sync()
        tick = time.perf_counter()
        logits = predictor.logits(batch["rgb"], batch["depth"])
        sync()
        model_seconds += time.perf_counter() - tick
        for name, image in zip(batch["name"], predictor.maps(logits, batch["size"].tolist())):
            pending.append(pool.submit(atomic_write_bytes, out_dir / f"{name}.png", encode_png(image)))
    for future in pending:
        future.result()
    total = time.perf_counter() - start
    # Four significant digits: a slow or loaded machine still records a positive rate.
    return {"model_fps": float(f"{len(dataset) / model_seconds:.4g}"),
            "end_to_end_images_per_s": float(f"{len(dataset) / total:.4g}")}


def write_dataset(predictor: Predictor, dataset: RGBDSODDataset, out: Path, name: str, args,
                  pool: ThreadPoolExecutor) -> Dict[str, float]:
    """The maps of ``name`` in a temporary folder of ``out``, moved to ``out/name`` when all are
    written: an interrupted run leaves the previous maps of ``name`` (if any) as they were."""
    with atomic_folder(out / name) as partial:
        return dump_dataset(predictor, dataset, partial, args, pool)


def read_records(path: Path) -> Dict[str, Any]:
    """The per-dataset records of an existing test_info.json (``{}`` if there is none). A file of
    format 1 (one record shared by its datasets) is kept as one record per dataset it listed."""
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise TestError(f"{path} is not valid JSON: move it away to write maps into {path.parent}") from None
    if info.get("format") == INFO_FORMAT:
        return dict(info["datasets"])
    shared = {key: value for key, value in info.items() if key != "datasets"}  # format 1's shared record
    return {name: {"format": "cdinet-sod/test-info/1", **shared, **stats}
            for name, stats in info.get("datasets", {}).items()}


def write_records(path: Path, records: Dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps({"format": INFO_FORMAT, "datasets": records}, indent=2) + "\n")


def export(args) -> int:
    """``--export-onnx``: the model to an ONNX file, checked against PyTorch at two shapes."""
    model, trained = model_from_checkpoint(args.checkpoint)
    spec = model.input_spec
    size = args.size or trained.get("data", {}).get("augment", {}).get("size") or spec.size
    spec.check_size(size, "--size", describe(model))
    step = spec.multiple
    export_onnx(model, Path(args.export_onnx), size)
    difference = onnx_difference(Path(args.export_onnx), model, [(1, size, size), (3, size + 2 * step, size + step)])
    print(f"wrote {args.export_onnx} (inputs rgb (B,3,H,W), depth (B,{spec.depth_channels},H,W); "
          f"H, W multiples of {step}); "
          f"max |logits - PyTorch| at batch 1 and 3, {size}x{size} and {size + 2 * step}x{size + step}: "
          f"{difference:.2e}")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.export_onnx:
        return export(args)
    folders = resolve_datasets(args)
    out = Path(args.out)
    records = read_records(out / "test_info.json")
    predictor = Predictor.from_checkpoint(
        args.checkpoint, size=args.size, **{name: getattr(args, name) for name in PreprocessConfig.names()},
        device=args.device, backend=args.backend,
        amp=args.amp, channels_last=args.channels_last, compile=args.compile, tta=args.tta,
        batch_size=args.batch_size, onnx_cache=args.onnx_cache)
    args.workers = args.workers if args.workers is not None else (4 if predictor.device.type == "cuda" else 0)
    datasets = build_datasets(folders, predictor, args)
    decisions = depth_decisions(datasets, args.invert_depth, get_entry(predictor.model.model_name).title,
                                predictor.spec.near, predictor.preprocess.depth_holes)
    predictor.prepare(sum(len(dataset) for dataset in datasets.values()))  # an ONNX export happens here
    predictor.notify(f"backend {predictor.backend} ({predictor.backend_reason})")
    settings = predictor.settings()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for name, dataset in datasets.items():
            speed = write_dataset(predictor, dataset, out, name, args, pool)
            records[name] = {"written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             "checkpoint": str(args.checkpoint), "checkpoint_sha256": predictor.checkpoint_sha256,
                             "folder": str(folders[name]), "images": len(dataset),
                             "skipped": [bad.reason for bad in dataset.skipped],
                             "depth": decisions[name].to_dict(), "settings": settings, "speed": speed}
            write_records(out / "test_info.json", records)
            print(f"{name}: {len(dataset)} maps, model {speed['model_fps']:.2f} FPS, "
                  f"end to end {speed['end_to_end_images_per_s']:.2f} images/s", flush=True)
    if args.eval:
        from eval import evaluate_folders, format_table

        specs = [f"{name}={folder.name}" for name, folder in folders.items()]
        results = evaluate_folders({out.name: out}, args.data_root, specs, out / "eval",
                                   protocol=args.protocol, overwrite=args.overwrite)
        print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(get_args_parser(), main))
