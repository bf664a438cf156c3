"""``python -m datasets.check ROOT [ROOT ...]``: audit RGB-D SOD dataset folders.

Per dataset it prints the sample count, the stems missing from each folder, unreadable or
empty files, size mismatches (GT vs RGB: an error for training; depth vs RGB: a note, as
for DUT-RGBD), the bit depth of the depth maps and their holes (pixels stored as 0 or
invalid), how the GT masks store their values (0/1 masks are read as 0/255,
``utils.images.gt_kind``), and the depth polarity estimated from the GT (mean normalised
depth inside vs outside the objects), with the ``invert_depth`` setting for a model of either
convention (each model's is its input spec's ``near``). Exit status 0 when every dataset is usable, 1 otherwise.
"""
from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from utils.cli import first_few, run_cli
from utils.errors import DatasetError
from utils.images import GT_KINDS, apply_gt_rule, bit_depth, decode_gt, gt_kind, read_depth_raw, read_rgb
from utils.layout import find_role_dirs

from .pairing import DatasetSource, pair_samples, scan_source
from .polarity import DepthHoles, Polarity, object_background_means

EXAMPLES = """examples:
  python -m datasets.check data/RGBD_for_train
  python -m datasets.check data/RGBD_for_test            (every dataset folder inside)
  python -m datasets.check data/test/NJU2K data/test/NLPR data/test/DES
"""
@dataclass
class Audit:
    """What the audit of one dataset found; ``usable`` is False on any problem."""

    name: str
    root: Path
    lines: list[str] = field(default_factory=list)
    errors: int = 0

    def add(self, label: str, text: str, errors: int = 0) -> None:
        """One report line; ``errors`` is the number of problems it states."""
        self.lines.append(f"  {label + ':':<10} {text}")
        self.errors += errors

    @property
    def usable(self) -> bool:
        return self.errors == 0

    def render(self) -> str:
        verdict = "usable" if self.usable else f"NOT usable ({self.errors} problem(s))"
        return "\n".join([f"{self.name}  ({self.root})", *self.lines, f"  {'verdict:':<10} "
                          f"{verdict}"])


def audit(root: Path) -> Audit:
    """Audit one dataset folder (RGB-like and depth-like folders, GT-like optional)."""
    report = Audit(root.name or root.resolve().name, root)
    try:
        dirs = find_role_dirs(root)
        scan = scan_source(DatasetSource(root), require_gt="gt" in dirs)
    except DatasetError as exc:
        report.add("error", str(exc), errors=1)
        return report
    roles = tuple(scan.dirs)
    report.add("folders", ", ".join(f"{scan.dirs[r].name}/ {len(scan.files[r])} images"
                                    for r in roles) + ("" if "gt" in roles else
                                                       " (no GT folder: no evaluation)"))
    for role in roles:
        if scan.ignored[role]:
            report.add("ignored", f"{len(scan.ignored[role])} non-image entries in "
                                  f"{scan.dirs[role].name}/: "
                                  f"{first_few([p.name for p in scan.ignored[role]])}")
    samples, bad = pair_samples(scan)
    report.add("samples", f"{len(samples)} paired", errors=int(not samples))
    all_stems = set().union(*(scan.files[r] for r in roles))
    unpaired = False
    for role in roles:
        missing = sorted(all_stems - set(scan.files[role]))
        if missing:
            unpaired = True
            report.add("unpaired", f"{len(missing)} stem(s) missing from {scan.dirs[role]}/: "
                                   f"{first_few(missing)}", errors=len(missing))
    if not unpaired:
        report.add("unpaired", "none")
    bad_files = [b.reason for b in bad if b.kind != "unpaired"]
    _read_all(report, samples, bad_files)
    return report


