"""One command for the day a GPU is lent: what a registered model (default CDINet) does on it.

    python -m bench.gpu                         # CUDA (default device cuda): the whole set
    python -m bench.gpu --dry-run               # any machine, CPU: every code path at toy sizes
    python -m bench.gpu --model bbsnet          # another registered model
    python -m bench.gpu --budget 120 --json bench/results/gpu_h100.json   # less time, another file
    make bench-gpu

It measures, on one GPU and in one run:

- the GPU's dense matmul peak per precision (TFLOP/s of an 8192^3 ``torch.mm``; fp32 with TF32,
  as cuDNN convolutions run by default), the yardstick of the rows below;
- inference: ``inference.Predictor`` (test.py's forward pass, torch backend) at the model's
  release size (its input spec's ``size``) on batches of 1, 8 and 32 in fp32, fp32 +
  channels_last, bf16 and fp16 autocast (channels_last) and ``torch.compile`` (fp32 and bf16):
  images/s, achieved TFLOP/s (2 x the model's MACs) and its share of the precision's peak, peak
  memory; and ``test.py`` end to end on 480x480 images;
- the training step (forward, BCE, backward, clamp, Adam) at batch 4 and 32 in fp32, bf16 and
  compiled bf16: images/s, TFLOP/s (3 x the forward's FLOPs), peak memory;
- a short run of ``train.py`` on synthetic data, whose loss must fall.

Everything goes into one JSON file (with the machine) and one printed table. A setting that
fails is a row with its error, and the run goes on. ``--budget`` stops starting new compiled
settings once the time is spent. The dry run uses tiny sizes on the CPU and skips
``torch.compile``; the test suite runs it to check this command's plumbing.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from bench.common import median_seconds
from utils.config import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]

INFERENCE = {  # label: (amp, channels_last, compile)
    "fp32": ("none", False, False),
    "fp32 + channels_last": ("none", True, False),
    "bf16 + channels_last": ("bf16", True, False),
    "fp16 + channels_last": ("fp16", True, False),
    "compiled fp32 + channels_last": ("none", True, True),
    "compiled bf16 + channels_last": ("bf16", True, True),
}
TRAINING = {  # label: (amp, channels_last, compile)
    "fp32": ("none", False, False),
    "bf16 + channels_last": ("bf16", True, False),
    "compiled bf16 + channels_last": ("bf16", True, True),
}
PEAK_DTYPE = {"none": "fp32 (TF32)", "bf16": "bf16", "fp16": "fp16"}


@dataclass(frozen=True)
class Plan:
    """Sizes of one run: the full set on a GPU, or toy sizes for the dry run."""

    device: str
    size: int
    batches: tuple
    train_batches: tuple
    repeats: int
    gemm: int
    compile: bool
    train_images: int
    train_epochs: int
    e2e_images: int
    e2e_side: int
    model: str = DEFAULT_MODEL

    @classmethod
    def for_run(cls, device: str, dry_run: bool, model: str = DEFAULT_MODEL) -> "Plan":
        if dry_run:
            return cls("cpu", 32, (1, 2), (2,), 1, 256, False, 8, 1, 4, 64, model)
        from models import get_entry

        return cls(device, get_entry(model).input_spec.size, (1, 8, 32), (4, 32), 10, 8192, True, 240, 4, 64, 480,
                   model)


def matmul_peak_tflops(device, amp: str, n: int) -> float:
    """TFLOP/s of an n x n x n matmul in ``amp``'s dtype (fp32: with TF32 allowed), median of 5."""
    import torch

    dtype = {"none": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        seconds = _median(lambda: torch.mm(a, b), device, repeats=5)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    return 2 * n ** 3 / seconds / 1e12


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median(fn: Callable[[], object], device, repeats: int, warmup: int = 1) -> float:
    """``bench.common.median_seconds`` with the device synchronised around each timed call."""
    return median_seconds(fn, repeats, warmup, sync=lambda: _sync(device))


def _peak_memory_mb(device) -> Optional[float]:
    import torch

    return round(torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda" else None


def _reset_memory(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def inference_rows(plan: Plan, peaks: Dict[str, float], macs: float, budget: "Budget") -> List[dict]:
    """Predictor.logits on random inputs, per setting and batch size."""
    import torch

    from inference import Predictor
    from models import create_model
    from models.export import example_inputs

    rows = []
    for label, (amp, channels_last, compiled) in INFERENCE.items():
        if compiled and not plan.compile:
            rows.append(_row("inference", label, None, note="not run in a dry run (torch.compile)"))
            continue
        if compiled and budget.spent():
            rows.append(_row("inference", label, None, note=f"skipped: the {budget.seconds:.0f} s budget was spent"))
            continue
        try:
            torch.manual_seed(0)
            predictor = Predictor(create_model(plan.model), device=plan.device, size=plan.size, backend="torch",
                                  amp=amp, channels_last=channels_last, compile=compiled)
            for batch in plan.batches:
                _reset_memory(predictor.device)
                rgb, depth = example_inputs(predictor.model, batch, plan.size, plan.size)
                seconds = _median(lambda: predictor.logits(rgb, depth), predictor.device, plan.repeats,
                                  warmup=2 if compiled else 1)
                rows.append(_rate_row("inference", f"{label}, batch {batch}", batch / seconds,
                                      2 * macs * batch / seconds,
                                      peaks.get(amp), _peak_memory_mb(predictor.device)))
        except Exception as error:  # a setting that fails is reported, the others still run
            rows.append(_row("inference", label, None, note=f"error: {type(error).__name__}: {error}"[:300]))
    return rows


def training_rows(plan: Plan, peaks: Dict[str, float], macs: float, budget: "Budget") -> List[dict]:
    """The release's training step on random data, per setting and batch size."""
    import torch

    device = torch.device(plan.device)
    rows = []
    for label, (amp, channels_last, compiled) in TRAINING.items():
        if compiled and (not plan.compile or budget.spent()):
            note = "not run in a dry run (torch.compile)" if not plan.compile else \
                f"skipped: the {budget.seconds:.0f} s budget was spent"
            rows.append(_row("training step", label, None, note=note))
            continue
        try:
            for batch in plan.train_batches:
                _reset_memory(device)
                seconds = _step_seconds(plan, device, amp, channels_last, compiled, batch)
                rows.append(_rate_row("training step", f"{label}, batch {batch}", batch / seconds,
                                      3 * 2 * macs * batch / seconds, peaks.get(amp), _peak_memory_mb(device)))
        except Exception as error:
            rows.append(_row("training step", label, None, note=f"error: {type(error).__name__}: {error}"[:300]))
    return rows


def _step_seconds(plan: Plan, device, amp: str, channels_last: bool, compiled: bool, batch: int) -> float:
    """Median seconds of the release's step: forward, BCE, backward, clamp to [-0.5, 0.5], Adam."""
    import torch

    from models import create_model
    from models.export import example_inputs
    from models.losses import compute_loss
    from utils.runtime import autocast_context, channels_last_if

    torch.manual_seed(0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = create_model(plan.model).to(device, memory_format=memory_format)
    net = torch.compile(model) if compiled else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    inputs = example_inputs(model, batch, plan.size, plan.size)
    rgb, depth = (channels_last_if(channels_last, x.to(device)) for x in inputs)
    gt = (torch.rand(batch, 1, plan.size, plan.size, device=device) > 0.7).float()

    def step():
        with autocast_context(device, amp):
            logits = net(rgb, depth)
        loss = compute_loss(logits, gt, {"kind": "bce", "weights": None})
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 0.5)
        optimizer.step()

    return _median(step, device, plan.repeats, warmup=2 if compiled else 1)


def end_to_end_row(plan: Plan, tmp: Path) -> dict:
    """test.py on synthetic 480x480 images (random weights; decoding and PNG writing included)."""
    import torch

    from datasets.synthetic import generate
    from models import create_model
    from utils.checkpoint import weights_export

    images = plan.e2e_images
    data = generate(tmp / "e2e", 0, images, plan.e2e_side, seed=0)
    checkpoint = tmp / "w.pth"
    config = {"model": {"name": plan.model}, "data": {"augment": {"size": plan.size}}}
    torch.save(weights_export(create_model(plan.model).state_dict(), config), checkpoint)
    out = tmp / "maps"
    result = subprocess.run([sys.executable, str(ROOT / "test.py"), "--checkpoint", str(checkpoint), "--data-root",
                             str(data / "test"), "--out", str(out), "--device", plan.device, "--backend", "torch"],
                            capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        return _row("test.py end to end", "default settings", None, note=f"error: {result.stderr.strip()[-300:]}")
    record = json.loads((out / "test_info.json").read_text())["datasets"]["SYN"]
    return _row("test.py end to end", f"{images} images, batch {record['settings']['batch_size']}, default settings",
                record["speed"]["end_to_end_images_per_s"], unit="images/s",
                note=f"model only {record['speed']['model_fps']:.1f} images/s")


def training_run_row(plan: Plan, tmp: Path) -> dict:
    """A short train.py run on synthetic data: the epoch losses, which must fall."""
    from datasets.synthetic import generate

    data = generate(tmp / "train", plan.train_images, 0, 96, seed=0)
    run_dir = tmp / "run"
    sets = [f"data.root={data}", "data.train=[train]", f"log.dir={run_dir}", "data.augment.size=64",
            f"train.epochs={plan.train_epochs}", f"train.device={plan.device}", "data.val_fraction=0.0",
            "data.workers=2" if plan.device == "cuda" else "data.workers=0"]
    if plan.device == "cpu":
        sets.append("train.max_steps=2")
    argv = [sys.executable, str(ROOT / "train.py"), "--config", str(ROOT / "configs" / "demo.yaml")]
    for item in sets:
        argv += ["--set", item]
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        return _row("training run", "demo recipe", None, note=f"error: {result.stderr.strip()[-300:]}")
    losses = [json.loads(line)["loss"] for line in (run_dir / "log.jsonl").read_text().splitlines() if '"loss"' in line]
    falls = len(losses) > 1 and losses[-1] < losses[0]
    return _row("training run", f"demo recipe, {plan.train_images} synthetic images, 64x64, {len(losses)} epochs",
                time.perf_counter() - start, unit="s",
                note=f"epoch losses {', '.join(f'{v:.4f}' for v in losses)}: "
                     + ("falls" if falls else "DOES NOT FALL" if len(losses) > 1 else "one epoch (dry run)"))


def _row(benchmark: str, setting: str, value, unit: str = "", note: str = "") -> dict:
    row = {"benchmark": benchmark, "setting": setting, "value": value, "unit": unit}
    if note:
        row["note"] = note
    return row


def _rate_row(benchmark: str, setting: str, rate: float, flops: float, peak: Optional[float],
              memory_mb: Optional[float]) -> dict:
    row = _row(benchmark, setting, rate, "images/s",
               note=f"{flops / 1e12:.2f} TFLOP/s" + (f", {100 * flops / 1e12 / peak:.0f}% of the peak" if peak else ""))
    if memory_mb is not None:
        row["peak_cuda_mb"] = memory_mb
    return row


class Budget:
    """Wall time after which no new compiled setting starts."""

    def __init__(self, seconds: float):
        self.seconds, self.start = seconds, time.perf_counter()

    def spent(self) -> bool:
        return time.perf_counter() - self.start > self.seconds


def run(device: str = "cuda", dry_run: bool = False, budget_s: float = 300.0, model: str = DEFAULT_MODEL
        ) -> List[dict]:
    import torch

    from models import create_model
    from models.summary import count_macs

    plan = Plan.for_run(device, dry_run, model)
    if plan.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("bench.gpu: CUDA is not available here; --dry-run checks the command on a CPU")
    budget = Budget(budget_s)
    torch_device = torch.device(plan.device)
    peaks = {amp: matmul_peak_tflops(torch_device, amp, plan.gemm) for amp in ("none", "bf16", "fp16")}
    rows = [_row("matmul peak", f"{PEAK_DTYPE[amp]}, {plan.gemm}^3", value, "TFLOP/s")
            for amp, value in peaks.items()]
    macs = count_macs(create_model(plan.model).eval(), plan.size)
    rows.append(_row("model", f"{plan.size}x{plan.size}", macs / 1e9, "GMACs per image"))
    rows += inference_rows(plan, peaks, macs, budget)
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(end_to_end_row(plan, Path(tmp)))
        rows += training_rows(plan, peaks, macs, budget)
        rows.append(training_run_row(plan, Path(tmp)))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n")[0],
                                     epilog="examples:\n" + __doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:1, ...")
    parser.add_argument("--dry-run", action="store_true", help="toy sizes on the CPU, no torch.compile")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"a registered model (default {DEFAULT_MODEL})")
    parser.add_argument("--budget", type=float, default=300.0, metavar="S",
                        help="seconds after which no new compiled setting starts (default 300)")
    parser.add_argument("--json", default="bench/results/gpu.json", help="where the rows and the machine go")
    args = parser.parse_args(argv)
    from bench.common import report

    report(run(args.device, args.dry_run, args.budget, args.model), args.json)
    print(f"\nsaved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
