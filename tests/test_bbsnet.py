"""BBS-Net computes what its authors' release computes: their keys, their logits, their maps.

References (tests/fixtures/reference/bbsnet/, provenance in tests/fixtures/SOURCES.md): the key
list of their ``BBSNet().state_dict()``, their model's two outputs on a fixed input with keyed
seed-0 weights (``tests/keyed_weights.py``, ``keyed_state_dict_bn``), and the maps their
``BBSNet_test.py`` wrote for the five DES fixtures with the same weights.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from inference import Predictor
from inference.backends import Job, choose_backend
from models import create_model, list_models, load_weights
from models.losses import LOSSES, compute_loss
from tests.helpers import FIXTURES, assert_maps_match, load_test_script
from tests.keyed_weights import BBSNET_KEYS, bbsnet_official_state_dict, official_shapes
from utils.config import LossConfig
from utils.errors import InputShapeError, WeightsError

REFERENCE = FIXTURES / "reference" / "bbsnet"
RELEASE_MAPS = REFERENCE / "bbsnet_release_maps_seed0"
DES = FIXTURES / "rgbd" / "DES"
STEMS = sorted(p.stem for p in (DES / "RGB").glob("*.jpg"))
test_script = load_test_script()


@pytest.fixture(scope="module")
def authors_file(tmp_path_factory):
    """Seed-0 keyed weights in the authors' layout, saved as their DataParallel run would
    (``module.`` prefix): what their ``BBSNet.pth`` looks like."""
    path = tmp_path_factory.mktemp("bbsnet") / "BBSNet.pth"
    torch.save({f"module.{key}": value for key, value in bbsnet_official_state_dict(0).items()}, path)
    return path


@pytest.fixture(scope="module")
def keyed_model():
    model = create_model("bbsnet").eval()
    model.load_state_dict(bbsnet_official_state_dict(0), strict=True)
    return model


def reference_case():
    """The authors' two outputs and their input: ``randn`` RGB then ``rand`` depth from a
    generator seeded with the file's seed (the draws the reference was made with; the file keeps
    only the outputs)."""
    reference = torch.load(REFERENCE / "bbsnet_official_seed0_352x352.pt", weights_only=True)
    generator = torch.Generator().manual_seed(reference["seed"])
    rgb = torch.randn(1, 3, 352, 352, generator=generator)
    depth = torch.rand(1, 1, 352, 352, generator=generator)
    return rgb, depth, reference["logits"]


def relative_max_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours.double() - theirs.double()).abs().max() / theirs.double().abs().max())


def test_registered_with_the_authors_keys_and_parameter_count():
    assert "bbsnet" in list_models()
    model = create_model("bbsnet")
    expected = official_shapes(BBSNET_KEYS)
    assert {key: tuple(value.shape) for key, value in model.state_dict().items()} == expected
    assert len(expected) == 1385
    parameters = sum(p.numel() for p in model.parameters())
    assert parameters == 49_769_177  # docs/bbsnet.md, "Architecture": the authors' BBSNet() parameter count


def test_reproduces_the_authors_two_outputs(keyed_model):
    """Both outputs of their model on the reference input. ``initial``: relative max difference
    3.4e-6 here. ``final`` sits behind 40 more layers whose float32 rounding the reference
    carries too: it is 2.1e-5 (relative max) from a float64 evaluation of this network, ours
    2.3e-5, and ours is 3.1e-5 from it, spread like noise over the map (no structure at the
    borders or anywhere else). Its relative RMS difference is the comparison that float32 leaves
    meaningful; any change of the function (a ReLU applied, align_corners, f * S1 instead of
    f + f * S1) moves both measures by orders of magnitude (checked below)."""
    rgb, depth, (theirs_initial, theirs_final) = reference_case()
    with torch.no_grad():
        initial, final = keyed_model(rgb, depth)
    assert initial.shape == final.shape == theirs_final.shape == (1, 1, 352, 352)
    assert relative_max_difference(initial, theirs_initial) < 1e-5
    rms = float(torch.linalg.vector_norm((final - theirs_final).double())
                / torch.linalg.vector_norm(theirs_final.double()))
    assert rms < 1e-5, rms
    assert relative_max_difference(final, theirs_final) < 1e-4


def test_a_changed_function_is_far_from_the_reference(keyed_model, monkeypatch):
    """The refinement as the paper's figure draws it (``f * S1``) instead of the code's
    ``f + f * S1``: the comparison above would see it."""
    rgb, depth, (_, theirs_final) = reference_case()
    original = torch.sigmoid

    def figure_refinement(x):  # S1's sigmoid shifted by -1 turns f + f * S1 into f * S1
        return original(x) - 1 if x.shape[1] == 1 and x.shape[-1] == 44 else original(x)

    monkeypatch.setattr(torch, "sigmoid", figure_refinement)
    with torch.no_grad():
        _, final = keyed_model(rgb, depth)
    assert relative_max_difference(final, theirs_final) > 1e-2


@pytest.mark.parametrize("backend, batch_size", [("torch", 1), pytest.param("torch", 4, marks=pytest.mark.slow),
                                                 pytest.param("winograd", 4, marks=pytest.mark.slow),
                                                 pytest.param("onnxruntime", 4, marks=pytest.mark.slow)])
def test_test_py_maps_from_the_authors_file_equal_their_test_script(authors_file, tmp_path, backend, batch_size):
    """test.py recognises the authors' layout, feeds their pixel path (352, depth in [0, 1],
    one channel, no mean/std) and post-processes as they do: every pixel within 1 gray level,
    on every CPU backend that ``--backend auto`` may pick."""
    out = tmp_path / "maps"
    argv = ["--checkpoint", authors_file, "--data-root", FIXTURES / "rgbd", "--datasets", "DES", "--out", out,
            "--device", "cpu", "--batch-size", batch_size, "--workers", 0, "--backend", backend,
            "--onnx-cache", tmp_path / "onnx"]
    assert test_script.main(test_script.get_args_parser().parse_args([str(a) for a in argv])) == 0
    assert_maps_match(out / "DES", RELEASE_MAPS)
    settings = json.loads((out / "test_info.json").read_text())["datasets"]["DES"]["settings"]
    assert settings["model"]["name"] == "bbsnet" and settings["size"] == 352
    assert settings["input_spec"]["depth_mean"] is None and settings["input_spec"]["depth_channels"] == 1
    assert settings["release_pixel_path"] is True and settings["backend"] == backend


def test_predictor_loads_the_authors_file_and_gives_their_maps(authors_file):
    predictor = Predictor.from_checkpoint(authors_file, device="cpu", backend="auto")
    stem = STEMS[3]
    saliency = predictor.predict(DES / "RGB" / f"{stem}.jpg", DES / "depth" / f"{stem}.bmp")
    assert predictor.size == 352 and predictor.backend == "torch"  # auto: one image pays for no set-up
    theirs = cv2.imread(str(RELEASE_MAPS / f"{stem}.png"), cv2.IMREAD_UNCHANGED).astype(int)
    assert np.abs(saliency.astype(int) - theirs).max() <= 1


def test_auto_backend_for_its_measured_costs():
    """BBS-Net's figures (docs/performance.md): at 352x352 the Winograd form pays from 32 images,
    onnxruntime overtakes it from 283 (its export costs 37 s), or from 3 images once cached."""
    cpu, costs = torch.device("cpu"), create_model("bbsnet").cpu_backend_costs
    picks = {images: choose_backend("auto", cpu, "none", False, Job(images, 352), costs)[0]
             for images in (31, 32, 282, 283)}
    assert picks == {31: "torch", 32: "winograd", 282: "winograd", 283: "onnxruntime"}
    cached = {images: choose_backend("auto", cpu, "none", False, Job(images, 352), costs, cached=["onnxruntime"])[0]
              for images in (2, 3)}
    assert cached == {2: "torch", 3: "onnxruntime"}


def test_authors_file_with_a_missing_key_is_refused_by_name(tmp_path):
    state = bbsnet_official_state_dict(0)
    del state["rfb4_1.conv_res.bn.running_var"]
    path = tmp_path / "BBSNet.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"rfb4_1\.conv_res\.bn\.running_var"):
        load_weights(create_model("bbsnet"), path)


def test_inputs_it_cannot_take_are_one_clear_error(keyed_model):
    with pytest.raises(InputShapeError, match="one channel"):
        keyed_model(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))
    with pytest.raises(InputShapeError, match="multiples of 32"):
        keyed_model(torch.zeros(1, 3, 48, 64), torch.zeros(1, 1, 48, 64))


# ----------------------------------------------------------------------------- the release's ImageNet start
def resnet50_file(tmp_path, arch=torchvision.models.resnet50):
    torch.manual_seed(3)
    state = arch().state_dict()
    path = tmp_path / f"{arch.__name__}.pth"
    torch.save(state, path)
    return path, state


def test_imagenet_start_copies_a_torchvision_resnet50_into_both_streams(tmp_path):
    """Their ``initialize_weights``: both streams from torchvision's ResNet-50 (``layer3_1`` <-
    ``layer3``, ``layer4_1`` <- ``layer4``), the depth stream's one-channel ``conv1`` ~ N(0, 1)."""
    path, resnet = resnet50_file(tmp_path)
    torch.manual_seed(0)
    model = create_model("bbsnet", pretrained=True, backbone={"weights": str(path)})
    renamed = {"layer3_1.": "layer3.", "layer4_1.": "layer4."}
    for stream in (model.resnet, model.resnet_depth):
        for key, value in stream.state_dict().items():
            source = next((new + key[len(old):] for old, new in renamed.items() if key.startswith(old)), key)
            if stream is model.resnet_depth and key == "conv1.weight":
                assert value.shape == (64, 1, 7, 7)
                assert 0.9 < float(value.std()) < 1.1 and abs(float(value.mean())) < 0.1
            else:
                assert torch.equal(value, resnet[source]), key
    untouched = create_model("bbsnet")
    assert not torch.equal(model.resnet.conv1.weight, untouched.resnet.conv1.weight)


