"""Inference speed of CDINet per backend and precision: model only and test.py end to end.

- model only: median seconds per forward pass on a random batch, per setting (PyTorch fp32,
  fp32 + channels_last, bf16 autocast + channels_last; onnxruntime fp32 and the Winograd form on
  the CPU);
- end to end: ``test.py`` on real-size images (the DES fixtures of tests/fixtures when present,
  else synthetic 640x480 data), decode + resize + forward + post-processing + PNG writing,
  in images/s, for each setting and batch size;
- side by side, a release-style pipeline: the release's test loop (PIL decoding and
  torchvision transforms per image, batch 1, ``torch.no_grad``, fp32, default memory format,
  ``F.interpolate`` + sigmoid + min-max, ``cv2.imwrite``) around the release's network computed
  as the release does (``bench/release_reference.py``), the baseline of the ratios and of the
  map differences (max and 99th percentile, in gray levels);
- every rate also as GFLOP/s (2 x the network's multiply-accumulates per image, the release's own
  count for its loop) and as a share of the machine's fp32 GEMM peak, measured in the same run
  (``bench.common.gemm_peak``): how close to the hardware's limit each pipeline is;
- weights: the keyed seed-0 weights (``bench/keyed_weights.py``) in the authors' layout
  (deterministic, untrained), or ``--checkpoint``. The JSON records the CPU model and flags
  (``bench.common.machine``).

    python -m bench.inference                        # CPU, 256x256
    python -m bench.inference --device cuda --batch-sizes 1 8 32 --images 200
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_RGBD = ROOT / "tests" / "fixtures" / "rgbd"
SETTINGS = {  # --settings key: (label, test.py flags)
    "torch-fp32": ("torch fp32", ["--backend", "torch", "--no-channels-last"]),
    "torch-cl": ("torch fp32 + channels_last", ["--backend", "torch", "--channels-last"]),
    "torch-bf16": ("torch bf16 autocast + channels_last", ["--backend", "torch", "--amp", "bf16", "--channels-last"]),
    "ort": ("onnxruntime fp32", ["--backend", "onnxruntime"]),
    "winograd": ("Winograd F(4x4,3x3) fp32 + channels_last (test.py's CPU default)", ["--backend", "winograd"]),
}
CPU_ONLY = {"ort", "winograd"}


def has_bf16_units() -> bool:
    """Whether the CPU computes bf16 natively (AVX-512 BF16 or AMX); without, PyTorch emulates it."""
    from bench.common import machine

    return any(flag in machine().get("cpu_simd", []) for flag in ("avx512_bf16", "amx_bf16"))


def settings_for(args) -> dict:
    """``{label: flags}`` of the settings to measure on ``args.device``: ``--settings``, else all
    of them except onnxruntime off the CPU and bf16 on a CPU without bf16 units."""
    on_cpu = args.device == "cpu"
    default = [key for key in SETTINGS if key != "torch-bf16" or not on_cpu or has_bf16_units()]
    keys = [key for key in args.settings or default if on_cpu or key not in CPU_ONLY]
    return {SETTINGS[key][0]: SETTINGS[key][1] for key in keys}


def model_only(model, size: int, batch: int, device_name: str, setting: str, repeats: int, onnx_path: Path) -> float:
    """Images/s of the bare forward pass of ``model`` (or of its ONNX file on onnxruntime)."""
    import torch

    from bench.common import median_seconds
    from models.export import OnnxRuntimeModel
    from utils.runtime import autocast_context, channels_last_if

    device = torch.device(device_name)
    rgb, depth = torch.randn(batch, 3, size, size), torch.randn(batch, 1, size, size)
    if setting.startswith("onnxruntime"):
        runtime = OnnxRuntimeModel(onnx_path)
        return batch / median_seconds(lambda: runtime(rgb, depth), repeats=repeats, warmup=1)
    if setting.startswith("Winograd"):
        from models.winograd import convert_to_winograd

        model = convert_to_winograd(model)[0]  # a copy: the other settings keep the plain model
    channels_last = "channels_last" in setting
    amp = "bf16" if "bf16" in setting else "none"
    model = model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    rgb, depth = (channels_last_if(channels_last, x.to(device)) for x in (rgb, depth))

    def forward():
        with torch.inference_mode(), autocast_context(device, amp):
            model(rgb, depth)

    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    return batch / median_seconds(forward, repeats=repeats, warmup=1, sync=sync)


def benchmark_data(tmp: Path, images: int) -> tuple[Path, str]:
    """A data root and dataset name: DES fixtures (repeated) or synthetic 640x480 images."""
    if FIXTURE_RGBD.is_dir():
        root = tmp / "data"
        for role in ("RGB", "depth"):
            (root / "DES" / role).mkdir(parents=True)
        sources = sorted((FIXTURE_RGBD / "DES" / "RGB").iterdir())
        for i in range(images):
            src = sources[i % len(sources)]
            (root / "DES" / "RGB" / f"{i:04d}{src.suffix}").write_bytes(src.read_bytes())
            depth = FIXTURE_RGBD / "DES" / "depth" / f"{src.stem}.bmp"
            (root / "DES" / "depth" / f"{i:04d}.bmp").write_bytes(depth.read_bytes())
        return root, "DES"
    from datasets.synthetic import generate

    generate(tmp / "syn", 0, images, 480, seed=0)
    return tmp / "syn" / "test", "SYN"


def release_style(root: Path, name: str, checkpoint: Path, size: int, out: Path, device_name: str) -> float:
    """Images/s of the release's per-image test loop (CDINet_test.py's structure) around the
    release's network as the release computes it: ``bench/release_reference.py`` (the authors'
    operations in their order, e.g. the semantic blocks' concatenation) with the checkpoint's
    weights in the authors' key layout."""
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from torchvision import transforms

    from bench.release_reference import reference_forward
    from models.weights import extract_state_dict, is_official_layout, strip_wrapper_prefixes
    from utils.checkpoint import read_checkpoint

    device = torch.device(device_name)
    state = strip_wrapper_prefixes(extract_state_dict(read_checkpoint(checkpoint), str(checkpoint)))
    if not is_official_layout(state):
        raise SystemExit(f"--checkpoint {checkpoint}: the release-style baseline needs the authors' key layout "
                         f"(CDINet.pth)")
    state = {key: value.to(device) for key, value in state.items()}
    rgb_transform = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                                        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    depth_transform = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                                          transforms.Normalize([0.485], [0.229])])
    out.mkdir(parents=True)
    images = sorted((root / name / "RGB").iterdir())
    start = time.perf_counter()
    with torch.no_grad():
        for path in images:
            rgb = Image.open(path).convert("RGB")
            depth = Image.open(next((root / name / "depth").glob(f"{path.stem}.*"))).convert("L")
            inputs = rgb_transform(rgb)[None].to(device), depth_transform(depth)[None].to(device)
            logits = reference_forward(state, *inputs)
            res = torch.sigmoid(F.interpolate(logits, size=rgb.size[::-1], mode="bilinear", align_corners=False))
            res = res[0, 0].cpu().numpy()
            res = (res - res.min()) / (res.max() - res.min() + 1e-8)
            cv2.imwrite(str(out / f"{path.stem}.png"), (res * 255).round().astype(np.uint8))
    return len(images) / (time.perf_counter() - start)


