"""test.py: the authors' weights give the authors' maps; settings, errors, ONNX."""
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

from models import CDINet, load_weights
from tests.conftest import FIXTURES
from tests.keyed_weights import keyed_official_state_dict

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("test_script", ROOT / "test.py")
test_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_script)
RELEASE_MAPS = FIXTURES / "reference" / "release_maps_seed0" / "DES"


@pytest.fixture(scope="module")
def official_checkpoint(tmp_path_factory):
    """Keyed seed-0 weights in the authors' layout, saved as DataParallel would (``module.``)."""
    path = tmp_path_factory.mktemp("ckpt") / "CDINet.pth"
    torch.save({f"module.{k}": v for k, v in keyed_official_state_dict(0).items()}, path)
    return path


@pytest.fixture(scope="module")
def rgbd_root():
    return FIXTURES / "rgbd"


def run_test_script(*argv):
    return test_script.main(test_script.get_args_parser().parse_args([str(a) for a in argv]))


@pytest.mark.parametrize("backend, batch_size, channels_last", [
    ("auto", 1, True), ("onnxruntime", 4, True), ("torch", 1, True), ("torch", 4, False)])
def test_maps_reproduce_the_authors_pipeline(official_checkpoint, rgbd_root, tmp_path, backend, batch_size,
                                             channels_last):
    """The maps the authors' own code wrote with the same weights (PIL/torchvision inputs,
    their post-processing): every pixel within 1 gray level, on every backend (auto: the CPU
    default, onnxruntime)."""
    out = tmp_path / "maps"
    assert run_test_script("--checkpoint", official_checkpoint, "--data-root", rgbd_root, "--datasets", "DES",
                           "--out", out, "--device", "cpu", "--batch-size", batch_size, "--workers", 0,
                           "--backend", backend, "--channels-last" if channels_last else "--no-channels-last") == 0
    expected = sorted(p.name for p in RELEASE_MAPS.iterdir())
    assert sorted(p.name for p in (out / "DES").iterdir()) == expected and len(expected) == 5
    for name in expected:
        release = cv2.imread(str(RELEASE_MAPS / name), cv2.IMREAD_UNCHANGED)
        ours = cv2.imread(str(out / "DES" / name), cv2.IMREAD_UNCHANGED)
        assert ours.dtype == np.uint8 and ours.shape == release.shape == (480, 640)
        assert np.abs(ours.astype(int) - release.astype(int)).max() <= 1, name
    info = json.loads((out / "test_info.json").read_text())
    assert info["release_pixel_path"] is True and info["size"] == 256
    assert info["preprocess"] == {"resize": "pil", "interpolation": "linear", "depth_scaling": "release",
                                  "depth_resize": "direct"}
    assert info["invert_depth"] == {"DES": False} and info["datasets"]["DES"]["images"] == 5
    assert info["backend"] == ("onnxruntime" if backend == "auto" else backend)
    assert info["channels_last"] == (channels_last and backend == "torch")


def test_former_pixel_path_is_far_from_the_release(official_checkpoint, rgbd_root, tmp_path):
    """OpenCV resize + min-max depth (this project's former default, now named options) really
    changes the maps: the release-exact default above is not a tolerance artefact."""
    out = tmp_path / "maps"
    assert run_test_script("--checkpoint", official_checkpoint, "--data-root", rgbd_root, "--datasets", "DES",
                           "--out", out, "--device", "cpu", "--resize", "opencv", "--depth-scaling", "minmax",
                           "--depth-resize", "rgb_first") == 0
    worst = max(np.abs(cv2.imread(str(out / "DES" / p.name), 0).astype(int)
                       - cv2.imread(str(p), 0).astype(int)).max() for p in RELEASE_MAPS.iterdir())
    assert worst > 20
    info = json.loads((out / "test_info.json").read_text())
    assert info["release_pixel_path"] is False and info["settings_from"]["resize"] == "command line"
    assert info["preprocess"]["depth_scaling"] == "minmax"


def test_our_checkpoint_is_tested_with_its_training_settings(rgbd_root, tmp_path):
    """A weights file of ours carries its config: size and pixel path come from it."""
    model = CDINet()
    path = tmp_path / "weights.pth"
    config = {"data": {"augment": {"size": 64}, "preprocess": {"resize": "opencv", "interpolation": "area"}}}
    torch.save({"format": "cdinet-sod/weights/1", "model": model.state_dict(), "config": config}, path)
    out = tmp_path / "maps"
    assert run_test_script("--checkpoint", path, "--data-root", rgbd_root, "--datasets", "DES", "--out", out,
                           "--device", "cpu", "--depth-scaling", "minmax") == 0
    info = json.loads((out / "test_info.json").read_text())
    assert info["size"] == 64 and info["settings_from"]["size"] == "checkpoint config"
    assert info["preprocess"] == {"resize": "opencv", "interpolation": "area", "depth_scaling": "minmax",
                                  "depth_resize": "direct"}
    assert info["settings_from"]["depth_scaling"] == "command line"
    assert info["settings_from"]["depth_resize"] == "release default"


def test_unknown_dataset_lists_what_is_there(official_checkpoint, rgbd_root, tmp_path):
    with pytest.raises(test_script.TestError, match=r"dataset NJU2K not under .*rgbd; found: DES"):
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


def test_png_write_is_atomic(tmp_path, monkeypatch):
    """A write that dies half-way leaves the previous map intact and no temporary file."""
    old = np.zeros((48, 64), np.uint8)
    new = (np.arange(64 * 48) % 256).astype(np.uint8).reshape(48, 64)
    test_script.write_png_atomic(tmp_path / "a.png", old)
    real_write = Path.write_bytes

    def dying_write(self, data):
        real_write(self, data[: len(data) // 2])  # half the bytes reach the disk, then a crash
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", dying_write)
    with pytest.raises(OSError, match="No space left"):
        test_script.write_png_atomic(tmp_path / "a.png", new)
    monkeypatch.setattr(Path, "write_bytes", real_write)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    assert np.array_equal(cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED), old)
    test_script.write_png_atomic(tmp_path / "a.png", new)
    assert np.array_equal(cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED), new)


def test_onnx_export_matches_pytorch_at_other_batch_and_size(official_checkpoint, tmp_path):
    """The supported exporter (torch.onnx.export(dynamo=True); the file carries our metadata),
    dynamic batch, height and width."""
    import onnx

    path = tmp_path / "cdinet.onnx"
    assert run_test_script("--checkpoint", official_checkpoint, "--export-onnx", path, "--size", 64) == 0
    proto = onnx.load(str(path), load_external_data=False)
    assert {p.key: p.value for p in proto.metadata_props}["format"] == "cdinet-sod/onnx/1"
    assert proto.producer_name == "pytorch" and max(o.version for o in proto.opset_import if o.domain == "") >= 18
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
