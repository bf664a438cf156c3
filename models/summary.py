"""Model card: parameters per component, GMACs and forward latency.

Examples:
    python -m models.summary                      # 256x256, CPU, batch 1
    python -m models.summary --size 352 --device cuda --batch-size 8 --runs 20
    python -m models.summary --size 256 --channels-last --amp bf16
    python -m models.summary --modules rde=false ddr=false fusion=add   # an ablation variant
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext
from typing import Dict, List

import torch
from torch.utils.flop_counter import FlopCounterMode

from utils.cli import run_cli
from utils.dist import select_device
from utils.errors import ConfigError, InputShapeError

from .cdinet import CDINet
from .variant import ModelVariant

COMPONENTS = {
    "RGB VGG16": ("rgb_backbone",),
    "depth VGG16": ("depth_backbone",),
    "RDE x2": ("rde1", "rde2"),
    "DSE x3": ("dse3", "dse4", "dse5"),
    "fusion (ablations)": ("fuse1", "fuse2", "fuse3", "fuse4", "fuse5"),
    "conv_mid": ("top_conv",),
    "DDR decoder": ("decoder",),
}


def parameter_counts(model: CDINet) -> Dict[str, int]:
    """Parameters per component present in ``model`` (CDINET.md lists the release's: 14,714,688
    per VGG, ...); components a variant lacks are left out."""
    counts = {
        label: sum(p.numel() for name in present for p in getattr(model, name).parameters())
        for label, names in COMPONENTS.items()
        if (present := [name for name in names if hasattr(model, name)])
    }
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


def count_macs(model: CDINet, size: int) -> float:
    """Multiply-accumulates of one forward pass at ``size`` x ``size`` (FLOPs / 2, convs and mms)."""
    rgb, depth = torch.zeros(1, 3, size, size), torch.zeros(1, 1, size, size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(rgb, depth)
    return counter.get_total_flops() / 2


def measure_latency(
    model: CDINet, size: int, batch_size: int, device: torch.device, runs: int, warmup: int,
    channels_last: bool = False, amp: str = "none",
) -> List[float]:
    """Seconds per forward pass (batch) in inference mode, after ``warmup`` passes."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format).eval()
    rgb = torch.randn(batch_size, 3, size, size, device=device).to(memory_format=memory_format)
    depth = torch.randn(batch_size, 1, size, size, device=device).to(memory_format=memory_format)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
    times = []
    with torch.inference_mode(), autocast:
        for i in range(warmup + runs):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(rgb, depth)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size", type=int, default=256, help="input height = width (multiple of 16)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    parser.add_argument("--runs", type=int, default=5, help="timed forward passes (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none")
    parser.add_argument("--modules", nargs="+", default=[], metavar="KEY=VALUE",
                        help="ablation switches as in model.modules: rde, dse, ddr (true/false), fusion (concat/add)")
    return parser


def main(argv=None) -> int:
    """The command line (``python -m models.summary``); errors are one line, exit 1."""
    return run_cli(get_args_parser(), _run, argv)


def _run(args: argparse.Namespace) -> int:
    if args.size % 16:
        raise InputShapeError(f"--size must be a multiple of 16, got {args.size}")
    device = select_device(args.device)
    switches = {}
    for item in args.modules:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--modules {item!r}: expected KEY=VALUE")
        switches[key] = {"true": True, "false": False}.get(value.lower(), value)
    model = CDINet(ModelVariant.from_dict(switches))
    print(f"{model.variant.describe()}, input {args.size}x{args.size}")
    print(f"{'component':<20}{'parameters':>14}")
    for label, count in parameter_counts(model).items():
        print(f"{label:<20}{count:>14,}")
    print(f"GMACs per image: {count_macs(model, args.size) / 1e9:.2f}")
    times = measure_latency(
        model, args.size, args.batch_size, device, args.runs, args.warmup,
        channels_last=args.channels_last, amp=args.amp,
    )
    median = statistics.median(times)
    print(
        f"forward latency on {device} (batch {args.batch_size}, amp {args.amp}, "
        f"channels_last {args.channels_last}): median {median * 1000:.1f} ms over {args.runs} runs, "
        f"{args.batch_size / median:.2f} images/s, {torch.get_num_threads()} CPU threads"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
