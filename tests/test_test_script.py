"""test.py: the authors' weights give the authors' maps; settings, errors, ONNX."""
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import pytest
import torch

from models import load_weights
from models.cdinet import CDINet
from tests.helpers import FIXTURES
from utils.checkpoint import weights_export
from utils.files import atomic_folder, atomic_write, atomic_write_bytes
from utils.images import encode_png

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("test_script", ROOT / "test.py")
test_script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_script)
RELEASE_MAPS = FIXTURES / "reference" / "release_maps_seed0" / "DES"


@pytest.fixture(scope="module")
def rgbd_root():
    return FIXTURES / "rgbd"


def run_test_script(*argv):
    return test_script.main(test_script.get_args_parser().parse_args([str(a) for a in argv]))


@pytest.mark.parametrize("backend, batch_size, channels_last", [
    pytest.param("auto", 1, True, marks=pytest.mark.slow), pytest.param("onnxruntime", 4, True, marks=pytest.mark.slow),
    ("torch", 1, True), pytest.param("torch", 4, False, marks=pytest.mark.slow)])
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
    record = json.loads((out / "test_info.json").read_text())["datasets"]["DES"]
    info = record["settings"]
    assert info["release_pixel_path"] is True and info["size"] == 256
    assert info["preprocess"] == {"resize": "pil", "interpolation": "linear", "depth_scaling": "release",
                                  "depth_resize": "direct", "depth_holes": "keep"}
    assert record["depth"]["invert"] is False and record["images"] == 5
    assert info["backend"] == ("winograd" if backend == "auto" else backend)  # auto: 5 images pay its conversion
    assert info["channels_last"] == (backend == "auto" or channels_last and backend == "torch")


@pytest.mark.slow  # the agreement test above runs fast; this one shows it is not a matter of tolerance
def test_former_pixel_path_is_far_from_the_release(official_checkpoint, rgbd_root, tmp_path):
    """OpenCV resize + min-max depth (this project's former default, now named options) really
    changes the maps: the release-exact default above is not a tolerance artefact."""
    out = tmp_path / "maps"
    assert run_test_script("--checkpoint", official_checkpoint, "--data-root", rgbd_root, "--datasets", "DES",
                           "--out", out, "--device", "cpu", "--resize", "opencv", "--depth-scaling", "minmax",
                           "--depth-resize", "rgb_first", "--backend", "torch") == 0
    worst = max(np.abs(cv2.imread(str(out / "DES" / p.name), 0).astype(int)
                       - cv2.imread(str(p), 0).astype(int)).max() for p in RELEASE_MAPS.iterdir())
    assert worst > 20
    info = json.loads((out / "test_info.json").read_text())["datasets"]["DES"]["settings"]
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
                           "--device", "cpu", "--depth-scaling", "minmax", "--backend", "torch") == 0
    info = json.loads((out / "test_info.json").read_text())["datasets"]["DES"]["settings"]
    assert info["size"] == 64 and info["settings_from"]["size"] == "checkpoint config"
    assert info["preprocess"] == {"resize": "opencv", "interpolation": "area", "depth_scaling": "minmax",
                                  "depth_resize": "direct", "depth_holes": "keep"}
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


def test_map_and_folder_writes_are_atomic(tmp_path):
    """A write that dies half-way leaves the previous map intact and no temporary file; a
    dataset folder that fails part-way leaves the previous folder as it was."""
    old = np.zeros((48, 64), np.uint8)
    new = (np.arange(64 * 48) % 256).astype(np.uint8).reshape(48, 64)
    atomic_write_bytes(tmp_path / "a.png", encode_png(old))
    data = encode_png(new)

    def dying_write(stream):
        stream.write(data[: len(data) // 2])  # half the bytes reach the disk, then a crash
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(tmp_path / "a.png", dying_write)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
    assert np.array_equal(cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED), old)
    atomic_write_bytes(tmp_path / "a.png", data)
    assert np.array_equal(cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED), new)

    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(tmp_path / "DES") as partial:
            (partial / "x.png").write_bytes(data)
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]
    (tmp_path / "DES").mkdir()
    (tmp_path / "DES" / "old.png").write_bytes(b"old")
    with atomic_folder(tmp_path / "DES") as partial:
        (partial / "x.png").write_bytes(data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DES", "a.png"]
    assert [p.name for p in (tmp_path / "DES").iterdir()] == ["x.png"]


@pytest.mark.slow
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


def test_records_survive_a_rerun_of_some_datasets(tmp_path):
    """test_info.json describes every dataset folder in --out: re-running one with --overwrite
    replaces its maps and record and keeps the other's; a record of the former single-record
    format is kept as the record of its datasets."""
    torch.manual_seed(0)
    checkpoint = tmp_path / "w.pth"  # MobileNetV2 streams: the records do not depend on the backbone
    config = {"model": {"backbone": {"name": "mobilenet_v2"}}, "data": {"augment": {"size": 64}}}
    torch.save(weights_export(CDINet(backbone="mobilenet_v2").state_dict(), config), checkpoint)
    data, out = tmp_path / "data", tmp_path / "maps"
    for name in ("A", "B"):
        shutil.copytree(FIXTURES / "rgbd" / "DES", data / name)
    common = ["--checkpoint", checkpoint, "--data-root", data, "--out", out, "--backend", "torch"]
    assert run_test_script(*common) == 0
    first = json.loads((out / "test_info.json").read_text())
    assert first["format"] == "cdinet-sod/test-info/2" and sorted(first["datasets"]) == ["A", "B"]
    b_maps = {p.name: p.read_bytes() for p in (out / "B").iterdir()}
    (out / "A" / "stale.png").write_bytes(b"from an earlier run")
    assert run_test_script(*common, "--datasets", "A", "--overwrite", "--tta") == 0
    second = json.loads((out / "test_info.json").read_text())
    assert second["datasets"]["B"] == first["datasets"]["B"]
    assert {p.name: p.read_bytes() for p in (out / "B").iterdir()} == b_maps
    record = second["datasets"]["A"]
    assert record["settings"]["tta"] is True and first["datasets"]["A"]["settings"]["tta"] is False
    assert record["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert record["written"] >= first["datasets"]["A"]["written"] and record["images"] == 5
    assert sorted(p.name for p in (out / "A").iterdir()) == [f"RGBD_data_{i}.png" for i in range(1, 6)]
    assert sorted(p.name for p in out.iterdir()) == ["A", "B", "test_info.json"]  # no temporary folder left

    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "test_info.json").write_text(json.dumps({"checkpoint": "old.pth", "size": 256,
                                                       "datasets": {"X": {"images": 3}}}))
    assert run_test_script(*common, "--datasets", "A", "--out", legacy, "--overwrite") == 0
    records = json.loads((legacy / "test_info.json").read_text())["datasets"]
    assert records["X"] == {"format": "cdinet-sod/test-info/1", "checkpoint": "old.pth", "size": 256, "images": 3}
    assert records["A"]["settings"]["size"] == 64
