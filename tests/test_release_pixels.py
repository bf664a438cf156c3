"""The default pixel path equals the CDINet release's, checked against a reference written here.

The reference is the release's loader as docs/pixel-path.md describes it, built from
PIL and torchvision alone: ``Image.open(f).convert('RGB')`` / ``.convert('L')``, torchvision
``Resize((S, S))`` on the PIL image, ``ToTensor()``, ``Normalize`` (RGB ImageNet mean/std,
depth .485/.229; GT not normalised). Each of RGB, depth and GT is resized on its own, so a
DUT-RGBD depth of another size goes straight to S x S.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image

from datasets import DatasetSource, RGBDSODDataset, build_test_transform, build_train_transform
from tests.helpers import FIXTURES
from utils.config import AugmentConfig, PreprocessConfig

DES = FIXTURES / "rgbd" / "DES"
RGB_STATS = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
NO_AUGMENTATION = dict(flip=False, rotate_prob=0.0)


def release_tensors(rgb_path: Path, depth_path: Path, gt_path: Path | None, size: int):
    """The release loader's tensors for one sample (PIL + torchvision, nothing of ours)."""
    rgb = T.Compose([T.Resize((size, size)), T.ToTensor(), T.Normalize(*RGB_STATS)])
    depth = T.Compose([T.Resize((size, size)), T.ToTensor(), T.Normalize([0.485], [0.229])])
    gt = T.Compose([T.Resize((size, size)), T.ToTensor()])
    return (rgb(Image.open(rgb_path).convert("RGB")), depth(Image.open(depth_path).convert("L")),
            gt(Image.open(gt_path).convert("L")) if gt_path else None)


def gray_levels(ours: torch.Tensor, release: torch.Tensor, std) -> float:
    """Largest difference in 8-bit gray levels (undoing the normalisation's division)."""
    std = torch.tensor(std, dtype=torch.float64).view(-1, 1, 1)
    return float(((ours.double() - release.double()).abs() * std * 255).max())