def read_maps(folder: Path) -> dict:
    return {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED).astype(np.int16) for p in folder.glob("*.png")}


def map_difference(maps: dict, reference: dict) -> str:
    """Max and 99th percentile of the per-pixel gray-level difference, over all images."""
    diff = np.concatenate([np.abs(maps[k] - reference[k]).ravel() for k in reference])
    return f"max {int(diff.max())}, p99 {int(np.percentile(diff, 99))} gray levels"


def release_macs(checkpoint: Path, size: int) -> float:
    """Multiply-accumulates of one forward pass of the release's network computed the release's
    way (``bench/release_reference.py``: the semantic blocks on concatenations)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bench.release_reference import reference_forward
    from models.weights import extract_state_dict, strip_wrapper_prefixes
    from utils.checkpoint import read_checkpoint

    state = strip_wrapper_prefixes(extract_state_dict(read_checkpoint(checkpoint), str(checkpoint)))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        reference_forward(state, torch.zeros(1, 3, size, size), torch.zeros(1, 1, size, size))
    return counter.get_total_flops() / 2


def with_gflops(row: dict, macs: float, peak: float) -> dict:
    """``row`` (images/s) with the GFLOP/s that rate means for a network of ``macs`` per image and
    its share of the machine's fp32 GEMM peak."""
    gflops = 2 * macs * row["value"] / 1e9
    return {**row, "gflop_per_s": gflops, "gemm_peak_pct": 100 * gflops / peak}