def _read_all(report: Audit, samples: list, bad_files: list[str]) -> None:
    """Decode every paired sample; report bad files, sizes, bit depths, GT values and polarity."""
    gt_mismatch, depth_sizes, bits, kinds, means = [], Counter(), Counter(), Counter(), []
    holes: list[tuple[int, int]] = []  # DepthHoles.count of every depth map read
    for sample in tqdm(samples, desc=f"checking {report.name}", unit="sample", leave=False,
                       disable=None if len(samples) >= 100 else True):
        try:
            rgb = read_rgb(sample.rgb)
            raw = read_depth_raw(sample.depth)
            gt = decode_gt(sample.gt) if sample.gt else None
        except DatasetError as exc:
            bad_files.append(str(exc))
            continue
        h, w = rgb.shape[:2]
        bits[bit_depth(raw)] += 1
        holes.append(DepthHoles.count(raw))
        if raw.shape != (h, w):
            depth_sizes[f"depth {raw.shape[1]}x{raw.shape[0]} vs RGB {w}x{h}"] += 1
        if gt is None:
            continue
        kinds[gt_kind(gt)] += 1
        gt = apply_gt_rule(gt)
        if gt.shape != (h, w):
            gt_mismatch.append(f"{Path(sample.gt).name} {gt.shape[1]}x{gt.shape[0]} vs RGB "
                               f"{w}x{h}")
            continue
        if (pair := object_background_means(raw, gt)) is not None:
            means.append(pair)
    report.add("bad files", f"{len(bad_files)}: {first_few(bad_files)}" if bad_files else "none",
               errors=len(bad_files))
    if gt_mismatch:
        report.add("sizes", f"{len(gt_mismatch)} GT of another size than the RGB: "
                            f"{first_few(gt_mismatch)}", errors=len(gt_mismatch))
    for text, count in depth_sizes.most_common():
        report.add("sizes", f"{text} in {count} sample(s) (each is resized to the network size on its own, "
                            f"as the release)")
    if not gt_mismatch and not depth_sizes:
        report.add("sizes", "RGB, depth and GT sizes match")
    report.add("depth", ", ".join(f"{b}: {n}" for b, n in bits.most_common()) or "none read")
    report.add("holes", _holes(DepthHoles.from_counts(holes)))
    if kinds:
        report.add("GT", _gt_values(kinds))
    report.add("polarity", _polarity(Polarity.from_pairs(means)))


_GT_MEANING = {"0/1": "read as 0/255", "other values": "binarised at > 128 for evaluation",
               "faint": "none above 128: empty for evaluation"}


def _gt_values(kinds: Counter) -> str:
    """How many masks store their values each way (``utils.images.GT_KINDS``) and what that means."""
    return ", ".join(f"{kind}: {kinds[kind]}" + (f" ({_GT_MEANING[kind]})" if kind in _GT_MEANING else "")
                     for kind in GT_KINDS if kinds[kind])


def _holes(holes: DepthHoles) -> str:
    """Depth pixels stored as 0 or invalid, and, above the share test.py warns at, what they become."""
    if not holes.many:
        return holes.describe()
    return (f"{holes.describe()}: if the maps are near = dark they are fed as the nearest points; "
            f"data.preprocess.depth_holes: far (test.py --depth-holes far) makes them the farthest")


def _polarity(polarity: Polarity) -> str:
    """Verdict on near = bright/dark from per-sample mean depth inside vs outside the GT."""
    same = ("invert_depth=False for a model that expects this polarity, invert_depth=True for one that expects the "
            "other (python -m models --list shows each model's), or auto")
    advice = {"near = bright": same, "near = dark": same,
              "unclear": "inspect some depth maps before choosing invert_depth"}
    if polarity.verdict == "unknown":
        return f"unknown ({polarity.evidence()})"
    return f"{polarity.verdict} ({polarity.evidence()}): {advice[polarity.verdict]}"


def dataset_roots(root: Path) -> list[Path]:
    """``root`` itself if it is a dataset folder, else every (non-hidden) subfolder: a parent
    such as ``data/test`` is checked dataset by dataset, and an empty or half-copied child is
    reported rather than skipped."""
    try:
        dirs = find_role_dirs(root)
    except DatasetError:
        return [root]  # audit() reports why
    if dirs:
        return [root]
    children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return children or [root]


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m datasets.check", epilog=EXAMPLES,
        description="Audit RGB-D SOD dataset folders ({RGB,depth,GT} or Image/Depth/Mask, any "
                    "case): pairing by stem, unreadable files, sizes, depth bit depth, holes and "
                    "polarity. Exit status 0 when all are usable, 1 otherwise.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path, metavar="ROOT",
                        help="a dataset folder, or a folder of dataset folders")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (``python -m datasets.check``): 0 when every dataset is usable."""
    return run_cli(get_args_parser(), _run, argv)


def _run(args: argparse.Namespace) -> int:
    reports = [audit(root) for arg in args.roots for root in dataset_roots(arg)]
    print("\n\n".join(r.render() for r in reports))
    bad = [r for r in reports if not r.usable]
    if len(reports) > 1:
        print(f"\n{len(reports)} datasets checked: " + (
            "all usable" if not bad else "NOT usable: " + ", ".join(f"{r.name} ({r.errors} problem(s))" for r in bad)))
    return 0 if not bad else 1


if __name__ == "__main__":
    raise SystemExit(main())
