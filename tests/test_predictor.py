"""inference.Predictor: one call from Python gives the maps the authors' test script wrote
(tests/fixtures/reference/release_maps_seed0, keyed seed-0 weights), from files, PIL images or
arrays; test.py's maps are checked against the same fixture in tests/test_test_script.py."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from inference import Predictor
from inference.backends import Job, choose_backend
from models.cdinet import CDINet, ModelVariant
from tests.helpers import RELEASE_MAPS, RGBD
from utils.checkpoint import weights_export
from utils.errors import ConfigError, InputShapeError

STEMS = [f"RGBD_data_{i}" for i in range(1, 6)]
RGB_FILES = [RGBD / "DES" / "RGB" / f"{stem}.jpg" for stem in STEMS]
DEPTH_FILES = [RGBD / "DES" / "depth" / f"{stem}.bmp" for stem in STEMS]


def release_map(stem: str) -> np.ndarray:
    return cv2.imread(str(RELEASE_MAPS / f"{stem}.png"), cv2.IMREAD_UNCHANGED).astype(int)


def mixed_inputs() -> tuple[list, list]:
    """The five DES pairs, each given another way: str, Path, PIL image, uint8 array, str."""
    rgb = [str(RGB_FILES[0]), RGB_FILES[1], Image.open(RGB_FILES[2]),
           np.array(Image.open(RGB_FILES[3]).convert("RGB")), str(RGB_FILES[4])]
    depth = [str(DEPTH_FILES[0]), DEPTH_FILES[1], Image.open(DEPTH_FILES[2]),
             np.array(Image.open(DEPTH_FILES[3]).convert("L")), str(DEPTH_FILES[4])]
    return rgb, depth


@pytest.mark.parametrize("backend, batch_size", [pytest.param("onnxruntime", 1, marks=pytest.mark.slow),
                                                 pytest.param("torch", 4, marks=pytest.mark.slow), ("auto", 1)])
def test_predict_reproduces_the_authors_maps(official_checkpoint, backend, batch_size):
    """The five-line use of README, with the images given as paths, PIL images and arrays: the
    maps the authors' pipeline wrote, within 1 gray level."""
    predictor = Predictor.from_checkpoint(official_checkpoint, backend=backend, batch_size=batch_size, device="cpu")
    maps = predictor.predict(*mixed_inputs())
    # auto: 5 images at 256x256 pay back the Winograd conversion
    assert predictor.backend == ("winograd" if backend == "auto" else backend) and predictor.size == 256
    assert len(maps) == 5
    for stem, saliency in zip(STEMS, maps):
        assert saliency.dtype == np.uint8 and saliency.shape == (480, 640)
        assert np.abs(saliency.astype(int) - release_map(stem)).max() <= 1, stem
    single = predictor.predict(RGB_FILES[2], DEPTH_FILES[2])  # alone in its batch: other kernels may round
    assert single.shape == (480, 640) and np.abs(single.astype(int) - release_map(STEMS[2])).max() <= 1


def test_logits_inverted_depth_and_bad_arrays(official_checkpoint):
    """``return_logits`` gives the network's output at the model size; ``invert_depth`` really
    changes the map (the release maps are of the depth as stored); bad arrays are named."""
    predictor = Predictor.from_checkpoint(official_checkpoint, backend="torch", device="cpu", size=64)
    expected, logits = predictor.predict(RGB_FILES[0], DEPTH_FILES[0], return_logits=True)
    assert logits.shape == (64, 64) and logits.dtype == np.float32
    rgb_array, depth_array = np.array(Image.open(RGB_FILES[0]).convert("RGB")), \
        np.array(Image.open(DEPTH_FILES[0]).convert("L"))
    inverted = predictor.predict(rgb_array, depth_array, invert_depth=True)
    assert np.abs(inverted.astype(int) - expected.astype(int)).max() > 10
    with pytest.raises(InputShapeError, match=r"an RGB array must be uint8 \(H, W, 3\)"):
        predictor.predict(rgb_array.astype(np.float32), depth_array)
    with pytest.raises(InputShapeError, match="2 RGB images but 1 depth maps"):
        predictor.predict([rgb_array, rgb_array], [depth_array])


