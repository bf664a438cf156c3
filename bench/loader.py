"""Throughput of the training data pipeline (samples/s), not a timed test.

Generates synthetic RGB-D data (``datasets.synthetic``, square ``source_size`` images, close to
the 640x480 of the benchmark sets in pixel count) in a temporary folder, then iterates a
shuffled DataLoader over it with the release's training transform
(``build_train_transform(AugmentConfig(size=size))``) for each worker count. The rate is the
steady state: samples after the first batch over the time after it (so worker start-up is
excluded). Goal: the loader is never the bottleneck, i.e. faster than a GPU training step of
CDINet at batch 4.

    python -m bench.loader
    python -m bench.loader --workers 0 2 --samples 200 --json bench/results/loader.json
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Sequence

import torch
from torch.utils.data import DataLoader

from bench.common import report
from datasets import RGBDSODDataset, build_train_transform
from datasets.synthetic import generate
from models import get_entry
from utils.config import DEFAULT_MODEL, AugmentConfig


def measure(dataset: RGBDSODDataset, batch_size: int, workers: int, loader: DataLoader | None = None) -> float:
    """Steady-state samples/s of one shuffled epoch over ``dataset`` (or of ``loader``)."""
    torch.manual_seed(0)
    if loader is None:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True)
    count, start = 0, None
    for batch in loader:
        if start is None:
            start = time.perf_counter()
            continue
        count += batch["rgb"].shape[0]
    return count / (time.perf_counter() - start)


def run(size: int | None = None, workers: Sequence[int] = (0, 1, 2), batch_size: int = 4,
        samples: int = 160, source_size: int = 480, seed: int = 0) -> list[dict]:
    """One row per worker count: {"benchmark", "setting", "value", "unit"}; ``size`` defaults to
    the default model's (CDINet's) release size, its input spec's."""
    size = size or get_entry(DEFAULT_MODEL).input_spec.size
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp) / "synthetic", samples, 0, source_size, seed)
        dataset = RGBDSODDataset(root / "train", build_train_transform(AugmentConfig(size=size)))
        for n in workers:
            rate = measure(dataset, batch_size, n)
            rows.append({"benchmark": "data loader",
                         "setting": f"{size}x{size} from {source_size}x{source_size}, "
                                    f"batch {batch_size}, {n} worker{'s' if n != 1 else ''}",
                         "value": rate, "unit": "samples/s"})
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, help="training input side (default: the default model's release size)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2],
                        help="DataLoader worker counts to measure (0 1 2)")
    parser.add_argument("--batch-size", type=int, default=4, help="batch size (4)")
    parser.add_argument("--samples", type=int, default=160, help="synthetic samples (160)")
    parser.add_argument("--source-size", type=int, default=480,
                        help="side of the synthetic source images (480)")
    parser.add_argument("--json", type=Path,
                        help="also write the rows and the machine description to this JSON file")
    args = parser.parse_args(argv)
    rows = run(args.size, args.workers, args.batch_size, args.samples, args.source_size)
    report(rows, args.json)


if __name__ == "__main__":
    main()
