"""datasets: reading, pairing by stem, folder layouts and every bad-input case."""
from __future__ import annotations

import logging
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from datasets import DatasetSource, RGBDSODDataset, build_test_transform
from tests.helpers import FIXTURES, unnormalise
from utils.cli import one_line
from utils.errors import DatasetError
from utils.images import read_depth_raw, read_gt, read_rgb, scale_depth
from utils.layout import list_datasets

S = 32  # side of the small test images


def write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image), path
    return path


def write_sample(root: Path, stem: str, k: int, dirs=("RGB", "depth", "GT"),
                 exts=(".png", ".png", ".png")) -> None:
    """A sample whose content encodes ``k``: RGB value 20k+10, depth bright in rows 0..k."""
    depth = np.zeros((S, S), np.uint8)
    depth[: k + 1] = 255
    gt = np.zeros((S, S), np.uint8)
    gt[8:24, 8:24] = 255
    write(root / dirs[0] / f"{stem}{exts[0]}", np.full((S, S, 3), 20 * k + 10, np.uint8))
    write(root / dirs[1] / f"{stem}{exts[1]}", depth)
    write(root / dirs[2] / f"{stem}{exts[2]}", gt)


def identity(item: dict) -> tuple[int, int]:
    """(k from the RGB value, k from the depth rows) of a write_sample sample."""
    rgb, depth = unnormalise(item["rgb"], item["depth"])
    return round((rgb.mean() * 255 - 10) / 20), int(round((depth > 0.5).sum() / S)) - 1


@pytest.fixture
def des() -> Path:
    return FIXTURES / "rgbd" / "DES"


# --- reading ------------------------------------------------------------------------------


def test_des_fixture_reads_with_expected_types(des):
    rgb = read_rgb(des / "RGB" / "RGBD_data_1.jpg")
    depth = read_depth_raw(des / "depth" / "RGBD_data_1.bmp")
    gt = read_gt(des / "GT" / "RGBD_data_1.png")  # 1-bit PNG
    assert rgb.shape == (480, 640, 3) and rgb.dtype == np.uint8
    # 8-bit depth keeps its stored values (the release: no min-max); OpenCV decodes the same
    stored = cv2.imread(str(des / "depth" / "RGBD_data_1.bmp"), cv2.IMREAD_GRAYSCALE)
    assert depth.dtype == np.uint8 and np.array_equal(depth, stored)
    assert gt.dtype == np.uint8 and set(np.unique(gt)) == {0, 255}


def test_gt_stored_as_zero_one_is_not_divided_by_255(tmp_path):
    mask = np.zeros((S, S), np.uint8)
    mask[4:10, 4:10] = 1
    gt = read_gt(write(tmp_path / "m.png", mask))
    assert gt.max() == 255 and (gt == 255).sum() == 36


@pytest.mark.parametrize("scaling", ["release", "minmax"])
def test_16bit_depth_keeps_full_precision(tmp_path, scaling):
    raw = (1000 + 37 * np.arange(S * S).reshape(S, S)).astype(np.uint16)  # > 256 levels
    stored = read_depth_raw(write(tmp_path / "d.png", raw))
    assert stored.dtype == np.uint16 and np.array_equal(stored, raw)
    depth = scale_depth(stored, scaling)  # both min-max a 16-bit map (the release cannot read it)
    expected = ((raw.astype(np.float64) - raw.min()) / (raw.max() - raw.min())).astype(np.float32)
    assert np.array_equal(depth, expected)
    assert len(np.unique(depth)) == S * S


def test_grayscale_and_rgba_become_three_channel_rgb(tmp_path):
    gray = np.arange(S * S, dtype=np.uint8).reshape(S, S)
    assert np.array_equal(read_rgb(write(tmp_path / "g.png", gray)), np.dstack([gray] * 3))
    bgra = np.zeros((S, S, 4), np.uint8)
    bgra[..., 0], bgra[..., 2], bgra[..., 3] = 200, 50, np.arange(S)[None]  # blue, red, alpha
    rgb = read_rgb(write(tmp_path / "a.png", bgra))
    assert rgb.shape == (S, S, 3)
    assert (rgb[..., 0] == 50).all() and (rgb[..., 2] == 200).all()  # channels in RGB order


