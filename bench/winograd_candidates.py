"""Winograd convolution (models/winograd.py) against the CPU backends, side by side in one run.

Candidates, all with the keyed seed-0 weights of tests/ (the release's network, untrained):
- PyTorch fp32, contiguous and channels_last (oneDNN direct convolution);
- onnxruntime fp32 (``models.export.export_onnx`` to a temporary file);
- NNPACK: the stride-1 3x3 convolutions through ``torch._nnpack_spatial_convolution``, a private
  op (PyTorch's bundled NNPACK, Winograd/FFT, AVX2 kernels), where ``torch.backends.nnpack``
  says it is available (that call also initialises NNPACK: without it every call fails);
- ``models.winograd``: F(2x2,3x3), F(4x4,3x3), F(6x6,3x3) on every eligible layer, and F(4)/F(6)
  only on layers with at least 128 input and output channels (the others stay direct, channels_last).

Speed: model forward at --size (default: CDINet's release size, its input spec's) and each
--batch-sizes (1 and 4), candidates interleaved (the order rotates every round), median seconds
per image over --repeats rounds after one warm-up round, and the best round (on a shared
machine, the closest to an idle one). GFLOP/s counts the direct convolution's work (2 x
``models.summary.count_macs``) whatever the algorithm, against this machine's fp32 GEMM peak
(2048x2048 ``torch.mm``, same threads; the best of 10 runs before and after each batch size's
rounds). Accuracy: max |logits - PyTorch fp32| on the authors' fixture input
(tests/fixtures/reference/cdinet_official_seed0_256.pt), and, at the release size, the largest
gray-level difference between the maps test.py's pipeline writes for the DES fixtures (batch 1)
and the maps the authors' own code wrote (tests/fixtures/reference/release_maps_seed0).

    python -m bench.winograd_candidates
    python -m bench.winograd_candidates --batch-sizes 1 --repeats 5 --threads 1
    python -m bench.winograd_candidates --points      # fp32 error of F(6x6,3x3) point sets, then stop
"""
from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Dict, List

import cv2
import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
RELEASE_MAPS = FIXTURES / "reference" / "release_maps_seed0" / "DES"
WINOGRAD = [(2, 1), (4, 1), (6, 1), (4, 128), (6, 128)]  # (m, min_channels)
F6_POINT_SETS = {  # finite points of F(6x6, 3x3), besides infinity
    "0, +-1, +-2, +-1/2": (0, 1, 2, Fraction(1, 2)),
    "0, +-1, +-1/2, +-3/2": (0, 1, Fraction(1, 2), Fraction(3, 2)),
    "0, +-1, +-2, +-1/4": (0, 1, 2, Fraction(1, 4)),
    "0, +-1, +-1/2, +-1/4": (0, 1, Fraction(1, 2), Fraction(1, 4)),
    "0, +-1, +-2, +-3": (0, 1, 2, 3),
}


