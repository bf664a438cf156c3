"""Depth polarity where maps and models are made: measured on the real DES fixtures (stored
near = dark, as their source states), warned about in test.py and train.py, applied by auto,
recorded in test_info.json and log.jsonl."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from datasets import DatasetSource
from datasets.pairing import pair_samples, scan_source
from datasets.polarity import BRIGHT, DARK, Polarity, measure_polarity, spread
from tests.helpers import RGBD, load_test_script, run_test_py

test_script = load_test_script()


def reference_means(root: Path) -> list[tuple[float, float]]:
    """Per DES sample, written here with Pillow and numpy: mean min-max normalised depth inside
    and outside the GT (> 127)."""
    means = []
    for gt_path in sorted((root / "GT").iterdir()):
        gt = np.array(Image.open(gt_path).convert("L"))
        gt = gt * 255 if gt.max() == 1 else gt
        depth = np.array(Image.open(root / "depth" / f"{gt_path.stem}.bmp").convert("L")).astype(np.float64)
        depth = (depth - depth.min()) / (depth.max() - depth.min())
        assert depth.shape == gt.shape  # the DES depth maps are stored at the GT's size
        means.append((depth[gt > 127].mean(), depth[gt <= 127].mean()))
    return means


def test_the_des_fixtures_measure_near_dark():
    samples, _ = pair_samples(scan_source(DatasetSource(RGBD / "DES"), require_gt=True))
    polarity = measure_polarity(samples)
    expected = reference_means(RGBD / "DES")
    assert polarity.samples == 5 and polarity.verdict == "near = dark"
    assert polarity.invert_for("bright") is True and polarity.invert_for("dark") is False
    assert polarity.brighter == sum(i > o for i, o in expected) == 0
    assert np.allclose(polarity.inside, [i for i, _ in expected], atol=1e-6)
    assert np.allclose(polarity.outside, [o for _, o in expected], atol=1e-6)


def test_verdict_thresholds_and_sampling():
    def polarity(k: int, n: int) -> Polarity:
        return Polarity.from_pairs([(0.6, 0.4)] * k + [(0.4, 0.6)] * (n - k))

    assert polarity(7, 10).verdict == "near = bright" and BRIGHT == 0.7
    assert polarity(6, 10).verdict == "unclear" and polarity(4, 10).verdict == "unclear"
    assert polarity(3, 10).verdict == "near = dark" and DARK == 0.3
    assert Polarity().verdict == "unknown" and Polarity().invert_for("bright") is None
    assert spread(5, 50) == [0, 1, 2, 3, 4]
    picked = spread(1000, 50)
    assert len(picked) == 50 and picked[0] == 0 and picked[-1] == 999
    assert max(np.diff(picked)) - min(np.diff(picked)) <= 1  # evenly spread


def read_maps(folder: Path) -> dict:
    return {p.name: cv2.imread(str(p), cv2.IMREAD_UNCHANGED).astype(int) for p in sorted(folder.iterdir())}


def test_test_py_warns_applies_auto_and_records(small_checkpoint, tmp_path, capsys):
    """The README's newcomer path: a warning on DES without --invert-depth, none with it or with
    auto; auto inverts exactly as --invert-depth DES does."""
    records = run_test_py(small_checkpoint, RGBD, tmp_path / "plain", "--datasets", "DES")
    err = capsys.readouterr().err
    assert ("warning: DES: depth looks near = dark (mean depth 0.18 inside the GT vs 0.34 outside; brighter inside "
            "in 0/5 samples) but is used as stored; CDINet expects near = bright: pass --invert-depth DES "
            "(or --invert-depth auto)") in err
    depth = records["DES"]["depth"]
    assert depth["invert"] is False and depth["setting"] is False and depth["decision"] == "used as stored (default)"
    assert depth["polarity"]["verdict"] == "near = dark" and depth["polarity"]["samples"] == 5

    auto = run_test_py(small_checkpoint, RGBD, tmp_path / "auto", "--datasets", "DES", "--invert-depth", "auto")
    named = run_test_py(small_checkpoint, RGBD, tmp_path / "named", "--datasets", "DES", "--invert-depth", "DES")
    assert "warning" not in capsys.readouterr().err
    assert auto["DES"]["depth"]["invert"] is True and auto["DES"]["depth"]["setting"] == "auto"
    assert named["DES"]["depth"]["invert"] is True and named["DES"]["depth"]["setting"] is True
    auto_maps, named_maps = read_maps(tmp_path / "auto" / "DES"), read_maps(tmp_path / "named" / "DES")
    plain_maps = read_maps(tmp_path / "plain" / "DES")
    assert all(np.array_equal(auto_maps[k], named_maps[k]) for k in auto_maps)
    assert max(np.abs(auto_maps[k] - plain_maps[k]).max() for k in auto_maps) > 10  # the depth really flipped


def test_without_gt_the_polarity_is_unverified(small_checkpoint, tmp_path, capsys):
    data = tmp_path / "data"
    for role in ("RGB", "depth"):
        shutil.copytree(RGBD / "DES" / role, data / "X" / role)
    records = run_test_py(small_checkpoint, data, tmp_path / "out", "--invert-depth", "auto")
    assert records["X"]["depth"] == {"invert": False, "setting": "auto",
                                     "decision": "used as stored (measured verdict)", "model_near": "bright",
                                     "polarity": "unverified (no GT)"}
    expected = "warning: X: depth polarity unverified (no GT to measure it); depth used as stored"
    assert expected in capsys.readouterr().err


def test_train_py_warns_and_auto_inverts(tmp_path, capsys):
    import train

    data = tmp_path / "data"
    shutil.copytree(RGBD / "DES", data / "DES")
    common = ["--config", "configs/demo.yaml", "--set", f"data.root={data}", "--set", "data.train=[DES]",
              "--set", "data.val_fraction=0.0", "--set", "data.augment.size=32", "--set", "train.max_steps=1",
              "--set", "train.batch_size=2", "--set", "model.backbone.name=mobilenet_v2",
              "--set", "log.save_init=false"]  # fewer and smaller checkpoint files
    args = train.get_args_parser().parse_args(common + ["--set", f"log.dir={tmp_path / 'plain'}"])
    assert train.main(args) == 0
    out = capsys.readouterr()
    assert ("DES): depth looks near = dark (mean depth 0.18 inside the GT vs 0.34 outside; brighter inside in 0/5 "
            "samples) but is used as stored; CDINet expects near = bright: set data.train.0.invert_depth: true "
            "(or auto)") in out.err
    assert "epoch 1/1 step 1" in out.out  # max_steps=1: the run's real length, not train.epochs
    args = train.get_args_parser().parse_args(common + ["--set", f"log.dir={tmp_path / 'auto'}",
                                                        "--set", "data.train=[{root: DES, invert_depth: auto}]"])
    assert train.main(args) == 0
    assert "depth looks" not in capsys.readouterr().err
    events = [json.loads(line) for line in (tmp_path / "auto" / "log.jsonl").read_text().splitlines()]
    depth = next(e for e in events if e.get("event") == "depth")["train"]["0"]
    assert depth["invert"] is True and depth["setting"] == "auto" and depth["polarity"]["verdict"] == "near = dark"