def end_to_end(args, tmp: Path, root: Path, name: str, checkpoint: Path, macs: float, peak: float) -> List[dict]:
    baseline = release_style(root, name, checkpoint, args.size, tmp / "maps_release_style", args.device)
    reference = read_maps(tmp / "maps_release_style")
    rows = [with_gflops({"benchmark": f"release-style pipeline ({args.device})",
                         "setting": f"{args.size}x{args.size}, batch 1, fp32, PIL + torchvision per image",
                         "value": baseline, "unit": "images/s", "ratio": 1.0},
                        release_macs(checkpoint, args.size), peak)]
    for setting, flags in settings_for(args).items():
        for batch in args.batch_sizes:
            out = tmp / f"maps_{len(rows)}"
            subprocess.run(
                [sys.executable, str(ROOT / "test.py"), "--checkpoint", str(checkpoint), "--data-root", str(root),
                 "--datasets", name, "--out", str(out), "--device", args.device, "--size", str(args.size),
                 "--batch-size", str(batch), "--workers", str(args.workers), *flags],
                capture_output=True, text=True, check=True, cwd=ROOT)
            record = json.loads((out / "test_info.json").read_text())["datasets"][name]
            stats, info = record["speed"], record["settings"]
            rows.append(with_gflops({
                "benchmark": f"test.py end to end ({args.device})",
                "setting": f"{args.size}x{args.size}, batch {batch}, {setting}, {args.workers} workers",
                "value": stats["end_to_end_images_per_s"], "unit": "images/s",
                "ratio": stats["end_to_end_images_per_s"] / baseline,
                "note": f"model {stats['model_fps']:.3f} FPS; maps vs release-style: "
                        f"{map_difference(read_maps(out / name), reference)}"
                        + (f"; ONNX {info['onnx_cache']} in {info['onnx_seconds']} s" if "onnx_cache" in info else "")},
                macs, peak))
    return rows


def run(args) -> List[dict]:
    import torch

    from bench.common import gemm_peak
    from models import load_weights
    from models.cdinet import CDINet
    from models.export import export_onnx
    from models.summary import count_macs

    peak = gemm_peak()[0]
    rows = [{"benchmark": "fp32 GEMM peak", "value": peak, "unit": "GFLOP/s",
             "setting": f"2048x2048 torch.mm, {torch.get_num_threads()} threads, best of 10"}]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = Path(args.checkpoint) if args.checkpoint else tmp / "CDINet.pth"
        if not args.checkpoint:
            from bench.keyed_weights import keyed_official_state_dict

            torch.save(keyed_official_state_dict(0), checkpoint)
        model = CDINet().eval()
        load_weights(model, checkpoint)
        macs = count_macs(model, args.size)
        onnx_path = tmp / "model.onnx"
        if any(label.startswith("onnxruntime") for label in settings_for(args)):
            start = time.perf_counter()
            export_onnx(model, onnx_path, args.size)
            rows.append({"benchmark": "ONNX export (once per checkpoint, then cached)",
                         "setting": "dynamo=True, dynamic shapes",
                         "value": time.perf_counter() - start, "unit": "s"})
        for setting in settings_for(args) if not args.end_to_end_only else []:
            for batch in args.batch_sizes:
                rate = model_only(model, args.size, batch, args.device, setting, args.repeats, onnx_path)
                rows.append(with_gflops({"benchmark": f"model forward ({args.device})",
                                         "setting": f"{args.size}x{args.size}, batch {batch}, {setting}",
                                         "value": rate, "unit": "images/s"}, macs, peak))
        root, name = benchmark_data(tmp, args.images)
        rows += end_to_end(args, tmp, root, name, checkpoint, macs, peak)
    return rows


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--images", type=int, default=16, help="images for the end-to-end runs")
    parser.add_argument("--repeats", type=int, default=3, help="timed forward passes (model only)")
    parser.add_argument("--workers", type=int, default=0, help="test.py --workers (default 0, its CPU default)")
    parser.add_argument("--end-to-end-only", action="store_true", help="skip the model-only rows")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS),
                        help="backends and precisions to measure (default: all; ort only on the CPU; torch-bf16 "
                        "only where the CPU has bf16 units (avx512_bf16 / amx_bf16): emulated, it takes minutes per "
                        "image at 256x256)")
    parser.add_argument("--checkpoint", help="weights (default: the keyed seed-0 weights of tests/; trained "
                        "weights make the bf16 map difference meaningful)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    from bench.common import report

    report(run(args), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
