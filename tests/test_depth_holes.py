"""Depth holes on the real DES fixtures turned into Kinect-style depth: 16-bit millimetres (far =
large, so near = dark as DES is stored) with 3% of the pixels zeroed in a fixed pattern. Counted by
datasets.check and the polarity measurement, kept as stored by default, filled with the far value
by ``data.preprocess.depth_holes: far``, warned about by test.py; what ``auto`` decided is said."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from datasets import DatasetSource, RGBDSODDataset, build_test_transform
from datasets.check import main as check_main
from datasets.pairing import pair_samples, scan_source
from datasets.polarity import HOLE_SHARE, DepthHoles, Polarity, decide, measure_polarity
from tests.helpers import RGBD, load_test_script, run_test_py
from utils.config import PreprocessConfig
from utils.images import depth_holes, fill_holes_far

test_script = load_test_script()
HOLE_EVERY = 33  # every 33rd pixel (in row-major order) is a hole: 3.03% of a map
STEMS = [f"RGBD_data_{i}" for i in range(1, 6)]
NO_HOLES = "RGBD_data_1"  # stored without holes, so that 4 of the 5 maps have some


def millimetres(stem: str) -> np.ndarray:
    """The DES depth of ``stem`` (8-bit, near = dark) as uint16 millimetres, 500 to 4070, with
    the fixed hole pattern zeroed (except in :data:`NO_HOLES`)."""
    stored = np.array(Image.open(RGBD / "DES" / "depth" / f"{stem}.bmp").convert("L"))
    depth = (500 + 14 * stored.astype(np.uint32)).astype(np.uint16)
    if stem != NO_HOLES:
        depth.reshape(-1)[::HOLE_EVERY] = 0
    return depth


@pytest.fixture(scope="module")
def kinect_root(tmp_path_factory) -> Path:
    """``ROOT/DES`` with the fixtures' RGB and GT and 16-bit PNG millimetre depth with holes."""
    root = tmp_path_factory.mktemp("kinect")
    for role in ("RGB", "GT"):
        shutil.copytree(RGBD / "DES" / role, root / "DES" / role)
    (root / "DES" / "depth").mkdir()
    for stem in STEMS:
        assert cv2.imwrite(str(root / "DES" / "depth" / f"{stem}.png"), millimetres(stem))
    return root


