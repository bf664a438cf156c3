"""Model card: parameters per component, GMACs and forward latency, for any registered model.

Examples:
    python -m models.summary                      # CDINet (the release) at its release size, CPU, batch 1
    python -m models.summary --model bbsnet       # BBS-Net at its release size
    python -m models.summary --device cuda --batch-size 8 --runs 20
    python -m models.summary --size 512 --channels-last --amp bf16   # another input size
    python -m models.summary --set model.modules.rde=false --set model.modules.fusion=add   # an ablation
    python -m models.summary --set model.backbone.name=resnet50
    python -m models.summary --table --runs 3     # every model's cards, fp32 and bf16, one Markdown table
    python -m models.summary --table --precisions fp32   # CPUs without bf16 units (bf16 emulated)
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from typing import Dict, List

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from utils.cli import run_cli
from utils.config import AMP_MODES, apply_overrides
from utils.dist import select_device
from utils.errors import ConfigError
from utils.runtime import autocast_context

from .export import example_inputs
from .registry import DEFAULT_MODEL, create_model, describe, get_entry, list_models, model_options


def component(name: str) -> str:
    """The component a top-level module belongs to: its name without a level suffix
    (``rde1``, ``rde2`` -> ``rde``; ``rfb2_1`` -> ``rfb``; ``atten_depth_channel_3_1`` -> ``atten_depth_channel``)."""
    return re.sub(r"[\d_]+$", "", name) or name


def parameter_counts(model: nn.Module) -> Dict[str, int]:
    """Parameters per component (top-level modules grouped by :func:`component`), and the total."""
    counts: Dict[str, int] = {}
    for name, child in model.named_children():
        counts[component(name)] = counts.get(component(name), 0) + sum(p.numel() for p in child.parameters())
    counts = {label: count for label, count in counts.items() if count}
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts


def count_macs(model: nn.Module, size: int) -> float:
    """Multiply-accumulates of one forward pass at ``size`` x ``size`` (FLOPs / 2, convs and mms)."""
    rgb, depth = (torch.zeros_like(t) for t in example_inputs(model, 1, size, size))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(rgb, depth)
    return counter.get_total_flops() / 2


def measure_latency(
    model: nn.Module, size: int, batch_size: int, device: torch.device, runs: int, warmup: int,
    channels_last: bool = False, amp: str = "none",
) -> List[float]:
    """Seconds per forward pass (batch) in inference mode, after ``warmup`` passes."""
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format).eval()
    rgb, depth = (t.to(device, memory_format=memory_format) for t in example_inputs(model, batch_size, size, size))
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
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=list_models(), help="a registered model (model.name)")
    parser.add_argument("--set", action="append", default=[], metavar="model.KEY=VALUE",
                        help="a model option as train.py's --set takes it, e.g. --set model.modules.ddr=false")
    parser.add_argument("--size", type=int, help="input height = width (default: the model's release size; a "
                        "multiple of its input spec's multiple)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    parser.add_argument("--runs", type=int, default=5, help="timed forward passes (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--amp", choices=AMP_MODES, default="none")
    parser.add_argument("--table", action="store_true", help="one Markdown row per model card (every registered "
                        "model: its release and the variants it lists): parameters, GMACs, latency fp32 and bf16; "
                        "then each model's source (--model, --set and --amp are then ignored)")
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"],
                        help="the latency columns of --table (default both)")
    return parser


def main(argv=None) -> int:
    """The command line (``python -m models.summary``); errors are one line, exit 1."""
    return run_cli(get_args_parser(), _run, argv)


def model_with_overrides(name: str, overrides: List[str]) -> nn.Module:
    """A new ``name`` with ``--set model.KEY=VALUE`` overrides (train.py's parser) applied to its defaults."""
    config = {"model": model_options(name, {})}
    unprefixed = [item for item in overrides if not item.startswith("model.")]
    if unprefixed:
        raise ConfigError(f"--set {unprefixed[0]}: model options are written model.KEY=VALUE")
    apply_overrides(config, overrides)
    return create_model(name, **config["model"]).eval()


def _run(args: argparse.Namespace) -> int:
    device = select_device(args.device)
    if args.table:
        return _table(args, device)
    model = model_with_overrides(args.model, args.set)
    size = args.size or model.input_spec.size
    model.input_spec.check_size(size, "--size", describe(model))
    print(f"{describe(model)}, input {size}x{size}")
    print(f"{'component':<24}{'parameters':>14}")
    for label, count in parameter_counts(model).items():
        print(f"{label:<24}{count:>14,}")
    print(f"GMACs per image: {count_macs(model, size) / 1e9:.2f}")
    times = measure_latency(
        model, size, args.batch_size, device, args.runs, args.warmup,
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
    """Every registered model's cards measured in this one run, as a Markdown table, then where
    each model's release comes from (its registered ``source``)."""
    print(f"batch {args.batch_size}, {device}, channels_last {args.channels_last}, "
          f"{torch.get_num_threads()} threads, median of {args.runs} runs after {args.warmup} warm-up")
    columns = "".join(f" {precision} ms |" for precision in args.precisions)
    print(f"| model | card | input | parameters | GMACs |{columns}\n|---|---|---:|---:|---:|"
          + "---:|" * len(args.precisions))
    for name in list_models():
        entry = get_entry(name)
        for label, options in entry.cards:
            model = create_model(name, **options).eval()
            size = args.size or model.input_spec.size
            model.input_spec.check_size(size, "--size", f"--table ({describe(model)})")
            latency = ""
            for precision in args.precisions:
                times = measure_latency(model, size, args.batch_size, device, args.runs, args.warmup,
                                        args.channels_last, "none" if precision == "fp32" else precision)
                latency += f" {statistics.median(times) * 1000:.0f} |"
            print(f"| {entry.title} | {label} | {size} | {parameter_counts(model)['total']:,} | "
                  f"{count_macs(model, size) / 1e9:.1f} |{latency}", flush=True)
    print("\nsources:")
    for name in list_models():
        entry = get_entry(name)
        print(f"- {entry.title}: {entry.source or 'not given'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