def generated_set(root: Path) -> Path:
    """Images of other sizes than DES: a DUT-like 256x256 depth beside a 600x400 RGB, a
    low-contrast 8-bit depth (a ramp over 118..141) at an odd size, and an upscaled small image."""
    rng = np.random.default_rng(0)
    for sub in ("RGB", "depth", "GT"):
        (root / sub).mkdir(parents=True)

    def sample(stem: str, rgb_hw, depth_hw, low_contrast=False):
        h, w = rgb_hw
        yy, xx = np.mgrid[:h, :w]
        rgb = np.dstack([(xx * 255 // w), (yy * 255 // h), rng.integers(0, 256, (h, w))]).astype(np.uint8)
        Image.fromarray(rgb).save(root / "RGB" / f"{stem}.jpg", quality=90)
        depth = rng.integers(0, 256, size=depth_hw).astype(np.uint8)
        if low_contrast:
            depth = (118 + 23 * np.mgrid[:depth_hw[0], :depth_hw[1]][1] / (depth_hw[1] - 1)).round().astype(np.uint8)
        Image.fromarray(depth).save(root / "depth" / f"{stem}.png")
        gt = np.zeros((h, w), np.uint8)
        gt[h // 4: 3 * h // 4, w // 3: 2 * w // 3] = 255
        Image.fromarray(gt).save(root / "GT" / f"{stem}.png")

    sample("dut_like", (400, 600), (256, 256))
    sample("low_contrast", (333, 517), (333, 517), low_contrast=True)
    sample("small", (100, 150), (100, 150))
    return root


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    return generated_set(tmp_path_factory.mktemp("gen") / "GEN")


def sample_paths(root: Path, stem: str):
    find = lambda sub: next((root / sub).glob(f"{stem}.*"))  # noqa: E731
    return find("RGB"), find("depth"), find("GT")


@pytest.mark.parametrize("folder", ["des", "generated"])
@pytest.mark.parametrize("size", [256, 64])
def test_test_time_inputs_equal_the_release_loader(folder, size, generated):
    root = DES if folder == "des" else generated
    dataset = RGBDSODDataset(root, build_test_transform(size), load_gt=False)
    for item in dataset:
        rgb_path, depth_path, gt_path = sample_paths(root, item["name"])
        rgb, depth, _ = release_tensors(rgb_path, depth_path, None, size)
        assert gray_levels(item["rgb"], rgb, RGB_STATS[1]) <= 1 / 1000, item["name"]
        assert gray_levels(item["depth"], depth, [0.229]) <= 1 / 1000, item["name"]
        # maps are written at the GT's size, as the release (F.upsample(res, size=gt.shape))
        assert item["size"].tolist() == list(np.asarray(Image.open(gt_path)).shape[:2])


@pytest.mark.parametrize("folder", ["des", "generated"])
def test_training_samples_without_flip_and_rotation_equal_the_release_loader(folder, generated):
    root = DES if folder == "des" else generated
    transform = build_train_transform(AugmentConfig(size=256, **NO_AUGMENTATION))
    for item in RGBDSODDataset(root, transform):
        rgb, depth, gt = release_tensors(*sample_paths(root, item["name"]), size=256)
        assert gray_levels(item["rgb"], rgb, RGB_STATS[1]) <= 1 / 1000, item["name"]
        assert gray_levels(item["depth"], depth, [0.229]) <= 1 / 1000, item["name"]
        assert gray_levels(item["gt"], gt, [1.0]) <= 1 / 1000, item["name"]
        assert 0 < float(gt.mean()) < 1  # soft, resized GT is compared, not an empty one


def test_release_depth_is_divided_by_255_not_min_maxed(generated):
    """The low-contrast depth ramp (118..141) stays low-contrast, as in the release."""
    item = next(i for i in RGBDSODDataset(generated, build_test_transform(64), load_gt=False)
                if i["name"] == "low_contrast")
    depth = item["depth"] * 0.229 + 0.485
    assert 118 / 255 - 1e-3 <= float(depth.min()) and float(depth.max()) <= 141 / 255 + 1e-3
    minmax = RGBDSODDataset(generated, build_test_transform(64, PreprocessConfig(depth_scaling="minmax")),
                            load_gt=False)
    stretched = next(i for i in minmax if i["name"] == "low_contrast")["depth"] * 0.229 + 0.485
    assert float(stretched.max() - stretched.min()) > 0.9


def test_albumentations_rotation_against_pil_rotate():
    """Rotation is albumentations' (OpenCV bicubic, a = -0.75) where the release uses PIL's
    ``Image.rotate(angle, BICUBIC)`` (a = -0.5). At a fixed angle of 10 degrees, after the resize
    to 256, the mean difference on the DES samples stays under 1 gray level (docs/pixel-path.md
    "Rotation kernel" gives the
    measured figures); a wrong direction, pivot or fill would be far above it."""
    angle = 10
    transform = build_train_transform(AugmentConfig(size=256, flip=False, rotate_prob=1.0,
                                                    rotate_range=(angle, angle)))
    resize = T.Compose([T.Resize((256, 256)), T.ToTensor()])
    means = {"rgb": [], "depth": [], "gt": []}
    for item in RGBDSODDataset(DES, transform):
        rgb_path, depth_path, gt_path = sample_paths(DES, item["name"])
        release = {
            "rgb": resize(Image.open(rgb_path).convert("RGB").rotate(angle, Image.BICUBIC)),
            "depth": resize(Image.open(depth_path).convert("L").rotate(angle, Image.BICUBIC)),
            "gt": resize(Image.open(gt_path).convert("L").rotate(angle, Image.BICUBIC)),
        }
        ours = {"rgb": item["rgb"] * torch.tensor(RGB_STATS[1]).view(3, 1, 1)
                + torch.tensor(RGB_STATS[0]).view(3, 1, 1),
                "depth": item["depth"] * 0.229 + 0.485, "gt": item["gt"]}
        for key in means:
            means[key].append(float((ours[key] - release[key]).abs().mean()) * 255)
    assert max(max(v) for v in means.values()) < 1.0, means
    # and not rotated the other way: the opposite angle is far worse
    other = Image.open(sample_paths(DES, "RGBD_data_1")[2]).convert("L").rotate(-angle, Image.BICUBIC)
    first = next(iter(RGBDSODDataset(DES, transform)))
    assert float((first["gt"] - resize(other)).abs().mean()) * 255 > 3 * max(means["gt"])


@pytest.mark.parametrize("option", ["opencv", "minmax", "rgb_first"])
def test_named_departures_compute_what_they_say(option, generated):
    """The former pipeline's pieces, now options, against references written here with
    OpenCV and numpy (not the project's own code path). ``opencv`` is JL-DCF's loader:
    ``cv2.resize`` of the image as float32, not rounded back to 8 bits."""
    import cv2

    pre = {"opencv": PreprocessConfig(resize="opencv"), "minmax": PreprocessConfig(depth_scaling="minmax"),
           "rgb_first": PreprocessConfig(resize="opencv", depth_resize="rgb_first")}[option]
    item = next(i for i in RGBDSODDataset(generated, build_test_transform(64, pre), load_gt=False)
                if i["name"] == "dut_like")
    rgb_path, depth_path, _ = sample_paths(generated, "dut_like")
    depth = np.asarray(Image.open(depth_path).convert("L"))
    if option == "opencv":
        rgb = np.asarray(Image.open(rgb_path).convert("RGB"))
        expected_rgb = cv2.resize(rgb.astype(np.float32), (64, 64), interpolation=cv2.INTER_LINEAR) / 255.0
        got = item["rgb"].numpy().transpose(1, 2, 0) * RGB_STATS[1] + RGB_STATS[0]
        assert np.abs(got - expected_rgb).max() < 1e-5
        rounded = cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_LINEAR) / 255.0  # the uint8 resize
        assert np.abs(got - rounded).max() > 1e-3
        expected = cv2.resize(depth.astype(np.float32), (64, 64), interpolation=cv2.INTER_LINEAR) / 255.0
    elif option == "minmax":
        unit = (depth.astype(np.float64) - depth.min()) / (depth.max() - depth.min())
        expected = np.asarray(Image.fromarray(unit.astype(np.float32)).resize((64, 64), Image.BILINEAR))
    else:  # to the RGB's 600x400 first, then to 64x64
        unit = cv2.resize(depth.astype(np.float32), (600, 400), interpolation=cv2.INTER_LINEAR)
        expected = cv2.resize(unit, (64, 64), interpolation=cv2.INTER_LINEAR) / 255.0
    got_depth = item["depth"][0].numpy() * 0.229 + 0.485
    assert np.abs(got_depth - expected).max() < 1e-5


def test_augmented_dut_depth_gets_the_same_flip_and_rotation_as_the_rgb(tmp_path):
    """A depth map of another size is flipped and rotated by the same draw, in its own grid."""
    root = tmp_path / "DUT"
    for sub in ("RGB", "depth", "GT"):
        (root / sub).mkdir(parents=True)
    gt = np.zeros((120, 180), np.uint8)
    gt[10:50, 110:170] = 255  # an off-centre object: every flip moves it
    Image.fromarray(np.zeros((120, 180, 3), np.uint8)).save(root / "RGB" / "x.png")
    Image.fromarray(gt).save(root / "GT" / "x.png")
    Image.fromarray(np.asarray(Image.fromarray(gt).resize((64, 64), Image.NEAREST))).save(root / "depth" / "x.png")
    transform = build_train_transform(AugmentConfig(size=32, rotate_prob=1.0))
    dataset = RGBDSODDataset(DatasetSource(root), transform)
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        item = dataset[0]
        near = (item["depth"][0] * 0.229 + 0.485) > 0.5
        obj = item["gt"][0] > 0.5
        assert (near & obj).sum() / (near | obj).sum() > 0.7, seed
        seen.add(tuple(np.argwhere(obj.numpy()).mean(0).round()))
    assert len(seen) > 2  # the draws did differ between seeds
