"""How a CPU training step and the data loader slow down when another process competes for the
cores, per OpenMP/OpenCV thread setting: the case of a shared 2-core machine or a loaded CI box.

Each setting runs in its own process (its environment decides OpenMP's behaviour, which is read
once, when torch loads it), first on the idle machine, then with ``--competitors`` busy-looping
Python processes running beside it. Reported: images/s (samples/s for the loader) idle and
loaded, and the slowdown loaded/idle of each setting, measured in the same run. A machine
shared fairly with one competitor should cost at most about 2x (half the cores); a setting far
above that wastes the cores it has (threads spinning at barriers while their partner waits for a
core).

Settings of the training step (the demo's: CDINet, 48x48, batch 8, BCE, backward, Adam):
``spinning`` is OpenMP as torch ships it (libgomp with ``OMP_WAIT_POLICY`` unset: idle threads
spin 300000 rounds, ``GOMP_SPINCOUNT=300000``, which also keeps ``utils.cpu_threads`` away);
``passive`` is ``OMP_WAIT_POLICY=PASSIVE``, what train.py and test.py set unless told otherwise
(``utils.cpu_threads``); ``1 thread`` is ``OMP_NUM_THREADS=1``. The loader rows compare a
DataLoader with OpenCV's default pool in each worker against ``utils.runtime.make_loader``
(one OpenCV thread per worker).

    python -m bench.load
    python -m bench.load --steps 6 --rounds 2 --json bench/results/load.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List

STEP_SETTINGS: Dict[str, Dict[str, str]] = {  # name: environment of the child process
    "spinning (libgomp's default)": {"GOMP_SPINCOUNT": "300000"},  # its value with the policy unset
    "passive (our default)": {"OMP_WAIT_POLICY": "PASSIVE"},
    "1 thread": {"GOMP_SPINCOUNT": "300000", "OMP_NUM_THREADS": "1"},
}
LOADER_SETTINGS = ("OpenCV default threads per worker", "make_loader (1 OpenCV thread per worker)")


def step_rate(size: int, batch: int, steps: int) -> float:
    """In a child process: images/s of the median of ``steps`` training steps after one warm-up."""
    import torch
    import torch.nn.functional as F

    from bench.common import median_seconds
    from models.cdinet import CDINet

    torch.manual_seed(0)
    model = CDINet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    rgb, depth = torch.randn(batch, 3, size, size), torch.rand(batch, 1, size, size)
    gt = (torch.rand(batch, 1, size, size) > 0.7).float()

    def step():
        loss = F.binary_cross_entropy_with_logits(model(rgb, depth), gt)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return batch / median_seconds(step, repeats=steps, warmup=1)


def loader_rate(setting: str, workers: int, samples: int) -> float:
    """In a child process: steady-state samples/s of the release's training transform at the default
    model's (CDINet's) release size, its input spec's, from 480x480 synthetic images, batch 4."""
    import tempfile
    from pathlib import Path

    import torch

    from bench.loader import measure
    from datasets import RGBDSODDataset, build_train_transform
    from datasets.synthetic import generate
    from models import get_entry
    from utils.config import DEFAULT_MODEL, AugmentConfig
    from utils.runtime import make_loader

    size = get_entry(DEFAULT_MODEL).input_spec.size
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp) / "synthetic", samples, 0, 480, 0)
        dataset = RGBDSODDataset(root / "train", build_train_transform(AugmentConfig(size=size)))
        if setting == LOADER_SETTINGS[0]:
            return measure(dataset, 4, workers)
        torch.manual_seed(0)
        return measure(dataset, 4, workers,
                       loader=make_loader(dataset, 4, workers, torch.device("cpu"), shuffle=True))


@contextmanager
def competing(count: int) -> Iterator[None]:
    """``count`` busy-looping processes for the duration of the block."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    time.sleep(0.5)
    try:
        yield
    finally:
        for process in busy:
            process.kill()
            process.wait()


def child(kind: str, setting: str, env: Dict[str, str], args) -> float:
    command = [sys.executable, "-m", "bench.load", "--single", kind, setting, "--size", str(args.size),
               "--batch", str(args.batch), "--steps", str(args.steps), "--workers", str(args.workers),
               "--samples", str(args.samples)]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env={**os.environ, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args) -> List[dict]:
    jobs = [("step", name, env) for name, env in STEP_SETTINGS.items()]
    jobs += [("loader", name, {}) for name in LOADER_SETTINGS]
    rates = {(kind, name): {"idle": [], "loaded": []} for kind, name, _ in jobs}
    for _ in range(args.rounds):  # idle and loaded alternate, so a drift of the machine hits both
        for kind, name, env in jobs:
            rates[kind, name]["idle"].append(child(kind, name, env, args))
        with competing(args.competitors):
            for kind, name, env in jobs:
                rates[kind, name]["loaded"].append(child(kind, name, env, args))
    rows = []
    for kind, name, _ in jobs:
        idle, loaded = (statistics.median(rates[kind, name][k]) for k in ("idle", "loaded"))
        what = (f"training step, {args.size}x{args.size}, batch {args.batch}" if kind == "step"
                else f"data loader, {args.workers} workers")
        unit = "images/s" if kind == "step" else "samples/s"
        for state, value in (("idle", idle), (f"{args.competitors} competing", loaded)):
            row = {"benchmark": f"{what}, {state}", "setting": name, "value": value, "unit": unit}
            if state != "idle":
                row["ratio"] = value / idle
                row["note"] = f"slowdown {idle / value:.2f}x"
            rows.append(row)
    return rows


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=48, help="training-step input side (48, the demo's)")
    parser.add_argument("--batch", type=int, default=8, help="training-step batch (8, the demo's)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per setting after one warm-up (4)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the loader rows (2)")
    parser.add_argument("--samples", type=int, default=64, help="synthetic samples of the loader rows (64)")
    parser.add_argument("--competitors", type=int, default=1, help="busy processes beside the loaded runs (1)")
    parser.add_argument("--rounds", type=int, default=1, help="idle/loaded rounds; medians are reported (1)")
    parser.add_argument("--single", nargs=2, metavar=("KIND", "SETTING"), help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the rows to this JSON file")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.single:
        kind, setting = args.single
        rate = (step_rate(args.size, args.batch, args.steps) if kind == "step"
                else loader_rate(setting, args.workers, args.samples))
        print(json.dumps(rate))
        return 0
    from bench.common import report

    report(run(args), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
