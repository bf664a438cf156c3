"""datasets.transforms: the release recipe as defaults, config checks, joint alignment."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from datasets import build_test_transform, build_train_transform
from tests.helpers import DEPTH_MEAN, DEPTH_STD, RGB_MEAN, RGB_STD, unnormalise
from utils.config import AugmentConfig, PreprocessConfig
from utils.errors import ConfigError

H, W = 48, 64


def scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A red, near object in the top-left quadrant of a grey, far background (8-bit files)."""
    rgb = np.full((H, W, 3), 128, np.uint8)
    depth = np.full((H, W), 51, np.uint8)
    gt = np.zeros((H, W), np.uint8)
    rgb[6:20, 8:26] = (230, 20, 20)
    depth[6:20, 8:26] = 230
    gt[6:20, 8:26] = 255
    return rgb, depth, gt


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / max((a | b).sum(), 1)


def test_defaults_are_the_release_recipe():
    cfg = AugmentConfig()
    assert (cfg.size, cfg.flip, cfg.rotate_prob, cfg.rotate_range) == (256, "three_way", 0.2, (-15, 14))
    assert (cfg.integer_angles, cfg.rotate_interpolation) == (True, "cubic")
    assert (cfg.gt_nearest, cfg.binarize_gt, cfg.normalize) == (False, False, True)
    pre = PreprocessConfig()
    assert (pre.resize, pre.interpolation, pre.depth_scaling, pre.depth_resize) == (
        "pil", "linear", "release", "direct") and pre.is_release
    with pytest.raises(ConfigError, match="data.preprocess.resize must be one of pil, opencv, got 'cv2'"):
        PreprocessConfig.from_dict({"resize": "cv2"})


def test_config_round_trips_through_plain_values_and_rejects_unknown_keys():
    cfg = AugmentConfig(size=96, rotate_prob=0.5, rotate_range=(-10, 10), gt_nearest=True)
    d = json.loads(json.dumps(cfg.to_dict()))  # plain Python values only
    assert AugmentConfig.from_dict(d) == cfg
    with pytest.raises(ConfigError, match="unknown config key 'data.augment.rotate_limit'"):
        AugmentConfig.from_dict({"rotate_limit": 10})
    for bad in ({"size": 0}, {"flip": 1}, {"rotate_prob": 1.5}, {"rotate_range": [5, -5]},
                {"rotate_interpolation": "bilinear"}, {"rotate_range": [-1.5, 2]}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            AugmentConfig.from_dict(bad)


def test_joint_transform_keeps_rgb_depth_gt_aligned_under_flips_and_rotations():
    transform = build_train_transform(AugmentConfig(size=32, rotate_prob=0.5))
    quadrants = set()
    torch.manual_seed(0)
    for _ in range(40):
        rgb, depth, gt = transform(*scene())
        rgb, depth = unnormalise(rgb, depth)
        obj = gt[0].numpy() > 0.5
        assert iou(rgb[..., 0] - rgb[..., 1] > 0.5, obj) > 0.8
        assert iou(depth > 0.55, obj) > 0.8
        ys, xs = np.nonzero(obj)
        quadrants.add((ys.mean() > 16, xs.mean() > 16))
    assert quadrants == {(False, False), (False, True), (True, False)}  # none, h-flip, v-flip


def test_flip_and_rotation_frequencies_match_the_recipe():
    transform = build_train_transform(AugmentConfig(size=H))
    rgb = np.full((H, H, 3), 200, np.uint8)
    rgb[:, : H // 2] = 100  # left half dark: a horizontal flip moves it right
    rgb[: H // 2, :, 1] = 0  # top half without green: a vertical flip moves it down
    counts = {"none": 0, "h": 0, "v": 0, "rotated": 0}
    n = 600
    for _ in range(n):
        out = unnormalise(*transform(rgb, np.zeros((H, H), np.uint8))[:2])[0]
        counts["rotated"] += bool(out[0, 0].max() < 0.05 or out[-1, -1].max() < 0.05)
        left_dark = out[H // 2, 2, 0] < out[H // 2, -3, 0]
        top_no_green = out[2, H // 2, 1] < out[-3, H // 2, 1]
        counts["none" if left_dark and top_no_green else "h" if top_no_green else "v"] += 1
    for key in ("none", "h", "v"):
        assert abs(counts[key] / n - 1 / 3) < 0.07, counts
    assert abs(counts["rotated"] / n - 0.2 * 29 / 30) < 0.05, counts  # angle 0 leaves no corner


def test_gt_is_soft_by_default_and_binary_on_request():
    torch.manual_seed(0)
    soft = build_train_transform(AugmentConfig(size=20, rotate_prob=1.0))(*scene())[2]
    assert ((soft > 0.01) & (soft < 0.99)).any()
    binary = build_train_transform(AugmentConfig(size=20, rotate_prob=1.0, gt_nearest=True,
                                                 binarize_gt=True))(*scene())[2]
    assert set(binary.unique().tolist()) <= {0.0, 1.0} and binary.sum() > 0


def test_normalisation_constants_and_switch():
    rgb = np.full((H, W, 3), 255, np.uint8)
    depth = np.full((H, W), 255, np.uint8)  # release: 8-bit depth / 255, no min-max
    out_rgb, out_depth, gt = build_test_transform(16)(rgb, depth)
    assert gt is None and out_rgb.shape == (3, 16, 16) and out_depth.shape == (1, 16, 16)
    expected = (1 - np.array(RGB_MEAN)) / np.array(RGB_STD)
    assert np.allclose(out_rgb.mean((1, 2)).numpy(), expected, atol=1e-5)
    assert np.allclose(out_depth.numpy(), (1 - DEPTH_MEAN) / DEPTH_STD, atol=1e-5)
    raw_rgb, raw_depth, _ = build_train_transform(AugmentConfig(size=16, normalize=False,
                                                                rotate_prob=0))(rgb, depth)
    assert torch.allclose(raw_rgb, torch.ones(3, 16, 16)) and torch.allclose(raw_depth,
                                                                            torch.ones(1, 16, 16))


def test_test_transform_is_deterministic():
    transform = build_test_transform(32)
    first, second = transform(*scene()), transform(*scene())
    assert all(torch.equal(a, b) for a, b in zip(first, second))


class Repeated(Dataset):
    """The same scene n times through a transform: only augmentation makes items differ."""

    def __init__(self, transform, n):
        self.transform, self.n = transform, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.transform(*scene())[2]


def test_workers_draw_different_augmentations_reproducibly_from_torch_seed():
    ds = Repeated(build_train_transform(AugmentConfig(size=16, rotate_prob=0)), 24)

    def run():
        torch.manual_seed(42)
        return torch.cat(list(DataLoader(ds, batch_size=12, num_workers=2)))

    first = run()
    assert not torch.equal(first[:12], first[12:])  # worker 0 and worker 1 differ
    assert torch.equal(first, run())  # same torch seed, same augmentations
