"""Deterministic synthetic RGB-D SOD data: the project's embedded default for demo and tests.

Layout, as the benchmark releases: ``OUT/train/{RGB,depth,GT}`` and
``OUT/test/<NAME>/{RGB,depth,GT}`` (RGB ``.jpg``, depth and GT ``.png``), plus
``OUT/synthetic.json`` with the arguments. Depth is near = bright (CDINet's convention, so no
``invert_depth``). Each image has a textured background on a smooth depth ramp (far, dark) and
one or two salient objects (ellipse, polygon or blob; 15-45% of the image together) whose
smooth, domed depth is nearer (bright). About a third of the objects have almost the
background's colour and texture (visible only in depth); RGB-salient distractors lie at
background depth (not salient, so RGB alone misleads); depth is blurred like a low-resolution
sensor, so sharp boundaries need RGB. A model must use both modalities.

Image ``i`` of a split is drawn from ``numpy.random.default_rng([seed, split, i])``, so the
same arguments give identical bytes. Files are written into a temporary sibling folder that is
renamed to ``OUT`` only when complete.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from utils.cli import run_cli
from utils.errors import DatasetError
from utils.files import atomic_folder

SPLITS = {"train": 0, "test": 1}
EXAMPLES = """examples:
  python -m datasets.synthetic --out data/synthetic
  python -m datasets.synthetic --out /tmp/syn --train 20 --test 5 --size 64 --seed 1
  python -m datasets.check data/synthetic/train data/synthetic/test/SYN
