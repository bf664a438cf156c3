"""Model card: parameters per component, GMACs and forward latency.

Examples:
    python -m models.summary                      # 256x256, CPU, batch 1
    python -m models.summary --size 352 --device cuda --batch-size 8 --runs 20
    python -m models.summary --size 256 --channels-last --amp bf16
    python -m models.summary --modules rde=false ddr=false fusion=add   # an ablation variant
    python -m models.summary --backbone resnet50
    python -m models.summary --table --runs 3     # every variant, fp32 and bf16, one Markdown table
    python -m models.summary --table --precisions fp32   # CPUs without bf16 units: bf16 takes minutes
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Dict, List

import torch
from torch.utils.flop_counter import FlopCounterMode

from utils.cli import run_cli
from utils.config import AMP_MODES
from utils.dist import select_device
from utils.errors import ConfigError
from utils.runtime import autocast_context

from .backbones import BACKBONES
from .cdinet import CDINet
from .variant import ModelVariant

COMPONENTS = {
    "RGB backbone": ("rgb_backbone",),
    "depth backbone": ("depth_backbone",),
    "RDE x2": ("rde1", "rde2"),
    "DSE x3": ("dse3", "dse4", "dse5"),
    "fusion (ablations)": ("fuse1", "fuse2", "fuse3", "fuse4", "fuse5"),
    "1x1 adapters": ("adapt1", "adapt2", "adapt3", "adapt4", "adapt5"),
    "conv_mid": ("top_conv",),
    "DDR decoder": ("decoder",),
}

# The rows of ``--table``: the release, the four configs/ablation/*.yaml, the other backbones.
TABLE_VARIANTS = (
    [("vgg16", ModelVariant())]
    + [("vgg16", ModelVariant(**switches)) for switches in
       ({"rde": False}, {"dse": False}, {"ddr": False}, {"rde": False, "dse": False, "ddr": False})]
    + [(name, ModelVariant()) for name in BACKBONES if name != "vgg16"]
)


def parameter_counts(model: CDINet) -> Dict[str, int]:
    """Parameters per component present in ``model`` (docs/model.md "Parameters and compute" lists
    the release's: 14,714,688
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
    autocast = autocast_context(device, amp)
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
    parser.add_argument("--size", type=int, default=256, help="input height = width (multiple of 16; 32 for "
                        "resnet50 and mobilenet_v2)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    parser.add_argument("--runs", type=int, default=5, help="timed forward passes (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--amp", choices=AMP_MODES, default="none")
    parser.add_argument("--modules", nargs="+", default=[], metavar="KEY=VALUE",
                        help="ablation switches as in model.modules: rde, dse, ddr (true/false), fusion (concat/add)")
    parser.add_argument("--backbone", default="vgg16", choices=list(BACKBONES), help="as model.backbone.name")
    parser.add_argument("--table", action="store_true", help="one Markdown row per variant (the release, the "
                        "ablation configs, the other backbones): parameters, GMACs, latency fp32 and bf16 "
                        "(--amp, --modules and --backbone are then ignored)")
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"],
                        help="the latency columns of --table (default both)")
    return parser


def main(argv=None) -> int:
    """The command line (``python -m models.summary``); errors are one line, exit 1."""
    return run_cli(get_args_parser(), _run, argv)


def _switches(items: List[str]) -> Dict[str, object]:
    """``["rde=false", "fusion=add"]`` -> ``{"rde": False, "fusion": "add"}``."""
    switches = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--modules {item!r}: expected KEY=VALUE")
        switches[key] = {"true": True, "false": False}.get(value.lower(), value)
    return switches


def _run(args: argparse.Namespace) -> int:
    device = select_device(args.device)
    if args.table:
        return _table(args, device)
    model = CDINet(ModelVariant.from_dict(_switches(args.modules)), args.backbone).eval()
    model.check_input_size(args.size, "--size")
    print(f"{model.describe()}, input {args.size}x{args.size}")
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


def _table(args: argparse.Namespace, device: torch.device) -> int:
    """Every variant of ``TABLE_VARIANTS`` measured in this one run, as a Markdown table."""
    for backbone in dict.fromkeys(backbone for backbone, _ in TABLE_VARIANTS):
        BACKBONES[backbone].check_input_size(args.size, "--size", f"--table ({BACKBONES[backbone].title})")
    print(f"input {args.size}x{args.size}, batch {args.batch_size}, {device}, channels_last {args.channels_last}, "
          f"{torch.get_num_threads()} threads, median of {args.runs} runs after {args.warmup} warm-up")
    columns = "".join(f" {precision} ms |" for precision in args.precisions)
    print(f"| backbone | variant | parameters | GMACs |{columns}\n|---|---|---:|---:|" + "---:|" * len(args.precisions))
    for backbone, variant in TABLE_VARIANTS:
        model = CDINet(variant, backbone).eval()
        latency = ""
        for precision in args.precisions:
            times = measure_latency(model, args.size, args.batch_size, device, args.runs, args.warmup,
                                    args.channels_last, "none" if precision == "fp32" else precision)
            latency += f" {statistics.median(times) * 1000:.0f} |"
        print(f"| {model.rgb_backbone.spec.title} | {variant.describe()} | {parameter_counts(model)['total']:,} | "
              f"{count_macs(model, args.size) / 1e9:.1f} |{latency}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
