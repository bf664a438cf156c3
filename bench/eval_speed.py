"""Evaluation throughput: ``python -m eval`` with and without its bootstrap, and PySODMetrics'
classes in a loop; and the cost of the bootstrap itself for 10 methods x 1000 images.

The three commands run as whole processes on the same PNG files, start-up and decoding
included, side by side in one run (interleaved); each is repeated and the median wall time is
kept. ``python -m eval`` runs with its defaults (1000 bootstrap resamples, per-image files) and
with ``--ci 0``. Peak RSS is the largest resident set of any one process of the run
(``getrusage(RUSAGE_CHILDREN)`` in a fresh wrapper process). The maps are made here:
deterministic blurred ellipse blobs as predictions and binary ellipse GT, sizes 300-640 px.
The bootstrap cost is timed in-process on synthetic per-image scores (uniform random values and
curves: the cost depends only on their shapes): everything ``python -m eval`` does with them for
one dataset (the intervals of every method, the best and those within noise of it per metric,
and every method compared with the first), with a fresh seed each repeat.

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

from bench.common import median_seconds, report

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


def _eval_cmd(root: Path, workers: int | None, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "eval", "--pred", str(root / "pred"), "--data-root", str(root),
           "--datasets", "BENCH", "--overwrite", "--out", str(root / "out"), *extra]
    return cmd + (["--workers", str(workers)] if workers else [])


def bootstrap_seconds(n_methods: int = 10, n_images: int = 1000, resamples: int = 1000, repeats: int = 3) -> float:
    """Median seconds of the bootstrap work of one dataset (module docstring)."""
    from eval import Bootstrap, ImageScores
    from eval.summary import best_within_noise, comparison, method_entry

    rng = np.random.default_rng(0)
    stems = tuple(f"{i:05d}" for i in range(n_images))
    keys = ("Sm", "wFm", "MAE", "adpFm", "adpEm")
    scores = {f"M{m}": ImageScores(stems, {k: rng.random((1, n_images)) for k in keys},
                                   rng.random((1, n_images, 4, 256)), "pysodmetrics") for m in range(n_methods)}
    seeds = iter(range(repeats + 1))

    def one_dataset() -> None:
        boot = Bootstrap(resamples, 0.95, next(seeds))
        dists = {m: boot.distributions(s) for m, s in scores.items()}
        entries = {m: method_entry(s, 0, boot, dists[m], ["."]) for m, s in scores.items()}
        best_within_noise(entries, dists, boot, "pysodmetrics")
        first, *others = scores
        for method in others:
            comparison(method, first, scores, entries, dists, boot)

    return median_seconds(one_dataset, repeats, warmup=1)


def run(n_maps: int = 300, repeats: int = 3, workers: int | None = None) -> list[dict]:
    """Rows ``{"benchmark", "setting", "value", "unit"}``: images/s, ratios, peak RSS, bootstrap
    cost, agreement."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_maps(tmp, n_maps)
        commands = {
            "ours": _eval_cmd(tmp, workers),
            "no_ci": _eval_cmd(tmp, workers, "--ci", "0"),
            "ref": [sys.executable, "-m", "bench.pysodmetrics_loop", "--pred", str(tmp / "pred" / "BENCH"),
                    "--gt", str(tmp / "BENCH" / "GT"), "--out", str(tmp / "ref.json")],
        }
        measured = {name: [] for name in commands}
        for _ in range(repeats):  # interleaved, so all see the same machine load
            for name, cmd in commands.items():
                measured[name].append(_measure(cmd))
        third = tmp / "third"  # the first third of the maps: peak memory must not grow with n
        for sub in ("BENCH/GT", "pred/BENCH"):
            (third / sub).mkdir(parents=True)
            for path in sorted((tmp / sub).glob("*.png"))[: n_maps // 3]:
                (third / sub / path.name).symlink_to(path)
        small = _measure(_eval_cmd(third, workers))
        ours_metrics = json.loads((tmp / "out" / "metrics.json").read_text())["results"]["pred"]["BENCH"]
        ref_metrics = json.loads((tmp / "ref.json").read_text())
        diff = max(abs(ours_metrics[k] - ref_metrics[k]) for k in _KEYS)
    wall = {name: statistics.median(r["wall"] for r in runs) for name, runs in measured.items()}
    setting = f"{n_maps} maps 300-640 px, whole process, median of {repeats}"

    def row(setting: str, value: float, unit: str) -> dict:
        return {"benchmark": "evaluation", "setting": setting, "value": value, "unit": unit}

    label = f"python -m eval (workers={workers or 'default'})"
    return [
        row(f"{label}, bootstrap 1000 resamples (default), {setting}", n_maps / wall["ours"], "images/s"),
        row(f"{label} --ci 0 (no bootstrap), {setting}", n_maps / wall["no_ci"], "images/s"),
        row(f"PySODMetrics 1.6.2 classes in a loop, {setting}", n_maps / wall["ref"], "images/s"),
        row("wall time added by the bootstrap, python -m eval default - --ci 0", wall["ours"] - wall["no_ci"], "s"),
        row("speed-up, python -m eval (default) / PySODMetrics", wall["ref"] / wall["ours"], "x"),
        row(f"peak RSS, python -m eval (largest process), {n_maps} maps",
            max(r["maxrss_kb"] for r in measured["ours"]) / 1024, "MiB"),
        row(f"peak RSS, python -m eval (largest process), {n_maps // 3} maps", small["maxrss_kb"] / 1024, "MiB"),
        row("peak RSS, PySODMetrics loop", max(r["maxrss_kb"] for r in measured["ref"]) / 1024, "MiB"),
        row("max |difference| over the 9 dataset numbers", diff, "abs"),
        row(f"bootstrap of one dataset, 10 methods x 1000 images, 1000 resamples (intervals, within-noise, "
            f"9 paired comparisons), in-process, median of {repeats}", bootstrap_seconds(repeats=repeats), "s"),
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
