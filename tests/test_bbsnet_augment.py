"""BBS-Net's training augmentation as options of ours, checked against its loader written here.

The reference is the authors' ``data.py`` (``SalObjDataset.__getitem__``) as docs/bbsnet.md
("Augmentation") describes it, with each random draw turned into an argument and
built from PIL and numpy alone: ``convert('RGB')`` / ``convert('L')``, ``FLIP_LEFT_RIGHT``,
``Image.crop`` with their ``>> 1`` box, ``Image.rotate(angle, BICUBIC)``, ImageEnhance
Brightness / Contrast / Color / Sharpness, a pepper loop over (row, col, value), then
``resize((352, 352), BILINEAR)``, ToTensor's ``/ 255`` and ImageNet Normalize on RGB only.
Rotation is the one op of ours that differs (OpenCV's bicubic kernel, as for CDINet): its
difference is measured and bounded, not hidden.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance

from datasets import RGBDSODDataset, build_train_transform
from datasets.transforms import centre_crop, draw_colour, draw_crop, draw_pepper, enhance_colour, op_rng, pepper
from models.spec import InputSpec
from tests.helpers import FIXTURES
from utils.config import AugmentConfig
from utils.errors import ConfigError

DES = FIXTURES / "rgbd" / "DES"
SIZE = 352
SPEC = InputSpec(size=SIZE, multiple=32, depth_mean=None, depth_std=None)  # BBS-Net: depth in [0, 1]
MEAN, STD = np.float32([0.485, 0.456, 0.406]), np.float32([0.229, 0.224, 0.225])
BBSNET = dict(size=SIZE, flip="horizontal", crop_border=30, rotate_prob=0.2, color_enhance=True,
              gt_pepper=0.0015)
STEMS = sorted(p.stem for p in (DES / "RGB").glob("*.jpg"))


# ----------------------------------------------------------------------------- the reference
def open_triplet(stem: str) -> tuple[Image.Image, Image.Image, Image.Image]:
    """Their rgb_loader / binary_loader: RGB, GT, depth."""
    return (Image.open(DES / "RGB" / f"{stem}.jpg").convert("RGB"),
            Image.open(DES / "GT" / f"{stem}.png").convert("L"),
            Image.open(DES / "depth" / f"{stem}.bmp").convert("L"))


def their_crop_box(width: int, height: int, win_w: int, win_h: int) -> tuple[int, int, int, int]:
    return ((width - win_w) >> 1, (height - win_h) >> 1, (width + win_w) >> 1, (height + win_h) >> 1)


def their_pepper(gt: Image.Image, points) -> Image.Image:
    """randomPeper with its draws given: one (row, col, value) per noise pixel, in order."""
    array = np.array(gt)
    for row, col, value in points:
        array[row, col] = value
    return Image.fromarray(array)


def their_colour(rgb: Image.Image, factors) -> Image.Image:
    bright, contrast, colour, sharp = factors
    rgb = ImageEnhance.Brightness(rgb).enhance(bright)
    rgb = ImageEnhance.Contrast(rgb).enhance(contrast)
    rgb = ImageEnhance.Color(rgb).enhance(colour)
    return ImageEnhance.Sharpness(rgb).enhance(sharp)


def to_tensor(image: Image.Image, normalise: bool = False) -> torch.Tensor:
    """Resize((352, 352)) on the PIL image, ToTensor's arithmetic, optionally ImageNet Normalize."""
    array = np.asarray(image.resize((SIZE, SIZE), Image.BILINEAR), np.float32) / np.float32(255)
    if normalise:
        array = (array - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1) if array.ndim == 3 else array[None]))


def their_sample(stem: str, flip: bool = False, window=None, angle=None, factors=None, points=None):
    """Their __getitem__ with every random draw an argument (None: that op's branch not taken)."""
    rgb, gt, depth = open_triplet(stem)
    if flip:
        rgb, gt, depth = (im.transpose(Image.FLIP_LEFT_RIGHT) for im in (rgb, gt, depth))
    if window is not None:
        box = their_crop_box(*rgb.size, *window)
        rgb, gt, depth = (im.crop(box) for im in (rgb, gt, depth))
    if angle is not None:
        rgb, gt, depth = (im.rotate(angle, Image.BICUBIC) for im in (rgb, gt, depth))
    if factors is not None:
        rgb = their_colour(rgb, factors)
    if points is not None:
        gt = their_pepper(gt, points)
    return to_tensor(rgb, normalise=True), to_tensor(depth), to_tensor(gt)