def test_a_checkpoint_of_ours_is_rebuilt_as_trained(tmp_path):
    """Backbone, switches, size and pixel path come from the saved config."""
    torch.manual_seed(1)
    model = CDINet(ModelVariant(ddr=False), "mobilenet_v2").eval()
    path = tmp_path / "w.pth"
    config = {"model": {"backbone": {"name": "mobilenet_v2"}, "modules": {"ddr": False}},
              "data": {"augment": {"size": 64}, "preprocess": {"resize": "opencv"}}}
    torch.save(weights_export(model.state_dict(), config), path)
    predictor = Predictor.from_checkpoint(path, device="cpu", backend="torch")
    assert predictor.model.backbone_name == "mobilenet_v2" and predictor.model.variant == ModelVariant(ddr=False)
    assert predictor.size == 64 and predictor.preprocess.resize == "opencv"
    assert predictor.origin["size"] == "checkpoint config" and predictor.origin["interpolation"] == "release default"
    saliency = predictor.predict(RGB_FILES[0], DEPTH_FILES[0])
    assert saliency.shape == (480, 640) and saliency.max() == 255 and saliency.min() == 0
    with pytest.raises(InputShapeError, match="--size must be a multiple of 32 for .*MobileNetV2, got 48"):
        Predictor.from_checkpoint(path, size=48, device="cpu")


def test_onnxruntime_needs_a_checkpoint_file():
    with pytest.raises(ConfigError, match="Predictor.from_checkpoint"):
        Predictor(CDINet(), backend="onnxruntime", device="cpu")


def test_auto_runs_the_measured_backend_that_saves_the_most_once_paid_for():
    """The documented rule: on a CPU in fp32, the backend whose measured saving on this job,
    less its set-up, is largest and positive; PyTorch where none was measured or none pays, on
    CUDA, with --amp or --compile. CDINet on VGG16: Winograd 1.5 s against 0.35 s per 256x256
    image (docs/performance.md)."""
    cpu = torch.device("cpu")
    winograd = {"setup_seconds": 1.5, "saving_per_image_256": 0.35}
    costs = {"winograd": winograd}
    assert Job(80, 64).image_equivalents == 5 and Job(4, 256).image_equivalents == 4
    backend, why = choose_backend("auto", cpu, "none", False, Job(4, 256), costs)
    assert backend == "torch" and why == ("auto: 4 images at 256x256 would save about 1.4 s on winograd, "
                                          "less than its set-up costs (about 1.5 s)")
    assert choose_backend("auto", cpu, "none", False, Job(5, 256), costs)[0] == "winograd"
    assert choose_backend("auto", cpu, "none", False, Job(500, 256), None) == (
        "torch", "auto: no faster CPU backend was measured for this model")
    assert choose_backend("auto", cpu, "bf16", False, Job(500, 256), costs) == ("torch", "auto: --amp bf16")
    assert choose_backend("auto", cpu, "none", True, Job(500, 256), costs) == ("torch", "auto: --compile")
    assert choose_backend("onnxruntime", cpu, "none", False, Job(1, 64)) == ("onnxruntime", "asked for")
    # Two measured backends: Winograd nets 0.1 * n - 1, onnxruntime 0.2 * n - 30 (0.2 * n - 3 once
    # its export is cached); onnxruntime leads from n = 290, or from n = 20 once cached.
    both = {"winograd": {"setup_seconds": 1.0, "saving_per_image_256": 0.1},
            "onnxruntime": {"setup_seconds": 30.0, "cached_setup_seconds": 3.0, "saving_per_image_256": 0.2}}
    assert choose_backend("auto", cpu, "none", False, Job(289, 256), both)[0] == "winograd"
    assert choose_backend("auto", cpu, "none", False, Job(291, 256), both)[0] == "onnxruntime"
    assert choose_backend("auto", cpu, "none", False, Job(21, 256), both, cached=["onnxruntime"]) == (
        "onnxruntime", "auto: 21 images at 256x256 would save about 4.2 s on onnxruntime, "
                       "more than its set-up costs (about 3.0 s, reused)")
    assert choose_backend("auto", cpu, "none", False, Job(19, 256), both, cached=["onnxruntime"])[0] == "winograd"
    assert choose_backend("auto", cpu, "none", False, Job(5000, 256), both,
                          usable=("torch", "winograd"))[0] == "winograd"  # no checkpoint file to export
    assert CDINet(backbone="mobilenet_v2").cpu_backend_costs is None  # never measured on it
    predictor = Predictor(CDINet(), device="cpu")
    predictor.prepare(images=100)
    assert predictor.backend == "winograd" and predictor.channels_last
    small = Predictor(CDINet(), device="cpu", size=64)
    small.prepare(images=5)
    assert small.backend == "torch"