@pytest.mark.parametrize("content, words", [(b"", "empty file"), (b"not an image", "unreadable")])
def test_empty_or_corrupt_file_is_an_error_naming_it(tmp_path, content, words):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=words) as info:
        read_rgb(path)
    assert str(path) in str(info.value)


# --- dataset over the real fixtures ---------------------------------------------------------


def test_des_samples_carry_name_dataset_and_original_size(des):
    ds = RGBDSODDataset(DatasetSource(des, invert_depth=True), build_test_transform(64))
    assert [s.name for s in ds.samples] == [f"RGBD_data_{i}" for i in range(1, 6)]
    item = ds[0]
    assert item["rgb"].shape == (3, 64, 64) and item["rgb"].dtype == torch.float32
    assert item["depth"].shape == (1, 64, 64) and item["gt"].shape == (1, 64, 64)
    assert item["name"] == "RGBD_data_1" and item["dataset"] == "DES"
    assert item["size"].tolist() == [480, 640] and item["size"].dtype == torch.long
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["size"].shape == (2, 2) and batch["name"] == ["RGBD_data_1", "RGBD_data_2"]


def test_invert_depth_flips_des_polarity(des):
    plain = RGBDSODDataset(des, build_test_transform(64))
    inverted = RGBDSODDataset(DatasetSource(des, invert_depth=True), build_test_transform(64))
    for i in range(len(plain)):
        d0, d1 = (unnormalise(item["rgb"], item["depth"])[1] for item in (plain[i], inverted[i]))
        # (255 - d) / 255 = 1 - d / 255, up to the 8-bit rounding of each resized map
        assert np.abs(d0 + d1 - 1.0).max() <= 1 / 255 + 1e-6
        inside = plain[i]["gt"][0].numpy() > 0.5
        assert d0[inside].mean() < d0[~inside].mean()  # DES: near = dark
        assert d1[inside].mean() > d1[~inside].mean()  # CDINet: near = bright


# --- pairing and layouts --------------------------------------------------------------------


def test_pairing_is_by_stem_not_sorted_order(tmp_path):
    root = tmp_path / "set"
    for k, stem in enumerate(["b", "c", "a"]):
        write_sample(root, stem, k, exts=(".jpg", ".bmp", ".PNG"))
    write(root / "depth" / "0_stray.png", np.zeros((S, S), np.uint8))  # sorts first
    with pytest.raises(DatasetError, match="0_stray.png"):
        RGBDSODDataset(root, build_test_transform(S))
    ds = RGBDSODDataset(root, build_test_transform(S), skip_bad=True)
    assert [s.name for s in ds.samples] == ["a", "b", "c"]
    for item in ds:
        k = ["b", "c", "a"].index(item["name"])
        assert identity(item) == (k, k)
    assert [(b.name, b.kind) for b in ds.skipped] == [("0_stray", "unpaired")]


@pytest.mark.parametrize("dirs", [("Image", "Depth", "Mask"), ("images", "depths", "masks"),
                                  ("rgb", "DEPTH", "gt"), ("test_images", "test_depth", "test_masks"),
                                  ("train_images", "train_depth", "train_masks")])
def test_alternative_folder_names(tmp_path, dirs):
    for k in range(2):
        write_sample(tmp_path / "set", f"s{k}", k, dirs=dirs)
    ds = RGBDSODDataset(tmp_path / "set", build_test_transform(S))
    assert [identity(item) for item in ds] == [(0, 0), (1, 1)]


