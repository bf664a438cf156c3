"""Evaluation throughput: ``python -m eval`` against PySODMetrics' classes in a loop.

Both run as whole processes on the same PNG files, start-up and decoding included, side by side
in one run; each is repeated and the median wall time is kept. Peak RSS is the largest resident
set of any one process of the run (``getrusage(RUSAGE_CHILDREN)`` in a fresh wrapper process).
The maps are made here: deterministic blurred ellipse blobs as predictions and binary ellipse
GT, sizes 300-640 px.

    python -m bench.eval_speed [--n-maps 300] [--repeats 3] [--json PATH]
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from bench.common import report

_MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t
print(json.dumps({"rc": rc, "wall": wall, "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""
_KEYS = ("Sm", "wFm", "MAE", "adpFm", "meanFm", "maxFm", "adpEm", "meanEm", "maxEm")


def make_maps(root: Path, n_maps: int, seed: int = 0) -> None:
    """``root/BENCH/GT/*.png`` (binary) and ``root/pred/BENCH/*.png`` (8-bit), same sizes."""
    rng = np.random.default_rng(seed)
    (root / "BENCH" / "GT").mkdir(parents=True)
    (root / "pred" / "BENCH").mkdir(parents=True)
    for i in range(n_maps):
        h, w = rng.integers(300, 641, size=2)
        yy, xx = np.mgrid[:h, :w]
        gt = np.zeros((h, w), bool)
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
            ry, rx = rng.uniform(0.08, 0.3) * h, rng.uniform(0.08, 0.3) * w
            gt |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        shift = np.float32([[1, 0, rng.normal(0, 6)], [0, 1, rng.normal(0, 6)]])
        pred = cv2.warpAffine(gt.astype(np.float32), shift, (int(w), int(h)))
        pred = cv2.GaussianBlur(pred, (0, 0), rng.uniform(2, 10)) * rng.uniform(0.6, 1.0)
        pred += rng.normal(0, 0.03, pred.shape).astype(np.float32)
        name = f"{i:05d}.png"
        cv2.imwrite(str(root / "BENCH" / "GT" / name), gt.astype(np.uint8) * 255)
        cv2.imwrite(str(root / "pred" / "BENCH" / name), np.clip(pred * 255, 0, 255).astype(np.uint8))


_REPO = Path(__file__).resolve().parents[1]


def _measure(cmd: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], cwd=_REPO, capture_output=True, text=True,
                         check=True)
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise RuntimeError(f"benchmark command failed: {' '.join(cmd)}")
    return result


def _eval_cmd(root: Path, workers: int | None) -> list[str]:
    cmd = [sys.executable, "-m", "eval", "--pred", str(root / "pred"), "--data-root", str(root),
           "--datasets", "BENCH", "--overwrite", "--out", str(root / "out")]
    return cmd + (["--workers", str(workers)] if workers else [])


def run(n_maps: int = 300, repeats: int = 3, workers: int | None = None) -> list[dict]:
    """Rows ``{"benchmark", "setting", "value", "unit"}``: images/s, ratio, peak RSS, agreement."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_maps(tmp, n_maps)
        ours_cmd = _eval_cmd(tmp, workers)
        ref_cmd = [sys.executable, "-m", "bench.pysodmetrics_loop", "--pred", str(tmp / "pred" / "BENCH"),
                   "--gt", str(tmp / "BENCH" / "GT"), "--out", str(tmp / "ref.json")]
        ours, ref = [], []
        for _ in range(repeats):  # interleaved, so both see the same machine load
            ours.append(_measure(ours_cmd))
            ref.append(_measure(ref_cmd))
        third = tmp / "third"  # the first third of the maps: peak memory must not grow with n
        for sub in ("BENCH/GT", "pred/BENCH"):
            (third / sub).mkdir(parents=True)
            for path in sorted((tmp / sub).glob("*.png"))[: n_maps // 3]:
                (third / sub / path.name).symlink_to(path)
        small = _measure(_eval_cmd(third, workers))
        ours_metrics = json.loads((tmp / "out" / "metrics.json").read_text())["results"]["pred"]["BENCH"]
        ref_metrics = json.loads((tmp / "ref.json").read_text())
        diff = max(abs(ours_metrics[k] - ref_metrics[k]) for k in _KEYS)
    ours_wall = statistics.median(r["wall"] for r in ours)
    ref_wall = statistics.median(r["wall"] for r in ref)
    setting = f"{n_maps} maps 300-640 px, whole process, median of {repeats}"

    def row(setting: str, value: float, unit: str) -> dict:
        return {"benchmark": "evaluation", "setting": setting, "value": value, "unit": unit}

    return [
        row(f"python -m eval (workers={workers or 'default'}), {setting}", n_maps / ours_wall, "images/s"),
        row(f"PySODMetrics 1.6.2 classes in a loop, {setting}", n_maps / ref_wall, "images/s"),
        row("speed-up, python -m eval / PySODMetrics", ref_wall / ours_wall, "x"),
        row(f"peak RSS, python -m eval (largest process), {n_maps} maps", max(r["maxrss_kb"] for r in ours) / 1024, "MiB"),
        row(f"peak RSS, python -m eval (largest process), {n_maps // 3} maps", small["maxrss_kb"] / 1024, "MiB"),
        row("peak RSS, PySODMetrics loop", max(r["maxrss_kb"] for r in ref) / 1024, "MiB"),
        row("max |difference| over the 9 dataset numbers", diff, "abs"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-maps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    rows = run(args.n_maps, args.repeats, args.workers)
    report(rows, args.json)


if __name__ == "__main__":
    main()
