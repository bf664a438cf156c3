"""Dump CDINet saliency maps for benchmark sets (the release's test-time post-processing).

Examples:
  python test.py --checkpoint runs/cdinet/weights_final.pth --data-root data/test --out maps/CDINet --eval
  python test.py --checkpoint CDINet.pth --data-root data/test --datasets NJU2K NLPR STERE DES SIP --out maps/release
  python test.py --checkpoint CDINet.pth --data-root data/test --datasets SSD --invert-depth SSD --out maps/x
  python test.py --checkpoint CDINet.pth --data-root data/test --datasets DES=RGBD135 --device cuda --batch-size 16 --amp bf16 --out maps/x
  python test.py --checkpoint CDINet.pth --data-root data/test --backend torch --out maps/x   # PyTorch on the CPU too
  python test.py --checkpoint CDINet.pth --export-onnx cdinet.onnx

The inputs go through the release's pixel path by default (Pillow decoding, torchvision-style
antialiased bilinear resize to --size, 8-bit depth / 255); a checkpoint of ours trained with
other data.preprocess settings or another size is tested with those, and the flags below
override either. Each map is written to OUT/<DATASET>/<stem>.png: 8-bit grayscale at the GT's
size (the RGB's where a stem has no GT), from bilinearly resized logits, sigmoid, per-image
min-max, x255 (CDINET.md). The checkpoint may be ours (training checkpoint or weights) or the
authors' CDINet.pth. OUT/test_info.json records every setting used.

On a CPU the network runs on onnxruntime by default (--backend auto): the checkpoint is
exported to ONNX once and cached beside it as <stem>.<sha256[:16]>.onnx (models/export.py);
its maps are those of PyTorch within 1 gray level, about 2x faster (README "Performance").
On CUDA, with --amp or --compile, PyTorch runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict

import cv2
import numpy as np
import torch
from tqdm import tqdm

from datasets import (DatasetSource, PreprocessConfig, RGBDSODDataset, build_test_transform,
                      list_datasets)
from utils.layout import find_dataset_folder
from models import CDINet, build_from_config, load_weights, read_checkpoint
from models.export import cached_onnx, export_onnx, onnx_difference
from models.postprocess import saliency_maps
from utils.cli import non_negative_int, positive_int, run_cli
from utils.errors import CDINetError
from utils.dist import select_device
from utils.runtime import autocast_context, channels_last_if, make_loader


class TestError(CDINetError):
    """Bad command-line input; the message names the path or dataset."""


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Write CDINet saliency maps for RGB-D SOD benchmark sets.",
        epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="our checkpoint/weights or the authors' CDINet.pth")
    parser.add_argument("--data-root", help="folder holding one sub-folder per dataset")
    parser.add_argument("--datasets", nargs="+", metavar="NAME[=FOLDER]",
                        help="datasets under --data-root (default: every dataset folder there); another name "
                        "of the same benchmark is found too (DES finds RGBD135), NAME=FOLDER names a folder")
    parser.add_argument("--out", help="output folder; maps go to OUT/<NAME>/<stem>.png")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--size", type=positive_int, help="network input size (default: the checkpoint's training size, "
                        "else 256 as the release)")
    parser.add_argument("--resize", choices=["pil", "opencv"], help="input resize (default: the checkpoint's "
                        "data.preprocess, else pil: Pillow's antialiased bilinear, as the release)")
    parser.add_argument("--interpolation", choices=["linear", "nearest", "cubic", "area"],
                        help="input resize filter (default: the checkpoint's, else linear)")
    parser.add_argument("--depth-scaling", choices=["release", "minmax"], help="release: 8-bit depth / 255 "
                        "(16-bit/float: min-max); minmax: every map (default: the checkpoint's, else release)")
    parser.add_argument("--depth-resize", choices=["direct", "rgb_first"], help="direct: depth straight to "
                        "--size (release); rgb_first: to the RGB size first (default: the checkpoint's, else direct)")
    parser.add_argument("--batch-size", type=positive_int, help="images per forward pass (default: 1 on CPU, where it "
                        "is fastest, 8 on CUDA)")
    parser.add_argument("--workers", type=non_negative_int, help="DataLoader workers (default: 0 on CPU, where workers would "
                        "take cores from the network, 4 on CUDA)")
    parser.add_argument("--amp", nargs="?", const="bf16", default="none", choices=["none", "bf16", "fp16"],
                        help="autocast; --amp alone means bf16")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                        help="channels_last memory format for the torch backend (default on: 1.3x faster fp32 "
                        "on CPU, same maps)")
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime"],
                        help="auto (default): onnxruntime on a CPU with fp32 and no --compile (exported once, "
                        "cached beside the checkpoint), else torch")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (torch backend)")
    parser.add_argument("--tta", action="store_true", help="average the logits of the image and its horizontal flip")
    parser.add_argument("--invert-depth", nargs="+", default=[], metavar="NAME",
                        help="datasets whose depth is near = dark (CDINet expects near = bright)")
    parser.add_argument("--overwrite", action="store_true", help="write into an existing, non-empty --out")
    parser.add_argument("--eval", action="store_true", help="evaluate the written maps with eval/ and print the table")
    parser.add_argument("--protocol", default="pysodmetrics", choices=["pysodmetrics", "matlab"],
                        help="metric protocol for --eval")
    parser.add_argument("--export-onnx", metavar="FILE", help="export the model to ONNX (dynamic batch and size, "
                        "torch.onnx.export(dynamo=True)), check it with onnxruntime at another batch and size, and stop")
    return parser


def load_model(checkpoint: str, device: torch.device, channels_last: bool) -> tuple[CDINet, Dict[str, Any]]:
    """The model with the checkpoint's weights (strict), and the config saved with them (our
    checkpoints; empty for the authors' file)."""
    content = read_checkpoint(checkpoint)
    trained = content.get("config") if isinstance(content, dict) else None
    trained = trained if isinstance(trained, dict) else {}
    model = build_from_config(trained.get("model", {}), False)  # the backbone and variant it was trained as
    load_weights(model, content, origin=str(checkpoint))
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return model.to(device, memory_format=memory_format).eval(), trained