def test_imagenet_start_refuses_another_resnet(tmp_path):
    path, _ = resnet50_file(tmp_path, torchvision.models.resnet18)
    with pytest.raises(WeightsError, match=r"resnet18\.pth: .*(missing|shape)"):
        create_model("bbsnet", pretrained=True, backbone={"weights": str(path)})
    with pytest.raises(WeightsError, match="model.backbone.weights 'nowhere.pth'"):
        create_model("bbsnet", pretrained=True, backbone={"weights": "nowhere.pth"})


# ----------------------------------------------------------------------------- the release's loss
def test_release_loss_is_bce_on_both_outputs():
    """``BCEWithLogits(S1_up, gt) + BCEWithLogits(S2, gt)``, written out here."""
    torch.manual_seed(0)
    initial, final = torch.randn(2, 1, 32, 32), torch.randn(2, 1, 32, 32)
    gt = (torch.rand(2, 1, 32, 32) > 0.5).float()

    def bce(logits):
        p = torch.sigmoid(logits.double())
        return float(-(gt * torch.log(p) + (1 - gt) * torch.log(1 - p)).mean())

    loss = compute_loss([initial, final], gt, {"kind": "bce", "weights": [1.0, 1.0]})
    assert abs(float(loss) - (bce(initial) + bce(final))) < 1e-5
    weighted = compute_loss([initial, final], gt, {"kind": "bce", "weights": [0.5, 2.0]})
    assert abs(float(weighted) - (0.5 * bce(initial) + 2.0 * bce(final))) < 1e-5
    small_logits = F.avg_pool2d(initial, 4)  # (2, 1, 8, 8)
    small = compute_loss([small_logits], gt, {"kind": "bce", "weights": None})
    small_gt = F.interpolate(gt, size=(8, 8), mode="bilinear", align_corners=False)  # the GT resized to it
    p = torch.sigmoid(small_logits.double())
    expected = float(-(small_gt * torch.log(p) + (1 - small_gt) * torch.log(1 - p)).mean())
    assert small.shape == () and abs(float(small) - expected) < 1e-5
    nearest_gt = F.interpolate(gt, size=(8, 8), mode="nearest")  # another resize would be seen
    assert abs(float(small) - float(-(nearest_gt * torch.log(p) + (1 - nearest_gt) * torch.log(1 - p)).mean())) > 1e-3


