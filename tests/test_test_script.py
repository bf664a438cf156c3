"""test.py: maps equal to a direct forward + the release's post-processing, errors, ONNX."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn.functional as F

from datasets import DatasetSource, RGBDSODDataset, build_test_transform
from models import CDINet, load_weights

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("test_script", ROOT / "test.py")
test_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_script)


@pytest.fixture(scope="module")
def official_checkpoint(shared_dir, tmp_path_factory):
    """Keyed weights in the authors' layout, saved as DataParallel would (``module.`` prefix)."""
    spec = importlib.util.spec_from_file_location("keyed_weights", shared_dir / "reference" / "keyed_weights.py")
    keyed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(keyed)
    state = keyed.keyed_state_dict(keyed.read_key_file(shared_dir / "reference" / "cdinet_official_keys.tsv"), seed=0)
    path = tmp_path_factory.mktemp("ckpt") / "CDINet.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)
    return path


@pytest.fixture(scope="module")
def rgbd_root(shared_dir):
    return shared_dir / "fixtures" / "rgbd"


@pytest.fixture(scope="module")
def expected_maps(official_checkpoint, rgbd_root):
    """Direct model forward per image + the release's post-processing, written out here."""
    model = CDINet().eval()
    load_weights(model, official_checkpoint)
    dataset = RGBDSODDataset(DatasetSource(rgbd_root / "DES"), build_test_transform(256), require_gt=False)
    maps = {}
    with torch.inference_mode():
        for sample in dataset:
            logits = model(sample["rgb"][None], sample["depth"][None])
            height, width = sample["size"].tolist()
            prob = torch.sigmoid(F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False))[0, 0]
            prob = (prob - prob.min()) / (prob.max() - prob.min() + 1e-8)
            maps[sample["name"]] = (prob * 255).numpy()
    return maps


def run_test_script(*argv):
    return test_script.main(test_script.get_args_parser().parse_args([str(a) for a in argv]))


@pytest.mark.parametrize("batch_size", [1, 4])
def test_maps_equal_direct_forward_and_release_postprocessing(official_checkpoint, rgbd_root, expected_maps,
                                                             tmp_path, batch_size):
    out = tmp_path / "maps"
    assert run_test_script("--checkpoint", official_checkpoint, "--data-root", rgbd_root, "--datasets", "DES",
                           "--out", out, "--device", "cpu", "--batch-size", batch_size, "--workers", 0) == 0
    written = sorted(p.name for p in (out / "DES").iterdir())
    assert written == sorted(f"{name}.png" for name in expected_maps)
    for name, expected in expected_maps.items():
        image = cv2.imread(str(out / "DES" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert image.dtype == np.uint8 and image.shape == (480, 640)
        assert np.abs(image.astype(np.float64) - expected).max() <= 1.0
    info = json.loads((out / "test_info.json").read_text())
    assert info["tta"] is False and info["datasets"]["DES"]["images"] == 5


def test_unknown_dataset_lists_what_is_there(official_checkpoint, rgbd_root, tmp_path):
    with pytest.raises(test_script.TestError, match=r"dataset\(s\) NJU2K not under .*rgbd; found: DES"):
        run_test_script("--checkpoint", official_checkpoint, "--data-root", rgbd_root, "--datasets", "NJU2K",
                        "--out", tmp_path / "maps")


def test_existing_output_folder_is_refused(official_checkpoint, rgbd_root, tmp_path):
    out = tmp_path / "maps"
    (out / "DES").mkdir(parents=True)
    (out / "DES" / "old.png").write_bytes(b"x")
    with pytest.raises(test_script.TestError, match="exists and is not empty; pass --overwrite"):
        run_test_script("--checkpoint", official_checkpoint, "--data-root", rgbd_root, "--datasets", "DES",
                        "--out", out)


def test_cli_error_is_one_line(rgbd_root, tmp_path):
    result = subprocess.run(
        [sys.executable, "test.py", "--checkpoint", str(tmp_path / "missing.pth"), "--data-root", str(rgbd_root),
         "--datasets", "DES", "--out", str(tmp_path / "maps")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: weights file not found: {tmp_path / 'missing.pth'}"


def test_png_write_is_atomic(tmp_path):
    image = (np.arange(64 * 48) % 256).astype(np.uint8).reshape(48, 64)
    test_script.write_png_atomic(tmp_path / "a.png", image)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    assert np.array_equal(cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED), image)


def test_onnx_export_matches_pytorch_at_other_batch_and_size(official_checkpoint, tmp_path):
    path = tmp_path / "cdinet.onnx"
    assert run_test_script("--checkpoint", official_checkpoint, "--export-onnx", path, "--size", 64) == 0
    model = CDINet().eval()
    load_weights(model, official_checkpoint)
    generator = torch.Generator().manual_seed(0)
    rgb, depth = torch.randn(2, 3, 96, 128, generator=generator), torch.randn(2, 1, 96, 128, generator=generator)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run(None, {"rgb": rgb.numpy(), "depth": depth.numpy()})
    with torch.inference_mode():
        expected = model(rgb, depth).numpy()
    assert onnx_logits.shape == (2, 1, 96, 128)
    assert np.abs(onnx_logits - expected).max() < 1e-3