def test_list_file_selects_stems_in_its_order(tmp_path):
    root = tmp_path / "set"
    for k in range(4):
        write_sample(root, f"s{k}", k)
    (root / "train.txt").write_text("# split\ns3.jpg\n\ns1\n")
    ds = RGBDSODDataset(DatasetSource(root, list_file="train.txt"), build_test_transform(S))
    assert [item["name"] for item in ds] == ["s3", "s1"]
    assert [identity(item) for item in ds] == [(3, 3), (1, 1)]
    (root / "bad.txt").write_text("s1\nnope\n")
    with pytest.raises(DatasetError, match="'nope'"):
        RGBDSODDataset(DatasetSource(root, list_file=root / "bad.txt"), build_test_transform(S))


def test_several_roots_are_concatenated_with_their_names(tmp_path):
    for k in range(3):
        write_sample(tmp_path / "NJU2K", f"n{k}", k)
    for k in range(2):
        write_sample(tmp_path / "NLPR", f"p{k}", k)
    ds = RGBDSODDataset([tmp_path / "NJU2K", DatasetSource(tmp_path / "NLPR", name="nlpr")],
                        build_test_transform(S))
    assert len(ds) == 5
    assert [item["dataset"] for item in ds] == ["NJU2K"] * 3 + ["nlpr"] * 2


def test_dut_style_small_depth_lands_on_the_rgb_objects(tmp_path):
    root = tmp_path / "DUT"
    rgb = np.zeros((48, 64, 3), np.uint8)
    gt = np.zeros((48, 64), np.uint8)
    gt[:24, 32:] = 255  # top-right quarter
    depth = np.zeros((16, 16), np.uint8)
    depth[:8, 8:] = 255  # same quarter at another size
    write(root / "RGB" / "x.jpg", rgb), write(root / "GT" / "x.png", gt)
    write(root / "depth" / "x.png", depth)
    item = RGBDSODDataset(root, build_test_transform(32))[0]
    assert item["size"].tolist() == [48, 64]
    near = unnormalise(item["rgb"], item["depth"])[1] > 0.5
    obj = item["gt"][0].numpy() > 0.5
    assert (near & obj).sum() / (near | obj).sum() > 0.8