def input_settings(args, trained: Dict[str, Any]) -> tuple[int, PreprocessConfig, Dict[str, str]]:
    """Network size and pixel path: a flag wins, then the checkpoint's training config, then
    the release. Also says where each value came from, for test_info.json."""
    data = trained.get("data", {})
    saved = {**PreprocessConfig().to_dict(), **data.get("preprocess", {})}
    values, origin = {}, {}
    for key in PreprocessConfig().to_dict():
        flag = getattr(args, key)
        values[key] = flag if flag is not None else saved[key]
        origin[key] = "command line" if flag is not None else (
            "checkpoint config" if key in data.get("preprocess", {}) else "release default")
    saved_size = data.get("augment", {}).get("size")
    size = args.size or saved_size or 256
    origin["size"] = "command line" if args.size else ("checkpoint config" if saved_size else "release default")
    return size, PreprocessConfig(**values), origin


def predict(model, rgb: torch.Tensor, depth: torch.Tensor, tta: bool) -> torch.Tensor:
    """Logits; with ``tta`` the mean of the logits of the input and its horizontal flip."""
    logits = model(rgb, depth)
    if tta:
        logits = (logits + model(rgb.flip(-1), depth.flip(-1)).flip(-1)) / 2
    return logits


def write_png_atomic(path: Path, image: np.ndarray) -> None:
    """Encode, write to a temporary name, rename: an interrupted run leaves no truncated PNG."""
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise TestError(f"cannot encode {path}")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(encoded.tobytes())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
    folders: Dict[str, Path] = {}
    for item in args.datasets or found:
        name, sep, folder = item.partition("=")
        path = root / folder if sep else find_dataset_folder(root, name)
        if path is None or not path.is_dir():
            raise TestError(f"dataset {item} not under {root}; found: {', '.join(found) or 'none'}")
        folders[name] = path
    if not folders:
        raise TestError(f"no dataset folders (with RGB and depth folders inside) under {root}")
    unknown = sorted(set(args.invert_depth) - set(folders))
    if unknown:
        raise TestError(f"--invert-depth names datasets not being run: {', '.join(unknown)} "
                        f"(running: {', '.join(folders)})")
    return folders


def build_datasets(folders: Dict[str, Path], args) -> Dict[str, RGBDSODDataset]:
    """Pair every dataset's files (and, for ``--eval``, check that each has its GT) before
    anything is written, so a bad input never leaves a half-filled ``--out``."""
    datasets = {}
    for name, folder in folders.items():
        source = DatasetSource(folder, invert_depth=name in args.invert_depth, name=name)
        datasets[name] = RGBDSODDataset(source, build_test_transform(args.size, args.preprocess), load_gt=False)
        if args.eval:
            no_gt = [s.name for s in datasets[name].samples if s.gt is None]
            if no_gt:
                raise TestError(f"--eval needs GT: {len(no_gt)} of {len(datasets[name])} images of {name} have "
                                f"no GT file in {folder} (e.g. {no_gt[0]}); run without --eval to write the maps")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise TestError(f"output folder {out} exists and is not empty; pass --overwrite to write into it")
    return datasets


@torch.inference_mode()
def dump_dataset(runner, name: str, dataset: RGBDSODDataset, args, device, pool: ThreadPoolExecutor) -> Dict[str, float]:
    """Write one dataset's maps; returns image count, model-only FPS and end-to-end images/s."""
    loader = make_loader(dataset, args.batch_size, args.workers, device)
    out_dir = Path(args.out) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    model_seconds, pending, start = 0.0, [], time.perf_counter()
    for batch in tqdm(loader, desc=name, unit="batch", dynamic_ncols=True):
        rgb = channels_last_if(args.channels_last, batch["rgb"].to(device, non_blocking=True))
        depth = channels_last_if(args.channels_last, batch["depth"].to(device, non_blocking=True))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        tick = time.perf_counter()
        with autocast_context(device, args.amp):
            logits = predict(runner, rgb, depth, args.tta)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        model_seconds += time.perf_counter() - tick
        maps = saliency_maps(logits.float(), batch["size"].tolist())
        for name, image in zip(batch["name"], maps):
            pending.append(pool.submit(write_png_atomic, out_dir / f"{name}.png", image.cpu().numpy()))
    for future in pending:
        future.result()
    total = time.perf_counter() - start
    return {"images": len(dataset), "model_fps": len(dataset) / model_seconds, "end_to_end_images_per_s": len(dataset) / total}


