"""Inference speed of CDINet: model only and test.py end to end, plus bf16's effect on maps.

- model only: median seconds per forward pass (inference_mode) on a random batch, per setting;
- end to end: ``test.py`` on real-size images (the DES fixtures of tests/fixtures when present,
  else synthetic 640x480 data), decode + resize + forward + post-processing + PNG writing,
  in images/s, for each batch size;
- the largest gray-level difference between the maps of each setting and the fp32 maps;
- side by side, a release-style pipeline: the release's test loop (PIL decoding and
  torchvision transforms per image, batch 1, ``torch.no_grad``, fp32, default memory format,
  ``F.interpolate`` + sigmoid + min-max, ``cv2.imwrite``) around the same network, as the
  baseline of the end-to-end ratios.

    python -m bench.inference                        # CPU, 256x256
    python -m bench.inference --device cuda --batch-sizes 1 16 --images 200
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_RGBD = ROOT / "tests" / "fixtures" / "rgbd"
SETTINGS = {  # name: test.py flags
    "fp32": ["--no-channels-last"],
    "fp32 + channels_last (test.py's CPU default)": [],
    "bf16 autocast + channels_last": ["--amp", "bf16"],
}


def model_only(size: int, batch: int, device_name: str, setting: str, repeats: int) -> float:
    """Images/s of the bare forward pass."""
    import torch

    from bench.common import median_seconds
    from models import CDINet
    from utils.runtime import autocast_context, channels_last_if

    device = torch.device(device_name)
    channels_last = "channels_last" in setting
    amp = "bf16" if "bf16" in setting else "none"
    model = CDINet().eval().to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    rgb = channels_last_if(channels_last, torch.randn(batch, 3, size, size, device=device))
    depth = channels_last_if(channels_last, torch.randn(batch, 1, size, size, device=device))

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
    """Images/s of the release's per-image test loop (CDINet_test.py's structure)."""
    import time

    import torch
    import torch.nn.functional as F
    from PIL import Image
    from torchvision import transforms

    from models import CDINet, load_weights

    device = torch.device(device_name)
    model = CDINet().eval()
    load_weights(model, checkpoint)
    model.to(device)
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
            logits = model(rgb_transform(rgb)[None].to(device), depth_transform(depth)[None].to(device))
            res = torch.sigmoid(F.interpolate(logits, size=rgb.size[::-1], mode="bilinear", align_corners=False))
            res = res[0, 0].cpu().numpy()
            res = (res - res.min()) / (res.max() - res.min() + 1e-8)
            cv2.imwrite(str(out / f"{path.stem}.png"), res * 255)
    return len(images) / (time.perf_counter() - start)


def end_to_end(args, tmp: Path, root: Path, name: str, checkpoint: Path) -> List[dict]:
    baseline = release_style(root, name, checkpoint, args.size, tmp / "maps_release_style", args.device)
    rows = [{"benchmark": f"release-style pipeline ({args.device})",
             "setting": f"{args.size}x{args.size}, batch 1, fp32, PIL + torchvision per image", "value": round(baseline, 3),
             "unit": "images/s", "ratio": 1.0}]
    reference = None
    for setting, flags in SETTINGS.items():
        for batch in args.batch_sizes:
            out = tmp / f"maps_{setting.replace(' ', '_')}_{batch}"
            subprocess.run(
                [sys.executable, str(ROOT / "test.py"), "--checkpoint", str(checkpoint), "--data-root", str(root),
                 "--datasets", name, "--out", str(out), "--device", args.device, "--size", str(args.size),
                 "--batch-size", str(batch), "--workers", str(args.workers), *flags],
                capture_output=True, text=True, check=True, cwd=ROOT)
            stats = json.loads((out / "test_info.json").read_text())["datasets"][name]
            maps = {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED).astype(np.int16) for p in (out / name).glob("*.png")}
            reference = reference or maps
            diff = max(int(np.abs(maps[k] - reference[k]).max()) for k in reference)
            rows.append({"benchmark": f"test.py end to end ({args.device})",
                         "setting": f"{args.size}x{args.size}, batch {batch}, {setting}, {args.workers} workers",
                         "value": round(stats["end_to_end_images_per_s"], 3), "unit": "images/s",
                         "ratio": round(stats["end_to_end_images_per_s"] / baseline, 2),
                         "note": f"model {stats['model_fps']:.3f} FPS; max map diff vs fp32 batch "
                                 f"{args.batch_sizes[0]}: {diff} gray levels"})
    return rows


def run(args) -> List[dict]:
    import torch

    from models import CDINet

    rows = []
    for setting in SETTINGS if not args.end_to_end_only else []:
        for batch in args.batch_sizes:
            rate = model_only(args.size, batch, args.device, setting, args.repeats)
            rows.append({"benchmark": f"model forward ({args.device})", "setting": f"{args.size}x{args.size}, batch {batch}, {setting}",
                         "value": round(rate, 3), "unit": "images/s"})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = Path(args.checkpoint) if args.checkpoint else tmp / "weights.pth"
        if not args.checkpoint:
            torch.manual_seed(0)
            torch.save(CDINet().state_dict(), checkpoint)
        root, name = benchmark_data(tmp, args.images)
        rows += end_to_end(args, tmp, root, name, checkpoint)
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
    parser.add_argument("--checkpoint", help="weights for the map comparison (default: random init; "
                        "trained weights make the bf16-vs-fp32 difference meaningful)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    from bench.common import report

    report(run(args), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