def gray_levels(ours: torch.Tensor, theirs: torch.Tensor, std=None) -> float:
    """Largest difference in 8-bit gray levels (undoing Normalize's division where given)."""
    diff = (ours.double() - theirs.double()).abs()
    if std is not None:
        diff = diff * torch.tensor(std, dtype=torch.float64).view(-1, 1, 1)
    return float(diff.max()) * 255


def ours_sample(transform, stem: str, seed: int = 0):
    rgb, gt, depth = (np.asarray(im) for im in open_triplet(stem))
    return transform(rgb, depth, gt, False, seed)


def recipe_draws(seed: int, stem: str):
    """The crop window (w, h), colour factors and pepper points (row, col, value) that our
    draws give for ``seed`` on ``stem``, BBS-Net's recipe (crop_border 30, gt_pepper 0.0015)."""
    width, height = open_triplet(stem)[0].size
    cut_w, cut_h = draw_crop(op_rng(seed, "crop"), 30)
    window = (width - cut_w, height - cut_h)
    rows, cols, values = draw_pepper(op_rng(seed, "pepper"), window[::-1], 0.0015)
    return window, draw_colour(op_rng(seed, "colour")), list(zip(rows.tolist(), cols.tolist(), values.tolist()))


def unnormalised_rgb(rgb: torch.Tensor) -> torch.Tensor:
    return rgb * torch.from_numpy(STD).view(3, 1, 1) + torch.from_numpy(MEAN).view(3, 1, 1)


# ----------------------------------------------------------------------------- no augmentation
def test_without_augmentation_a_training_sample_equals_their_loader():
    """Every augmentation off, BBS-Net's size and spec: their tensors exactly (measured max
    difference 0 gray levels for RGB, depth and GT on the five DES images)."""
    transform = build_train_transform(AugmentConfig(size=SIZE, flip="none", rotate_prob=0.0), spec=SPEC)
    worst = {"rgb": 0.0, "depth": 0.0, "gt": 0.0}
    items = list(RGBDSODDataset(DES, transform))
    assert [item["name"] for item in items] == STEMS
    for item in items:
        rgb, depth, gt = their_sample(item["name"])
        assert item["rgb"].shape == (3, SIZE, SIZE) and item["depth"].shape == item["gt"].shape == (1, SIZE, SIZE)
        worst["rgb"] = max(worst["rgb"], gray_levels(item["rgb"], rgb, STD))
        worst["depth"] = max(worst["depth"], gray_levels(item["depth"], depth))
        worst["gt"] = max(worst["gt"], gray_levels(item["gt"], gt))
        assert 0.05 < float(item["depth"].mean()) < 0.95  # depth in [0, 1], not mean/std normalised
        assert 0 < float(gt.mean()) < 1
    print(f"max difference to their loader, gray levels: {worst}")
    assert max(worst.values()) <= 1 / 1000, worst


# ----------------------------------------------------------------------------- each op at fixed parameters
@pytest.mark.parametrize("window", [(640, 480), (610, 450), (611, 451), (639, 479), (625, 457), (1, 1)])
def test_centre_crop_is_their_pil_crop_box(window):
    rgb, gt, _ = open_triplet(STEMS[0])
    assert rgb.size == (640, 480)
    box = their_crop_box(*rgb.size, *window)
    for image in (rgb, gt):
        ours = centre_crop(np.asarray(image), *window)
        assert ours.shape[:2] == window[::-1]
        assert np.array_equal(ours, np.asarray(image.crop(box)))


def test_centre_crop_rejects_windows_larger_than_the_image():
    with pytest.raises(ValueError, match="does not fit"):
        centre_crop(np.zeros((10, 20), np.uint8), 21, 10)


@pytest.mark.parametrize("factors", [(1.0, 1.0, 1.0, 1.0), (0.5, 1.5, 0.0, 3.0), (1.3, 0.7, 2.0, 0.0),
                                     (0.8, 1.2, 1.4, 2.6)])