def choose_backend(args, device: torch.device) -> str:
    """``args.backend``, with ``auto`` resolved: onnxruntime where it is exact and faster (CPU,
    fp32, no --compile, onnxruntime installed), else torch. An impossible choice is an error."""
    try:
        import onnxruntime  # noqa: F401
        have_onnxruntime = True
    except ImportError:
        have_onnxruntime = False
    if args.backend == "onnxruntime":
        blockers = [text for text, present in (("--device cuda", device.type != "cpu"), (f"--amp {args.amp}", args.amp != "none"),
                                               ("--compile", args.compile), ("onnxruntime not installed", not have_onnxruntime))
                    if present]
        if blockers:
            raise TestError(f"--backend onnxruntime runs fp32 on the CPU only; not with: {', '.join(blockers)}")
    if args.backend != "auto":
        return args.backend
    return "onnxruntime" if device.type == "cpu" and args.amp == "none" and not args.compile and have_onnxruntime else "torch"


def build_runner(model: CDINet, args, backend: str) -> tuple[Any, Dict[str, Any]]:
    """The callable that computes logits, and what test_info.json records about it."""
    if backend == "torch":
        return (torch.compile(model) if args.compile else model), {}
    tick = time.perf_counter()
    runtime, how = cached_onnx(Path(args.checkpoint), model, args.size)
    return runtime, {"onnx_file": str(runtime.path), "onnx_cache": how,
                                    "onnx_seconds": round(time.perf_counter() - tick, 2)}


def main(args: argparse.Namespace) -> int:
    if args.export_onnx:
        model, trained = load_model(args.checkpoint, torch.device("cpu"), channels_last=False)
        size, step = input_settings(args, trained)[0], model.input_multiple
        export_onnx(model, Path(args.export_onnx), size)
        difference = onnx_difference(Path(args.export_onnx), model, [(1, size, size), (3, size + 2 * step, size + step)])
        print(f"wrote {args.export_onnx} (inputs rgb (B,3,H,W), depth (B,1,H,W); H, W multiples of {step}); "
              f"max |logits - PyTorch| at batch 1 and 3, {size}x{size} and {size + 2 * step}x{size + step}: {difference:.2e}")
        return 0
    folders = resolve_datasets(args)
    device = select_device(args.device)
    on_gpu = device.type == "cuda"
    args.batch_size = args.batch_size or (8 if on_gpu else 1)
    args.workers = args.workers if args.workers is not None else (4 if on_gpu else 0)
    backend = choose_backend(args, device)
    args.channels_last = args.channels_last and backend == "torch"
    model, trained = load_model(args.checkpoint, device, args.channels_last)
    args.size, args.preprocess, origin = input_settings(args, trained)
    if args.size % model.input_multiple:
        raise TestError(f"--size must be a multiple of {model.input_multiple} for {model.backbone_name}, got {args.size}")
    datasets = build_datasets(folders, args)
    runner, runner_info = build_runner(model, args, backend)
    report = {"checkpoint": str(args.checkpoint), "model": {"backbone": model.backbone_name, **model.variant.to_dict()},
              "size": args.size, "preprocess": args.preprocess.to_dict(),
              "release_pixel_path": args.preprocess.is_release and args.size == 256, "settings_from": origin,
              "map_size": "GT size where a GT file exists, else RGB size", "tta": args.tta, "amp": args.amp,
              "backend": backend, "compile": args.compile, **runner_info,
              "channels_last": args.channels_last, "device": str(device), "batch_size": args.batch_size,
              "folders": {name: str(folder) for name, folder in folders.items()},
              "invert_depth": {name: name in args.invert_depth for name in folders},
              "datasets": {}}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for name, dataset in datasets.items():
            stats = dump_dataset(runner, name, dataset, args, device, pool)
            report["datasets"][name] = stats
            print(f"{name}: {stats['images']} maps, model {stats['model_fps']:.2f} FPS, "
                  f"end to end {stats['end_to_end_images_per_s']:.2f} images/s", flush=True)
    info = Path(args.out) / "test_info.json"
    info.with_name(".test_info.json.tmp").write_text(json.dumps(report, indent=2))
    os.replace(info.with_name(".test_info.json.tmp"), info)
    if args.eval:
        from eval import evaluate_folders, format_table

        specs = [f"{name}={folder.name}" for name, folder in folders.items()]
        results = evaluate_folders({Path(args.out).name: Path(args.out)}, args.data_root, specs,
                                   Path(args.out) / "eval", protocol=args.protocol, overwrite=args.overwrite)
        print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(get_args_parser(), main))