"""


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int = 1
                  ) -> np.ndarray:
    """Low-frequency noise (size, size, channels), about unit amplitude."""
    coarse = rng.normal(size=(cells, cells, channels)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC).reshape(
        size, size, channels)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A (size, size) pattern in about [-1, 1]: stripes, checkerboard or speckle."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    kind = rng.integers(3)
    angle = rng.uniform(0, np.pi)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    freq = rng.uniform(4, 12)
    if kind == 0:
        return np.sin(2 * np.pi * freq * u + rng.uniform(0, 2 * np.pi))
    if kind == 1:
        return np.sign(np.sin(2 * np.pi * freq * u) * np.sin(2 * np.pi * freq * v)) * 0.8
    speckle = rng.normal(size=(size, size)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(speckle, (0, 0), max(size / 200, 0.6)) * 1.5, -1, 1)


def _outline(rng: np.random.Generator, kind: str) -> np.ndarray:
    """Unit-scale closed outline (N, 2) around the origin for a shape ``kind``."""
    theta = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    if kind == "ellipse":
        a, b, rot = 1.0, rng.uniform(0.5, 1.0), rng.uniform(0, np.pi)
        pts = np.stack([a * np.cos(theta), b * np.sin(theta)], 1)
        c, s = np.cos(rot), np.sin(rot)
        return pts @ np.array([[c, s], [-s, c]], dtype=np.float64)
    if kind == "polygon":
        n = int(rng.integers(3, 9))  # jittered regular spacing: no sliver polygons
        theta = (np.arange(n) + rng.uniform(-0.25, 0.25, n)) * 2 * np.pi / n
        radius = rng.uniform(0.7, 1.0, n)
    else:  # blob: a circle perturbed by a few low harmonics
        radius = np.ones_like(theta)
        for k in range(2, 5):
            radius += rng.uniform(0, 0.15) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return np.stack([radius * np.cos(theta), radius * np.sin(theta)], 1)


def _shape(rng: np.random.Generator, size: int, area: float, center: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """A random shape covering about ``area`` of the image around ``center`` (pixels):
    (soft mask in [0, 1], dome in [0, 1] peaking at its centre)."""
    outline = _outline(rng, ("ellipse", "polygon", "blob")[int(rng.integers(3))])
    extent = np.abs(outline).max(0)

    def draw(scale: float) -> np.ndarray:
        canvas = np.zeros((size, size), np.uint8)
        pts = np.round((outline * scale + center) * 16).astype(np.int32)  # 4 fractional bits
        cv2.fillPoly(canvas, [pts], 255, lineType=cv2.LINE_AA, shift=4)
        return canvas

    scale = np.sqrt(area / np.pi) * size  # a disc of that area, corrected once by measurement
    covered = max(int((draw(scale) >= 128).sum()), 1)
    scale *= np.sqrt(area * size * size / covered)
    scale = min(scale, 0.48 * size / extent.max())
    mask = draw(scale).astype(np.float32) / 255
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dist = np.hypot(xx - center[0], yy - center[1]) / scale
    return mask, np.clip(1 - dist ** 2, 0, 1)


def _far_colour(rng: np.random.Generator, reference: np.ndarray, distance: float) -> np.ndarray:
    """A random colour at least ``distance`` (RGB, [0, 1]) from ``reference`` if one is found."""
    colour = rng.uniform(0.05, 0.95, 3)
    for _ in range(20):
        if np.linalg.norm(colour - reference) >= distance:
            break
        colour = rng.uniform(0.05, 0.95, 3)
    return colour


def render(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One sample: RGB uint8 (S, S, 3) in RGB order, depth uint8 (near = bright), GT uint8 0/255."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    direction = rng.uniform(-np.pi, np.pi)
    ramp = (xx - 0.5) * np.cos(direction) + (yy - 0.5) * np.sin(direction) + 0.5  # ~[0, 1]
    bg_a, bg_b = rng.uniform(0.15, 0.85, 3), rng.uniform(0.15, 0.85, 3)
    bg_mean = (bg_a + bg_b) / 2
    rgb = bg_a + (bg_b - bg_a) * np.clip(ramp, 0, 1)[..., None] * 0.6
    rgb = rgb + 0.06 * _smooth_noise(rng, size, 4, 3)
    bg_texture_amp = rng.uniform(0.04, 0.12)
    rgb = rgb + bg_texture_amp * _texture(rng, size)[..., None]
    far, near = rng.uniform(0.05, 0.2), rng.uniform(0.25, 0.45)
    depth = far + (near - far) * np.clip(ramp, 0, 1) + 0.02 * _smooth_noise(rng, size, 4)[..., 0]

    for _ in range(int(rng.choice(3, p=[0.3, 0.45, 0.25]))):  # RGB-salient, background depth
        mask, _ = _shape(rng, size, rng.uniform(0.03, 0.10), rng.uniform(0.15, 0.85, 2) * size)
        colour = _far_colour(rng, bg_mean, 0.45)
        rgb = rgb * (1 - mask[..., None]) + colour * mask[..., None]

    gt = np.zeros((size, size), bool)
    total = rng.uniform(0.15, 0.45)
    n_objects = 1 if rng.random() < 0.6 else 2
    shares = [1.0] if n_objects == 1 else [rng.uniform(0.35, 0.65)]
    shares = shares + ([1 - shares[0]] if n_objects == 2 else [])
    if n_objects == 1:
        centers = [rng.uniform(0.3, 0.7, 2)]
    else:  # on opposite sides of the centre, about touching; the image border may push them
        radii = np.sqrt(np.array(shares) * total / np.pi)
        angle = rng.uniform(0, 2 * np.pi)
        axis = np.array([np.cos(angle), np.sin(angle)]) * 1.3  # gap: 30% of the radii
        middle = 0.5 + rng.uniform(-0.05, 0.05, 2)
        centers = [np.clip(middle - axis * radii[1], 0.2, 0.8),
                   np.clip(middle + axis * radii[0], 0.2, 0.8)]
    base = rng.uniform(0.6, 0.75)
    for share, center in zip(shares, centers):
        mask, dome = _shape(rng, size, total * share, center * size)
        if rng.random() < 0.35:  # camouflaged: background-like colour and texture
            colour = np.clip(bg_mean + rng.uniform(-0.06, 0.06, 3), 0, 1)
            texture = bg_texture_amp * _texture(rng, size)
        else:
            colour = _far_colour(rng, bg_mean, 0.35)
            texture = rng.uniform(0.02, 0.08) * _texture(rng, size)
        shade = (0.9 + 0.15 * dome)[..., None]
        surface = np.clip(colour * shade + texture[..., None], 0, 1)
        rgb = rgb * (1 - mask[..., None]) + surface * mask[..., None]
        depth = depth * (1 - mask) + (base + 0.12 * dome) * mask
        gt |= mask >= 0.5
        base += rng.uniform(0.05, 0.1)  # a later object overlaps the earlier one: nearer

    low = max(size // 4, 4)  # a low-resolution, noisy depth sensor
    depth = cv2.resize(cv2.resize(depth.astype(np.float32), (low, low),
                                  interpolation=cv2.INTER_AREA), (size, size),
                       interpolation=cv2.INTER_LINEAR)
    depth = depth + rng.normal(0, 0.01, depth.shape)
    rgb = rgb + rng.normal(0, 0.015, rgb.shape)
    to_u8 = lambda a: (np.clip(a, 0, 1) * 255).round().astype(np.uint8)  # noqa: E731
    return to_u8(rgb), to_u8(depth), gt.astype(np.uint8) * 255


def _write_split(folder: Path, prefix: str, split: str, count: int, size: int, seed: int
                 ) -> None:
    for sub in ("RGB", "depth", "GT"):
        (folder / sub).mkdir(parents=True)
    for i in range(count):
        rgb, depth, gt = render(np.random.default_rng([seed, SPLITS[split], i]), size)
        stem = f"{prefix}_{i:05d}"
        cv2.imwrite(str(folder / "RGB" / f"{stem}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(folder / "depth" / f"{stem}.png"), depth)
        cv2.imwrite(str(folder / "GT" / f"{stem}.png"), gt)


def generate(out_dir: str | Path, n_train: int = 200, n_test: int = 50, size: int = 96,
             seed: int = 0, test_name: str = "SYN") -> Path:
    """Write the synthetic dataset to ``out_dir`` (which must not exist or be empty) and
    return it: ``train/{RGB,depth,GT}`` with ``n_train`` samples and
    ``test/<test_name>/{RGB,depth,GT}`` with ``n_test``. Nothing is left at ``out_dir`` on
    failure (the data is written to a temporary sibling folder, then renamed)."""
    out = Path(out_dir)
    if n_train < 0 or n_test < 0 or n_train + n_test == 0:
        raise DatasetError(f"{out}: need a positive number of samples (train {n_train}, "
                           f"test {n_test})")
    if size < 16:
        raise DatasetError(f"{out}: size {size} is too small (at least 16)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out}: already exists and is not empty; remove it or pick another")
    with atomic_folder(out) as tmp:
        if n_train:
            _write_split(tmp / "train", "train", "train", n_train, size, seed)
        if n_test:
            _write_split(tmp / "test" / test_name, "test", "test", n_test, size, seed)
        meta = {"generator": "datasets.synthetic", "train": n_train, "test": n_test,
                "size": size, "seed": seed, "test_name": test_name, "depth": "near = bright"}
        (tmp / "synthetic.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m datasets.synthetic", epilog=EXAMPLES,
        description="Write a deterministic synthetic RGB-D SOD dataset "
                    "(OUT/train/{RGB,depth,GT}, OUT/test/NAME/{RGB,depth,GT}; "
                    "depth near = bright).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
    parser.add_argument("--train", type=int, default=200, help="training samples (default 200)")
    parser.add_argument("--test", type=int, default=50, help="test samples (default 50)")
    parser.add_argument("--size", type=int, default=96, help="image side in pixels (default 96)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--test-name", default="SYN", help="test dataset name (default SYN)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (``python -m datasets.synthetic``); errors are one line, exit 1."""
    return run_cli(get_args_parser(), _run, argv)


def _run(args: argparse.Namespace) -> int:
    out = generate(args.out, args.train, args.test, args.size, args.seed, args.test_name)
    print(f"wrote {args.train} training and {args.test} test samples ({args.size}x{args.size}) "
          f"to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