def test_colour_enhance_is_their_imageenhance_chain(factors):
    rgb = open_triplet(STEMS[1])[0]
    ours = enhance_colour(np.asarray(rgb), *factors)
    theirs = np.asarray(their_colour(rgb, factors))
    assert ours.dtype == np.uint8 and np.array_equal(ours, theirs)
    if factors == (1.0, 1.0, 1.0, 1.0):
        assert np.array_equal(ours, np.asarray(rgb))
    else:
        assert np.abs(ours.astype(int) - np.asarray(rgb)).mean() > 1  # the factors do act


def test_pepper_is_their_loop_later_draws_winning():
    gt = open_triplet(STEMS[2])[1]
    height, width = np.asarray(gt).shape
    points = [(0, 0, 255), (height - 1, width - 1, 255), (5, 7, 255), (5, 7, 0), (100, 200, 0),
              (100, 200, 255), (100, 200, 0), (300, 10, 255), (1, width - 1, 0)]
    rows, cols, values = (np.array(column) for column in zip(*points))
    ours = pepper(np.asarray(gt), rows, cols, values.astype(np.uint8))
    theirs = np.asarray(their_pepper(gt, points))
    assert np.array_equal(ours, theirs)
    assert ours[5, 7] == 0 and ours[100, 200] == 0 and ours[0, 0] == 255
    assert (ours != np.asarray(gt)).sum() >= 3 and np.asarray(gt)[0, 0] == 0  # the input is kept


def test_horizontal_flip_is_their_flip_left_right():
    """flip=horizontal: each sample is their unflipped or their flipped one, exactly, never a
    vertical flip; both occur."""
    transform = build_train_transform(AugmentConfig(size=SIZE, flip="horizontal", rotate_prob=0.0), spec=SPEC)
    stem = STEMS[0]
    plain, flipped = their_sample(stem), their_sample(stem, flip=True)
    seen = set()
    for seed in range(12):
        ours = ours_sample(transform, stem, seed)
        match = [all(torch.equal(a, b) for a, b in zip(ours, ref)) for ref in (plain, flipped)]
        assert sum(match) == 1, seed
        seen.add(match[1])
    assert seen == {False, True}


@pytest.mark.parametrize("angle", [-15, 3, 10, 14])
def test_rotation_is_within_the_measured_kernel_difference_of_pil_bicubic(angle):
    """Rotation is albumentations' (OpenCV bicubic, a = -0.75), theirs PIL's BICUBIC (a = -0.5),
    as for CDINet (docs/pixel-path.md "Rotation kernel"). Measured on the DES images, after the
    resize to 352: mean difference 0.02-0.61 gray levels (RGB 0.51-0.61, depth 0.22-0.29, GT
    0.02-0.03), max 45-68 in the band where the black fill begins; at the stored size the mean is
    under 0.9 and the max inside the image about 20-25 at 10-15 degrees. The bound is the mean;
    the opposite direction is far worse."""
    cfg = AugmentConfig(size=SIZE, flip="none", rotate_prob=1.0, rotate_range=(angle, angle))
    transform = build_train_transform(cfg, spec=SPEC)
    means = {"rgb": [], "depth": [], "gt": []}
    for stem in STEMS:
        ours = ours_sample(transform, stem)
        theirs = their_sample(stem, angle=angle)
        for key, a, b in zip(means, (unnormalised_rgb(ours[0]), *ours[1:]),
                             (unnormalised_rgb(theirs[0]), *theirs[1:])):
            means[key].append(float((a - b).abs().mean()) * 255)
    print(f"rotation {angle} deg, mean difference to PIL BICUBIC, gray levels: "
          f"{ {key: round(max(v), 3) for key, v in means.items()} }")
    assert max(max(v) for v in means.values()) < 1.0, means
    wrong_way = their_sample(STEMS[0], angle=-angle)[2]
    assert float((ours_sample(transform, STEMS[0])[2] - wrong_way).abs().mean()) * 255 > 3 * max(means["gt"])