@dataclass
class Candidate:
    """A way to compute the logits: ``runner(rgb, depth)``, fed channels_last inputs or not."""
    label: str
    runner: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    channels_last: bool
    note: str = ""

    def __call__(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        rgb, depth = (x.contiguous(memory_format=memory_format) for x in (rgb, depth))
        with torch.inference_mode():
            return self.runner(rgb, depth)


class NnpackConv2d(nn.Module):
    """A stride-1, padding-1 3x3 ``nn.Conv2d`` computed by ``torch._nnpack_spatial_convolution``."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch._nnpack_spatial_convolution(x.contiguous(), self.weight, self.bias, [1, 1])


def buffer_megabytes(model: nn.Module) -> float:
    return sum(t.numel() * t.element_size() for t in itertools.chain(model.parameters(), model.buffers())) / 2 ** 20


def build_candidates(model: nn.Module, onnx_path: Path, macs: Dict[str, int], total_macs: float,
                     threads: int) -> List[Candidate]:
    """The candidates of the module docstring for ``model`` (CPU, eval, contiguous)."""
    import copy

    from models.export import OnnxRuntimeModel
    from models.winograd import convert_to_winograd, replace_convs

    channels_last = copy.deepcopy(model).to(memory_format=torch.channels_last)
    candidates = [Candidate("PyTorch fp32", model, False, f"{buffer_megabytes(model):.0f} MB weights"),
                  Candidate("PyTorch fp32 channels_last", channels_last, True),
                  Candidate("onnxruntime fp32", OnnxRuntimeModel(onnx_path, threads), False)]
    if torch.backends.nnpack.is_available():
        nnpack, report = replace_convs(model, NnpackConv2d)
        candidates.append(Candidate("NNPACK (private op)", nnpack, False, _converted(report, macs, total_macs)))
    for m, min_channels in WINOGRAD:
        winograd, report = convert_to_winograd(channels_last, m, min_channels)
        label = f"Winograd F({m}x{m},3x3)" + (f", >= {min_channels} channels" if min_channels > 1 else "")
        note = f"{_converted(report, macs, total_macs)}; {buffer_megabytes(winograd):.0f} MB weights"
        candidates.append(Candidate(label, winograd, True, note))
    return candidates


def _converted(report, macs: Dict[str, int], total_macs: float) -> str:
    share = sum(macs[name] for name in report.converted) / total_macs
    return f"{report.describe()}, {100 * share:.1f}% of MACs"


def interleaved_seconds(candidates: List[Candidate], rgb: torch.Tensor, depth: torch.Tensor,
                        repeats: int) -> Dict[str, List[float]]:
    """Seconds per forward pass of each candidate: one warm-up round, then ``repeats`` rounds,
    every round all candidates in turn, the order rotated by one each round."""
    times = {c.label: [] for c in candidates}
    for round_index in range(repeats + 1):
        shift = round_index % len(candidates)
        for candidate in candidates[shift:] + candidates[:shift]:
            start = time.perf_counter()
            candidate(rgb, depth)
            if round_index:
                times[candidate.label].append(time.perf_counter() - start)
    return times


def release_map_difference(candidate: Candidate, size: int) -> int:
    """Largest gray-level difference between the maps of test.py's pipeline (release pixel path,
    batch 1, at ``size``: the release size, the authors' maps' input size) for the DES fixtures and
    the maps the authors' code wrote with the same weights."""
    from datasets import DatasetSource, RGBDSODDataset, build_test_transform
    from models.postprocess import saliency_maps
    from utils.runtime import make_loader

    dataset = RGBDSODDataset(DatasetSource(FIXTURES / "rgbd" / "DES", name="DES"), build_test_transform(size),
                             load_gt=False)
    worst = 0
    for batch in make_loader(dataset, 1, 0, torch.device("cpu")):
        maps = saliency_maps(candidate(batch["rgb"], batch["depth"]).float(), batch["size"].tolist())
        for name, image in zip(batch["name"], maps):
            release = cv2.imread(str(RELEASE_MAPS / f"{name}.png"), cv2.IMREAD_UNCHANGED).astype(int)
            worst = max(worst, int(np.abs(image.numpy().astype(int) - release).max()))
    return worst


def point_set_errors() -> None:
    """Max and mean |F(6x6,3x3) - float64 convolution| for each of ``F6_POINT_SETS`` on one
    random layer (2 x 128 x 36 x 36, 128 output channels); direct fp32 for scale."""
    import torch.nn.functional as F

    from models.winograd import WinogradConv2d

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 128, 36, 36, generator=generator, dtype=torch.float64)
    conv = nn.Conv2d(128, 128, 3, padding=1).double()
    expected = conv(x)
    direct = F.conv2d(x.float(), conv.weight.float(), conv.bias.float(), padding=1).double()
    print(f"direct fp32: max {(direct - expected).abs().max():.2e}, mean {(direct - expected).abs().mean():.2e}")
    for name, halves in F6_POINT_SETS.items():
        points = [Fraction(0)] + [sign * Fraction(p) for p in halves[1:] for sign in (1, -1)]
        error = (WinogradConv2d(conv.float(), 6, points)(x.float()).double() - expected).abs()
        print(f"F(6x6,3x3), points {name}: max {error.max():.2e}, mean {error.mean():.2e}")


def time_batch_sizes(candidates: List[Candidate], args, peaks: list) -> list:
    """``[(batch, {label: seconds per pass})]`` for each of ``args.batch_sizes`` on random inputs,
    with the load average before and after; a GEMM peak window is appended to ``peaks`` after each."""
    from bench.common import gemm_peak

    results = []
    for batch in args.batch_sizes:
        generator = torch.Generator().manual_seed(batch)
        rgb = torch.randn(batch, 3, args.size, args.size, generator=generator)
        depth = torch.randn(batch, 1, args.size, args.size, generator=generator)
        load = os.getloadavg()[0]
        times = interleaved_seconds(candidates, rgb, depth, args.repeats)
        print(f"batch {batch}: load average {load:.1f} before, {os.getloadavg()[0]:.1f} after", flush=True)
        peaks.append(gemm_peak())
        results.append((batch, times))
    return results