def stored_depth(root: Path, stem: str) -> np.ndarray:
    """The depth file as written, read back here with OpenCV (16-bit kept)."""
    depth = cv2.imread(str(root / "DES" / "depth" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16
    return depth


def expected_holes(root: Path) -> tuple[int, int, int]:
    """(hole pixels, pixels, maps with holes) over the files, counted with numpy."""
    maps = [stored_depth(root, stem) for stem in STEMS]
    return (sum(int((m == 0).sum()) for m in maps), sum(m.size for m in maps),
            sum(bool((m == 0).any()) for m in maps))


def farthest_fill_loop(raw: np.ndarray, near_dark: bool) -> np.ndarray:
    """Each 0 pixel given the farthest valid value, pixel by pixel: the largest non-zero value
    of a near = dark map, the smallest of a near = bright one."""
    far = None
    for value in raw.flat:
        if value != 0 and (far is None or (value > far if near_dark else value < far)):
            far = value
    out = raw.copy()
    flat = out.reshape(-1)
    for index in range(flat.size):
        if flat[index] == 0:
            flat[index] = far
    return out


def reference_depth_tensor(raw: np.ndarray, size: int) -> np.ndarray:
    """The pixel path for 16-bit depth, written here: min-max in float64, inverted (near = dark
    -> near = bright), Pillow's bilinear resize in mode F, clipped, CDINet's depth mean/std."""
    depth = raw.astype(np.float64)
    depth = ((depth - depth.min()) / (depth.max() - depth.min())).astype(np.float32)
    depth = np.float32(1.0) - depth
    if depth.shape != (size, size):
        depth = np.array(Image.fromarray(depth, mode="F").resize((size, size), Image.Resampling.BILINEAR))
    depth = np.clip(depth, 0.0, 1.0)
    return (depth - np.float32(0.485)) / np.float32(0.229)


def test_check_and_the_polarity_measurement_count_the_holes(kinect_root, capsys):
    holes, pixels, with_holes = expected_holes(kinect_root)
    assert holes == 4 * len(range(0, 480 * 640, HOLE_EVERY)) and pixels == 5 * 480 * 640 and with_holes == 4
    assert check_main([str(kinect_root / "DES")]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.strip().startswith("holes:"))
    assert f"{100 * holes / pixels:.2f}% of the pixels stored as 0 or invalid, in 4/5 maps" in line
    assert "depth_holes: far" in line  # above the share test.py warns at
    assert "16-bit: 5" in out and "near = dark" in out  # the polarity is still measured right

    samples, _ = pair_samples(scan_source(DatasetSource(kinect_root / "DES"), require_gt=True))
    polarity = measure_polarity(samples)
    assert polarity.verdict == "near = dark"
    assert (polarity.holes.holes, polarity.holes.pixels, polarity.holes.with_holes, polarity.holes.maps) == \
        (holes, pixels, 4, 5)
    assert polarity.to_dict()["holes"] == {"maps": 5, "maps_with_holes": 4, "share": round(holes / pixels, 6)}


def test_check_counts_the_zeros_of_the_original_8_bit_fixtures(capsys):
    maps = [np.array(Image.open(RGBD / "DES" / "depth" / f"{stem}.bmp").convert("L")) for stem in STEMS]
    zeros, pixels = sum(int((m == 0).sum()) for m in maps), sum(m.size for m in maps)
    assert 0 < zeros / pixels < HOLE_SHARE
    assert check_main([str(RGBD / "DES")]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("holes:"))
    with_zeros = sum(bool((m == 0).any()) for m in maps)
    assert line.endswith(f"{100 * zeros / pixels:.2f}% of the pixels stored as 0 or invalid, in {with_zeros}/5 maps")


def test_holes_are_zero_and_non_finite_pixels():
    depth = np.array([[0.0, np.nan, 2.0], [np.inf, -np.inf, 3.0]], np.float32)
    assert depth_holes(depth).tolist() == [[True, True, False], [True, True, False]]
    assert DepthHoles.count(depth) == (4, 6)
    assert fill_holes_far(depth, invert=True).tolist() == [[3.0, 3.0, 2.0], [3.0, 3.0, 3.0]]
    assert fill_holes_far(np.zeros((2, 2), np.uint16), invert=True).tolist() == [[0, 0], [0, 0]]  # nothing valid


@pytest.mark.parametrize("near_dark", [True, False])
def test_far_gives_every_hole_the_farthest_valid_value(kinect_root, near_dark):
    raw = stored_depth(kinect_root, "RGBD_data_2")
    filled = fill_holes_far(raw, invert=near_dark)
    assert filled.dtype == raw.dtype and np.array_equal(filled, farthest_fill_loop(raw, near_dark))
    assert np.array_equal(raw, stored_depth(kinect_root, "RGBD_data_2"))  # the input is left as it was


def test_keep_is_the_default_and_reproduces_todays_tensors(kinect_root):
    assert PreprocessConfig().depth_holes == "keep" and PreprocessConfig.default("depth_holes") == "keep"
    transform = build_test_transform(256)
    for stem in STEMS:
        raw = stored_depth(kinect_root, stem)
        rgb = np.zeros(raw.shape + (3,), np.uint8)
        _, depth, _ = transform(rgb, raw, None, True)
        assert np.array_equal(depth[0].numpy(), reference_depth_tensor(raw, 256)), stem


def test_far_tensors_and_holes_end_up_farthest(kinect_root):
    transform = build_test_transform(256, PreprocessConfig(depth_holes="far"))
    for stem in STEMS:
        raw = stored_depth(kinect_root, stem)
        _, depth, _ = transform(np.zeros(raw.shape + (3,), np.uint8), raw, None, True)
        assert np.array_equal(depth[0].numpy(), reference_depth_tensor(farthest_fill_loop(raw, True), 256)), stem
    # At the stored size (a square crop, no resize) the holes are exactly as far as the farthest point.
    raw = stored_depth(kinect_root, "RGBD_data_3")[:, :480]
    holes = raw == 0
    rgb = np.zeros(raw.shape + (3,), np.uint8)
    for option, hole_value in (("keep", 1.0), ("far", 0.0)):  # inverted: 1 is the nearest, 0 the farthest
        _, depth, _ = build_test_transform(480, PreprocessConfig(depth_holes=option))(rgb, raw, None, True)
        unit = depth[0].numpy() * np.float32(0.229) + np.float32(0.485)
        assert np.allclose(unit[holes], hole_value, atol=1e-6) and unit.min() > -1e-6 and unit.max() < 1 + 1e-6


def test_the_hole_warning_needs_inverted_depth():
    polarity_holes = DepthHoles(maps=1, with_holes=1, pixels=1000, holes=int(1000 * HOLE_SHARE) + 1)
    polarity = Polarity.from_pairs([(0.2, 0.4)], polarity_holes)  # near = dark
    assert decide(False, polarity).holes_warning("X", "--depth-holes far") is None
    assert "--depth-holes far" in decide(True, polarity).holes_warning("X", "--depth-holes far")
    few = Polarity.from_pairs([(0.2, 0.4)], DepthHoles(1, 1, 1000, int(1000 * HOLE_SHARE)))
    assert decide(True, few).holes_warning("X", "--depth-holes far") is None


def test_test_py_prints_one_hole_warning_and_one_auto_note(kinect_root, capsys):
    dataset = RGBDSODDataset(DatasetSource(kinect_root / "DES", name="DES"), build_test_transform(64), load_gt=False)
    decisions = test_script.depth_decisions({"DES": dataset}, ["auto"], "CDINet", "bright", "keep")
    err = capsys.readouterr().err.splitlines()
    holes, pixels, _ = expected_holes(kinect_root)
    assert len(err) == 2 and decisions["DES"].invert is True
    assert err[0].startswith("note: DES: invert_depth auto: depth near = dark (") and err[0].endswith(": inverted")
    assert err[1].startswith(f"warning: DES: depth has holes ({100 * holes / pixels:.2f}% of the pixels stored as 0 "
                             "or invalid, in 4/5 maps)") and "--depth-holes far" in err[1]
    test_script.depth_decisions({"DES": dataset}, ["auto"], "CDINet", "bright", "far")
    assert "depth has holes" not in capsys.readouterr().err  # already filled
    test_script.depth_decisions({"DES": dataset}, [], "CDINet", "bright", "keep")
    assert "depth has holes" not in capsys.readouterr().err  # taken as near = bright, 0 is the far end
    # A model expecting near = dark takes these maps as stored, and their 0s as the nearest points.
    decisions = test_script.depth_decisions({"DES": dataset}, ["auto"], "JL-DCF", "dark", "keep")
    err = capsys.readouterr().err.splitlines()
    assert decisions["DES"].invert is False and err[0].endswith(": used as stored")
    assert "near = dark and as stored, they are fed as the nearest points" in err[1]


@pytest.mark.slow
def test_test_py_warns_names_the_option_and_records(small_checkpoint, kinect_root, tmp_path, capsys):
    holes, pixels, _ = expected_holes(kinect_root)
    keep = run_test_py(small_checkpoint, kinect_root, tmp_path / "keep", "--invert-depth", "auto")["DES"]
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("warning: DES: depth has holes")]
    assert len(warnings) == 1 and "--depth-holes far" in warnings[0]
    assert f"{100 * holes / pixels:.2f}% of the pixels" in warnings[0]
    auto = [line for line in err if "invert_depth auto" in line]
    assert len(auto) == 1 and auto[0].startswith("note: DES: invert_depth auto: depth near = dark (")
    assert auto[0].endswith(": inverted")
    assert "note: backend torch (asked for)" in err
    assert keep["settings"]["preprocess"]["depth_holes"] == "keep"
    assert keep["depth"]["polarity"]["holes"]["share"] == round(holes / pixels, 6)

    far = run_test_py(small_checkpoint, kinect_root, tmp_path / "far", "--invert-depth", "auto",
                      "--depth-holes", "far")["DES"]
    assert "depth has holes" not in capsys.readouterr().err
    assert far["settings"]["preprocess"]["depth_holes"] == "far"
    assert far["settings"]["settings_from"]["depth_holes"] == "command line"
    maps = {name: [cv2.imread(str(tmp_path / run / "DES" / f"{stem}.png"), 0).astype(int) for stem in STEMS]
            for name, run in (("keep", "keep"), ("far", "far"))}
    assert max(np.abs(a - b).max() for a, b in zip(maps["keep"], maps["far"])) > 0  # the holes changed the input


def test_train_py_says_what_auto_decided(kinect_root, capsys):
    from training.data import decide_depth

    dataset = RGBDSODDataset(DatasetSource(kinect_root / "DES", invert_depth="auto"), transform=None)
    decisions = decide_depth(dataset, True, "CDINet", "bright", "keep")
    err = capsys.readouterr().err.splitlines()
    lines = [line for line in err if "invert_depth auto" in line]
    assert len(lines) == 1 and lines[0].startswith(f"note: data.train.0 ({kinect_root / 'DES'}): invert_depth auto: "
                                                    "depth near = dark (") and lines[0].endswith(": inverted")
    assert [sample.invert_depth for sample in dataset.samples] == [True] * len(STEMS)
    assert decisions["0"]["invert"] is True
    # Inverted, the holes become the nearest points: train.py says so as test.py does, naming its key.
    holes = [line for line in err if "depth has holes" in line]
    assert len(holes) == 1 and "data.preprocess.depth_holes: far" in holes[0]
    decide_depth(RGBDSODDataset(DatasetSource(kinect_root / "DES", invert_depth="auto"), transform=None),
                 True, "CDINet", "bright", "far")
    assert "depth has holes" not in capsys.readouterr().err