# ----------------------------------------------------------------------------- the whole recipe
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 5, 8])
def test_bbsnet_recipe_without_rotation_equals_their_loader_at_our_draws(seed):
    """Flip, crop, colour and pepper together, in their order, at the parameters our draws give
    for this seed (the flip read off the output: exactly one of the two references matches)."""
    cfg = AugmentConfig(**{**BBSNET, "rotate_prob": 0.0})
    transform = build_train_transform(cfg, spec=SPEC)
    stem = STEMS[seed % len(STEMS)]
    window, factors, points = recipe_draws(seed, stem)
    assert len(points) == int(0.0015 * window[1] * window[0])
    ours = ours_sample(transform, stem, seed)
    match = [all(gray_levels(a, b) == 0 for a, b in zip(ours, their_sample(
        stem, flip=flip, window=window, factors=factors, points=points))) for flip in (False, True)]
    assert sum(match) == 1, (seed, window, factors)


def test_bbsnet_recipe_with_rotation_stays_within_the_kernel_difference():
    cfg = AugmentConfig(**{**BBSNET, "flip": "none", "rotate_prob": 1.0, "rotate_range": (10, 10)})
    transform = build_train_transform(cfg, spec=SPEC)
    seed, stem = 4, STEMS[4]
    window, factors, points = recipe_draws(seed, stem)
    theirs = their_sample(stem, window=window, angle=10, factors=factors, points=points)
    ours = ours_sample(transform, stem, seed)
    for a, b in zip((unnormalised_rgb(ours[0]), *ours[1:]), (unnormalised_rgb(theirs[0]), *theirs[1:])):
        assert float((a - b).abs().mean()) * 255 < 1.0


# ----------------------------------------------------------------------------- the random draws
def test_draws_stay_on_their_grids_and_cover_them():
    seeds = range(3000)
    crops = np.array([draw_crop(op_rng(s, "crop"), 30) for s in seeds])
    width, height = 640, 480
    for windows, side in ((width - crops[:, 0], width), (height - crops[:, 1], height)):
        assert set(windows.tolist()) == set(range(side - 30, side))  # np.random.randint(W - 30, W)
        assert np.abs(np.bincount(windows - (side - 30)) / len(windows) - 1 / 30).max() < 0.015
    assert abs(np.corrcoef(crops[:, 0], crops[:, 1])[0, 1]) < 0.06  # width and height drawn apart
    factors = np.array([draw_colour(op_rng(s, "colour")) for s in seeds])
    for column, (low, high) in enumerate(((5, 15), (5, 15), (0, 20), (0, 30))):
        assert set(factors[:, column].tolist()) == {k / 10.0 for k in range(low, high + 1)}
    for shape in ((480, 640), (451, 611), (352, 352), (10, 10)):
        rows, cols, values = draw_pepper(op_rng(7, "pepper"), shape, 0.0015)
        assert len(rows) == len(cols) == len(values) == int(0.0015 * shape[0] * shape[1])
        if len(rows):
            assert 0 <= rows.min() and rows.max() < shape[0] and 0 <= cols.min() and cols.max() < shape[1]
            assert set(values.tolist()) <= {0, 255}
    rows, cols, values = draw_pepper(op_rng(7, "pepper"), (480, 640), 0.0015)
    assert rows.max() > 400 and cols.max() > 560 and abs((values == 255).mean() - 0.5) < 0.15


def test_flip_is_horizontal_only_about_half_the_time():
    size = 32
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[:8, :8] = 255  # a bright top-left corner: a horizontal flip moves it right, a vertical down
    transform = build_train_transform(AugmentConfig(size=size, flip="horizontal", rotate_prob=0.0, normalize=False))
    flipped = 0
    n = 800
    left, right = np.zeros((size, size), bool), np.zeros((size, size), bool)
    left[:8, :8], right[:8, -8:] = True, True
    for seed in range(n):
        out = transform(rgb, rgb[..., 0], rgb[..., 0], False, seed)
        corner = out[0][0].numpy() > 0.5
        assert np.array_equal(corner, left) or np.array_equal(corner, right), seed  # never upside down
        assert torch.equal(out[1][0] > 0.5, out[0][0] > 0.5) and torch.equal(out[2], out[1])  # joint
        flipped += np.array_equal(corner, right)
    assert abs(flipped / n - 0.5) < 0.05, flipped