def conv_macs(model: nn.Module, *inputs: torch.Tensor) -> Dict[str, int]:
    """Multiply-accumulates of every ``nn.Conv2d`` module of ``model`` (by dotted name) in one
    forward pass on ``inputs``, counted as direct convolution: N H_out W_out K C/groups kh kw."""
    macs, handles = {}, []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            def hook(conv, _, output, name=name):
                macs[name] = output.numel() * conv.in_channels // conv.groups * math.prod(conv.kernel_size)
            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return macs


def run(args) -> List[dict]:
    from bench.common import gemm_peak, machine
    from models import load_weights
    from models.cdinet import CDINet
    from models.export import export_onnx
    from models.summary import count_macs
    from tests.keyed_weights import keyed_official_state_dict

    torch.set_num_threads(args.threads)
    info = machine()
    print(f"CPU: {info['cpu']}, {info['cores']} cores, torch {info['torch']}, {args.threads} threads\n"
          f"SIMD flags: {' '.join(info.get('cpu_simd', []))}\nflags: {info.get('cpu_flags', '')}")
    peaks = [gemm_peak()]
    model = CDINet().eval()
    release_size = model.input_spec.size
    args.size = args.size or release_size
    load_weights(model, keyed_official_state_dict(0))
    reference = torch.load(FIXTURES / "reference" / "cdinet_official_seed0_256.pt", weights_only=True)
    total_macs = count_macs(model, args.size)
    macs = conv_macs(model, torch.zeros(1, 3, args.size, args.size), torch.zeros(1, 1, args.size, args.size))
    with tempfile.TemporaryDirectory() as tmp:
        export_onnx(model, Path(tmp) / "model.onnx", args.size)
        candidates = build_candidates(model, Path(tmp) / "model.onnx", macs, total_macs, args.threads)
        expected = candidates[0](reference["rgb"], reference["depth"])
        accuracy = {c.label: (float((c(reference["rgb"], reference["depth"]) - expected).abs().max()),
                              release_map_difference(c, release_size) if args.size == release_size
                              else "n/a (size)") for c in candidates}
        results = time_batch_sizes(candidates, args, peaks)
    peak = max(best for best, _ in peaks)
    print(f"fp32 GEMM peak (2048x2048 torch.mm, {args.threads} threads): {peak:.0f} GFLOP/s, the best of "
          f"{len(peaks)} windows (before and after each batch size) of 10 runs; window medians "
          f"{', '.join(f'{median:.0f}' for _, median in peaks)}")
    rows = [_row(c, batch, times[c.label], total_macs, peak, accuracy[c.label])
            for batch, times in results for c in candidates]
    print(f"\n{args.size}x{args.size}, {total_macs / 1e9:.1f} GMACs per image, median of {args.repeats} "
          f"interleaved rounds after one warm-up round\n")
    print(table(rows))
    return rows


COLUMNS = {"benchmark": "candidate", "setting": "batch", "value": "s/image", "best": "best s/image",
           "images_per_s": "images/s",
           "gflops": "GFLOP/s (direct count)", "peak_percent": "% of GEMM peak", "logits_max_diff": "max |logits diff|",
           "map_max_diff": "map max diff (gray levels)", "note": "converted layers, weights"}


def table(rows: List[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join(lines + ["| " + " | ".join(str(row[key]) for key in COLUMNS) + " |" for row in rows])


def _row(candidate: Candidate, batch: int, times: List[float], total_macs: float, peak: float, accuracy) -> dict:
    seconds = statistics.median(times) / batch
    gflops = 2 * total_macs / seconds / 1e9
    return {"benchmark": candidate.label, "setting": f"batch {batch}", "value": round(seconds, 3),
            "unit": "s/image", "best": round(min(times) / batch, 3), "images_per_s": round(1 / seconds, 2),
            "gflops": round(gflops),
            "peak_percent": round(100 * gflops / peak), "logits_max_diff": f"{accuracy[0]:.1e}",
            "map_max_diff": accuracy[1], "note": candidate.note}


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 3)[3],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, help="input side (default: CDINet's release size)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (and the GEMM peak's)")
    parser.add_argument("--points", action="store_true", help="only the F(6x6,3x3) point-set error table")
    parser.add_argument("--json", help="also save the rows and the machine as JSON")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.points:
        point_set_errors()
        return 0
    rows = run(args)
    if args.json:
        from bench.common import save_json

        save_json(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