def test_bce_iou_is_the_structure_loss_computed_pixel_by_pixel():
    """F3Net's Eq. 3-5 in a loop: weight 1 + 5 |mean of the GT over the 31x31 window (zero
    padded, divided by 961) - gt|, weighted BCE and weighted IoU per image, averaged."""
    torch.manual_seed(1)
    logits = torch.randn(2, 1, 40, 36)
    gt = torch.zeros(2, 1, 40, 36)
    gt[0, 0, 5:25, 8:30], gt[1, 0, 20:, :12] = 1.0, 1.0
    gt[1, 0, 30, 30] = 0.6  # a soft GT value
    x, g = logits.double().numpy()[:, 0], gt.double().numpy()[:, 0]
    per_image = []
    for b in range(2):
        weighted_bce = weight_sum = inter = union = 0.0
        for i in range(40):
            for j in range(36):
                window = g[b, max(i - 15, 0):i + 16, max(j - 15, 0):j + 16].sum() / 31 ** 2
                w = 1 + 5 * abs(window - g[b, i, j])
                prob = 1 / (1 + np.exp(-x[b, i, j]))
                weighted_bce += w * -(g[b, i, j] * np.log(prob) + (1 - g[b, i, j]) * np.log(1 - prob))
                weight_sum += w
                inter += prob * g[b, i, j] * w
                union += (prob + g[b, i, j]) * w
        per_image.append(weighted_bce / weight_sum + 1 - (inter + 1) / (union - inter + 1))
    loss = compute_loss(logits, gt, {"kind": "bce_iou", "weights": None})
    assert abs(float(loss) - float(np.mean(per_image))) < 1e-5


def test_every_loss_the_config_allows_exists():
    """utils/ cannot import models/: the allowed values of loss.kind and the losses agree here."""
    assert set(LossConfig.choices("kind")) == set(LOSSES)