def test_same_seed_same_sample_and_seeds_differ():
    transform = build_train_transform(AugmentConfig(**BBSNET, rotate_range=(-15, 14)), spec=SPEC)
    dataset = RGBDSODDataset(DES, transform)
    dataset.augmentation_seed = 11
    first = [dataset[i] for i in range(len(dataset))]
    again = [dataset[i] for i in range(len(dataset))]
    for a, b in zip(first, again):
        assert all(torch.equal(a[key], b[key]) for key in ("rgb", "depth", "gt"))
    dataset.augmentation_seed = 12
    other = dataset[0]
    assert not torch.equal(other["rgb"], first[0]["rgb"])


def test_one_option_on_leaves_the_other_draws_as_they_were():
    """Each op draws from a stream of its own: adding pepper keeps the colour and crop as drawn."""
    rgb, gt, depth = (np.asarray(im) for im in open_triplet(STEMS[3]))
    without = build_train_transform(AugmentConfig(**{**BBSNET, "gt_pepper": 0.0}), spec=SPEC)
    with_pepper = build_train_transform(AugmentConfig(**BBSNET), spec=SPEC)
    for seed in range(4):
        a, b = without(rgb, depth, gt, False, seed), with_pepper(rgb, depth, gt, False, seed)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[2], b[2])


def test_depth_of_another_size_loses_the_same_pixels_in_its_own_grid():
    """A half-size depth (DUT-RGBD-like) is cropped by the same number of pixels as the RGB,
    each with the ``>> 1`` box of its own size."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (120, 160, 3)).astype(np.uint8)
    depth = rng.integers(0, 256, (60, 80)).astype(np.uint8)
    transform = build_train_transform(AugmentConfig(size=SIZE, flip="none", rotate_prob=0.0, crop_border=30,
                                                    normalize=False))
    for seed in range(6):
        cut_w, cut_h = draw_crop(op_rng(seed, "crop"), 30)
        out_rgb, out_depth, _ = transform(rgb, depth, None, False, seed)
        for ours, array in ((out_rgb, rgb), (out_depth, depth)):
            height, width = array.shape[:2]
            box = their_crop_box(width, height, width - cut_w, height - cut_h)
            assert gray_levels(ours, to_tensor(Image.fromarray(array).crop(box))) == 0, seed


# ----------------------------------------------------------------------------- the config
def test_old_flip_switches_read_as_recipes_and_new_options_are_checked():
    assert AugmentConfig.from_dict({"flip": True}).flip == "three_way"
    assert AugmentConfig.from_dict({"flip": False}).flip == "none"
    assert AugmentConfig(flip=False).flip == "none" and AugmentConfig(flip=True).flip == "three_way"
    defaults = AugmentConfig()
    assert (defaults.flip, defaults.crop_border, defaults.color_enhance, defaults.gt_pepper) == (
        "three_way", 0, False, 0.0)
    bbsnet = AugmentConfig.from_dict({**BBSNET, "rotate_interpolation": "cubic"})
    assert AugmentConfig.from_dict(bbsnet.to_dict()) == bbsnet and bbsnet.rotate_range == (-15, 14)
    for bad in ({"flip": "vertical"}, {"flip": 1}, {"crop_border": -1}, {"crop_border": 2.5},
                {"gt_pepper": 1.5}, {"gt_pepper": -0.1}, {"color_enhance": "yes"}):
        with pytest.raises(ConfigError, match=f"data.augment.{next(iter(bad))}"):
            AugmentConfig.from_dict(bad)


@pytest.mark.parametrize("crop_border", [0, 30])
def test_flip_and_rotation_are_drawn_independently(crop_border):
    """With the crop on, rotation runs in a pipeline of its own after it: its draw must not
    repeat the flip's (each of the four outcomes about a quarter of the samples)."""
    side = 200
    rgb = np.full((side, side, 3), 200, np.uint8)
    rgb[:, : side // 2] = 100  # left half darker: a horizontal flip moves it right
    transform = build_train_transform(AugmentConfig(size=64, flip="horizontal", rotate_prob=0.5,
                                                    rotate_range=(10, 15), crop_border=crop_border,
                                                    normalize=False))
    counts = np.zeros((2, 2))
    n = 800
    for seed in range(n):
        out = transform(rgb, rgb[..., 0], None, False, seed)[0][0].numpy() * 255
        rotated = out[0, 0] < 50 and out[-1, -1] < 50  # black corners
        flipped = out[32, 8] > out[32, -9]
        counts[int(flipped), int(rotated)] += 1
    assert np.abs(counts / n - 0.25).max() < 0.05, counts