def test_without_gt_maps_take_the_gt_size_where_one_exists(tmp_path):
    write_sample(tmp_path / "A", "a", 0)
    write(tmp_path / "A" / "GT" / "a.png", np.zeros((S // 2, S + 8), np.uint8))  # another size
    write_sample(tmp_path / "A", "c", 2)
    (tmp_path / "A" / "GT" / "c.png").unlink()  # an incomplete GT folder
    write_sample(tmp_path / "B", "b", 1)
    for path in (tmp_path / "B" / "GT").iterdir():
        path.unlink()
    (tmp_path / "B" / "GT").rmdir()
    with pytest.raises(DatasetError, match="no GT folder"):
        RGBDSODDataset(tmp_path / "B", build_test_transform(S))
    ds = RGBDSODDataset([tmp_path / "A", tmp_path / "B"], build_test_transform(S), load_gt=False)
    assert [s.name for s in ds.samples] == ["a", "c", "b"]
    assert all("gt" not in item for item in ds)
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch["rgb"].shape == (3, 3, S, S)
    assert batch["size"].tolist() == [[S // 2, S + 8], [S, S], [S, S]]  # GT's size, else RGB's


def test_list_datasets_finds_dataset_like_folders(tmp_path):
    write_sample(tmp_path / "NLPR", "a", 0)
    write_sample(tmp_path / "SIP", "a", 0, dirs=("Image", "Depth", "Mask"))
    (tmp_path / "runs" / "GT").mkdir(parents=True)
    (tmp_path / "notes.txt").write_text("x")
    assert list_datasets(tmp_path) == ["NLPR", "SIP"]
    with pytest.raises(DatasetError, match="nowhere"):
        list_datasets(tmp_path / "nowhere")


def test_dataset_pickles_and_loads_in_a_worker(tmp_path):
    for k in range(4):
        write_sample(tmp_path / "set", f"s{k}", k)
    ds = pickle.loads(pickle.dumps(RGBDSODDataset(tmp_path / "set", build_test_transform(S))))
    batches = list(DataLoader(ds, batch_size=2, num_workers=1))
    assert [n for b in batches for n in b["name"]] == ["s0", "s1", "s2", "s3"]


# --- bad input ------------------------------------------------------------------------------


def make_set(tmp_path: Path, n: int = 3) -> Path:
    for k in range(n):
        write_sample(tmp_path / "set", f"s{k}", k)
    return tmp_path / "set"


@pytest.mark.parametrize("break_it, words", [
    (lambda r: (r / "depth" / "s1.png").unlink(), "s1.png has no counterpart in .*depth/"),
    (lambda r: (r / "GT" / "s1.png").write_bytes(b""), "s1.png: empty file"),
    (lambda r: write(r / "GT" / "zz.png", np.zeros((S, S), np.uint8)), "zz.png has no counterpart"),
    (lambda r: write(r / "RGB" / "s1.jpg", np.zeros((S, S, 3), np.uint8)), "s1.jpg and .*s1.png"),
])
def test_structural_problems_raise_at_construction_or_are_skipped(tmp_path, caplog, break_it,
                                                                  words):
    root = make_set(tmp_path)
    break_it(root)
    with pytest.raises(DatasetError, match=words):
        RGBDSODDataset(root, build_test_transform(S))
    with caplog.at_level(logging.WARNING):
        ds = RGBDSODDataset(root, build_test_transform(S), skip_bad=True)
    assert len(ds.skipped) == 1 and len(ds) == 3 - (ds.skipped[0].name != "zz")
    assert "skipped 1 bad sample" in caplog.text and ds.skipped[0].name in caplog.text


@pytest.mark.parametrize("break_it, words", [
    (lambda r: (r / "RGB" / "s2.png").write_bytes(b"garbage"), "s2.png: unreadable image"),
    (lambda r: write(r / "GT" / "s2.png", np.zeros((S, S + 1), np.uint8)), "s2.png: GT is 33x32"),
])
def test_undecodable_or_mismatched_files_raise_when_loaded_or_are_skipped(tmp_path, break_it,
                                                                          words):
    root = make_set(tmp_path)
    break_it(root)
    ds = RGBDSODDataset(root, build_test_transform(S))
    ds[0]
    with pytest.raises(DatasetError, match=words):
        ds[2]
    ds = RGBDSODDataset(root, build_test_transform(S), skip_bad=True)
    assert [s.name for s in ds.samples] == ["s0", "s1"]
    assert ds.skipped[0].kind == "load error" and "s2.png" in ds.skipped[0].reason


def test_error_raised_in_a_worker_keeps_its_type_and_one_line_message(tmp_path):
    root = make_set(tmp_path)
    (root / "RGB" / "s2.png").write_bytes(b"garbage")
    ds = RGBDSODDataset(root, build_test_transform(S))
    with pytest.raises(DatasetError) as info:  # torch needs ~5 s to stop a failed worker
        list(DataLoader(ds, batch_size=3, num_workers=1))
    assert "Traceback" in str(info.value)  # torch prefixes the worker's traceback
    expected = f"{root / 'RGB' / 's2.png'}: unreadable image (not a format Pillow can decode)"
    assert one_line(info.value) == expected


@pytest.mark.parametrize("setup, words", [
    (lambda t: t / "missing", "missing: dataset folder not found"),
    (lambda t: (make_set(t), [p.unlink() for p in (t / "set" / "depth").iterdir()])[0],
     "depth: empty folder"),
    (lambda t: (make_set(t), (t / "set" / "Image").mkdir())[0], "Image and RGB both look like"),
])
def test_folder_problems_are_one_line_errors(tmp_path, setup, words):
    with pytest.raises(DatasetError, match=words) as info:
        RGBDSODDataset(setup(tmp_path), build_test_transform(S))
    assert "\n" not in str(info.value)
