"""Training-step throughput of CDINet (images/s) and peak memory, fp32 vs mixed precision.

Each setting runs in its own process (so its peak RSS is its own), on the same random batch,
with the release's step: forward, BCE with logits, backward, clamp gradients to [-0.5, 0.5],
Adam. Reported: median images/s over the timed steps, the ratio to fp32 measured in the same
run, peak RSS (CPU) or peak CUDA memory, and the loss after the timed steps next to fp32's
(same init, same batches), so a faster setting that trains differently shows up.

    python -m bench.train_step                       # half and full release size, batch 4, CPU
    python -m bench.train_step --device cuda --steps 20
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from typing import List

SETTINGS = {  # name: (amp, channels_last)
    "fp32": ("none", False),
    "fp32 + channels_last": ("none", True),
    "bf16 autocast": ("bf16", False),
    "bf16 autocast + channels_last": ("bf16", True),
}


def measure_one(setting: str, size: int, batch: int, steps: int, device_name: str) -> dict:
    """Run in a child process: time ``steps`` training steps after one warm-up step."""
    import torch
    import torch.nn.functional as F

    from bench.common import median_seconds
    from models.cdinet import CDINet
    from utils.runtime import autocast_context, channels_last_if

    amp, channels_last = SETTINGS[setting]
    device = torch.device(device_name)
    torch.manual_seed(0)
    model = CDINet().to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(1)
    rgb = channels_last_if(channels_last, torch.randn(batch, 3, size, size, generator=generator).to(device))
    depth = channels_last_if(channels_last, torch.rand(batch, 1, size, size, generator=generator).to(device))
    gt = (torch.rand(batch, 1, size, size, generator=generator) > 0.7).float().to(device)
    losses = []

    def step():
        with autocast_context(device, amp):
            logits = model(rgb, depth)
        loss = F.binary_cross_entropy_with_logits(logits.float(), gt)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)
        optimizer.step()
        losses.append(loss.item())

    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    seconds = median_seconds(step, repeats=steps, warmup=1, sync=sync)
    peak = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"images_per_s": batch / seconds, "peak_mb": peak, "final_loss": losses[-1]}


def release_sizes() -> tuple:
    """Half CDINet's release size and the release size itself (its input spec's ``size``)."""
    from models import get_entry

    size = get_entry("cdinet").input_spec.size
    return size // 2, size


def run(sizes=None, batch: int = 4, steps: int = 3, device: str = "cpu",
        settings: List[str] = tuple(SETTINGS)) -> List[dict]:
    """Rows per size (default :func:`release_sizes`) and setting, each setting in its own process."""
    rows = []
    for size in sizes or release_sizes():
        results = {}
        for setting in settings:
            out = subprocess.run(
                [sys.executable, "-m", "bench.train_step", "--single", setting, "--sizes", str(size),
                 "--batch", str(batch), "--steps", str(steps), "--device", device],
                capture_output=True, text=True, check=True)
            results[setting] = json.loads(out.stdout.strip().splitlines()[-1])
        base = results.get("fp32")
        for setting, result in results.items():
            row = {"benchmark": f"training step ({device})", "setting": f"{size}x{size}, batch {batch}, {setting}",
                   "value": result["images_per_s"], "unit": "images/s",
                   "peak_rss_mb" if device == "cpu" else "peak_cuda_mb": round(result["peak_mb"]),
                   "note": f"loss after {steps + 1} steps {result['final_loss']:.4f}"}
            if base:
                row["ratio"] = result["images_per_s"] / base["images_per_s"]
                row["note"] += f" (fp32 {base['final_loss']:.4f})"
            rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+",
                        help="input sides (default: half CDINet's release size and the release size)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per setting (after one warm-up)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--single", choices=list(SETTINGS), help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.single:
        print(json.dumps(measure_one(args.single, args.sizes[0], args.batch, args.steps, args.device)))
        return 0
    from bench.common import report

    report(run(args.sizes, args.batch, args.steps, args.device, args.settings), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
