"""JL-DCF computes what its authors' release computes: their keys, their two outputs, pair by
pair, their maps, their loss and their training pixels.

References (tests/fixtures/reference/jldcf/, provenance in tests/fixtures/SOURCES.md): the key
list of their ``build_model('resnet101', 'resnet').state_dict()``, their model's two outputs
on seeded random inputs (``torch.cat([rgb, depth], 0)``, as their solver feeds it) with keyed seed-0
weights (``tests/keyed_weights.py``, ``keyed_state_dict_bn``, gain 0.8), and the maps their
``Solver.test`` wrote for the five DES fixtures with those weights. Their loss and their
training loader (``solver.py``, ``dataset.py``) are written again here from OpenCV and torch.
"""
from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from datasets import RGBDSODDataset, build_test_transform, build_train_transform
from datasets.transforms import draw_window, op_rng
from inference import Predictor
from models import create_model, get_entry, load_config, model_from_checkpoint
from models.jldcf import JLDCF, init_backbone
from models.losses import compute_loss
from tests.helpers import FIXTURES, assert_maps_match, load_test_script
from tests.keyed_weights import keyed_state_dict_bn, official_shapes
from utils.config import AugmentConfig, PreprocessConfig
from utils.errors import InputShapeError, WeightsError
from utils.runtime import derive_seed

REFERENCE = FIXTURES / "reference" / "jldcf"
KEYS = REFERENCE / "jldcf_official_keys.tsv"
RELEASE_MAPS = REFERENCE / "jldcf_release_maps_seed0"
DES = FIXTURES / "rgbd" / "DES"
IMAGENET = (np.array((0.485, 0.456, 0.406)), np.array((0.229, 0.224, 0.225)))
test_script = load_test_script()


@pytest.fixture(scope="module")
def keyed_model():
    """One ResNet-101 JL-DCF with the authors' keyed seed-0 weights, loaded strictly, in eval()."""
    model = JLDCF().eval()
    model.load_state_dict(keyed_state_dict_bn(official_shapes(KEYS), 0, gain=0.8), strict=True)
    return model


def relative_max_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours.double() - theirs.double()).abs().max() / theirs.double().abs().max())


def test_the_authors_keys_shapes_and_parameter_count():
    """Their 748 entries (BatchNorm buffers included), in their order, with their shapes; the
    143,517,490 parameters counted from the key list's shapes (BatchNorm buffers left out)."""
    expected = official_shapes(KEYS)
    model = JLDCF()
    state = model.state_dict()
    assert list(state) == list(expected) and len(expected) == 748
    assert {key: tuple(value.shape) for key, value in state.items()} == expected
    buffers = {name for name, _ in model.named_buffers()}
    from_tsv = sum(torch.Size(shape).numel() for key, shape in expected.items() if key not in buffers)
    assert from_tsv == sum(p.numel() for p in model.parameters()) == 143_517_490


def test_reproduces_the_authors_two_outputs(keyed_model):
    """``final`` (1, 1, 320, 320) and ``coarse`` (2, 1, 20, 20: RGB then depth) of their model
    on the reference input: relative max difference 6.0e-7 and 0 here. The maps depend on the
    input (no saturated sigmoid): their spread is of the order of their range."""
    reference = torch.load(REFERENCE / "jldcf_official_seed0_320x320.pt", weights_only=True)
    theirs_final, theirs_coarse = reference["logits"]
    generator = torch.Generator().manual_seed(reference["seed"])  # their inputs, drawn again
    rgb = torch.randn(1, 3, 320, 320, generator=generator)
    depth = torch.randn(1, 3, 320, 320, generator=generator)
    with torch.no_grad():
        final, coarse = keyed_model(rgb, depth)
    assert final.shape == theirs_final.shape == (1, 1, 320, 320)
    assert coarse.shape == theirs_coarse.shape == (2, 1, 20, 20)
    assert relative_max_difference(final, theirs_final) < 1e-5
    assert relative_max_difference(coarse, theirs_coarse) < 1e-5
    assert float(theirs_final.std()) > 0.1 * float(theirs_final.abs().max())


@pytest.mark.slow  # three more ResNet-101 passes; the whole suite runs it
def test_a_batch_of_pairs_gives_each_pair_its_own_result(keyed_model):
    """Their CM layer fuses samples 0 and 1 (one pair per pass); ours splits the batch in halves,
    so two different pairs in one batch each give what they give alone. ``coarse`` holds the
    RGB maps of the pairs first, then their depth maps."""
    generator = torch.Generator().manual_seed(1)
    rgb = torch.randn(2, 3, 128, 96, generator=generator)
    depth = torch.randn(2, 3, 128, 96, generator=generator)
    with torch.no_grad():
        final, coarse = keyed_model(rgb, depth)
        alone = [keyed_model(rgb[i:i + 1], depth[i:i + 1]) for i in range(2)]
    assert final.shape == (2, 1, 128, 96) and coarse.shape == (4, 1, 8, 6)
    for i, (final_i, coarse_i) in enumerate(alone):
        torch.testing.assert_close(final[i:i + 1], final_i, rtol=0, atol=1e-5 * float(final_i.abs().max()))
        torch.testing.assert_close(coarse[[i, 2 + i]], coarse_i, rtol=0, atol=1e-5 * float(coarse_i.abs().max()))
    assert relative_max_difference(alone[0][0], alone[1][0]) > 1e-2  # the two pairs differ


def test_inputs_it_cannot_take_are_one_clear_error(keyed_model):
    """Depth is a 3-channel image (one shared backbone); H and W are multiples of 16."""
    with pytest.raises(InputShapeError, match="three channels"):
        keyed_model(torch.zeros(1, 3, 64, 64), torch.zeros(1, 1, 64, 64))
    with pytest.raises(InputShapeError, match="multiples of 16"):
        keyed_model(torch.zeros(1, 3, 72, 64), torch.zeros(1, 3, 72, 64))


@pytest.fixture(scope="module")
def authors_file(keyed_model, tmp_path_factory):
    """The keyed seed-0 weights saved as their solver saves a model: a bare ``state_dict``."""
    path = tmp_path_factory.mktemp("jldcf") / "JLDCF.pth"
    torch.save(keyed_model.state_dict(), path)
    return path


def test_test_py_maps_from_the_authors_file_equal_their_test_script(authors_file, tmp_path, capsys):
    """test.py recognises their layout and runs their pixel path (320, OpenCV's float resize,
    3-channel depth with the ImageNet mean/std) and post-processing (``align_corners=True``):
    every pixel within 1 gray level of the maps their ``Solver.test`` wrote. The DES depth is
    near = dark as stored, JL-DCF's convention: no polarity warning."""
    out = tmp_path / "maps"
    argv = ["--checkpoint", authors_file, "--data-root", FIXTURES / "rgbd", "--datasets", "DES", "--out", out,
            "--device", "cpu", "--workers", 0, "--backend", "torch"]
    assert test_script.main(test_script.get_args_parser().parse_args([str(a) for a in argv])) == 0
    assert_maps_match(out / "DES", RELEASE_MAPS)
    settings = json.loads((out / "test_info.json").read_text())["datasets"]["DES"]["settings"]
    assert settings["model"]["name"] == "jldcf" and settings["size"] == 320 and settings["release_pixel_path"]
    assert settings["input_spec"]["depth_channels"] == 3 and settings["input_spec"]["near"] == "dark"
    assert "polarity" not in capsys.readouterr().err


@pytest.mark.slow  # five more ResNet-101 passes
def test_another_pixel_path_is_far_from_their_maps(authors_file):
    """The agreement above is not a matter of tolerance: the same weights fed through CDINet's
    pixel path (Pillow's antialiased resize) and post-processed with ``align_corners=False``
    give maps several gray levels away."""
    predictor = Predictor.from_checkpoint(authors_file, device="cpu", backend="torch", resize="pil")
    predictor.spec = dataclasses.replace(predictor.spec, align_corners=False)
    stem = "RGBD_data_4"
    ours = predictor.predict(DES / "RGB" / f"{stem}.jpg", DES / "depth" / f"{stem}.bmp").astype(int)
    theirs = cv2.imread(str(RELEASE_MAPS / f"{stem}.png"), cv2.IMREAD_UNCHANGED).astype(int)
    assert np.abs(ours - theirs).max() > 5


def their_loss(final: torch.Tensor, coarse: torch.Tensor, gt: torch.Tensor, iter_size: int) -> torch.Tensor:
    """Their ``Solver.train`` at batch 1: summed BCE on the final map, 256 times that on the
    coarse maps of both halves against the GT resized to 20x20 with align_corners=True."""
    coarse_gt = F.interpolate(gt, (20, 20), mode="bilinear", align_corners=True)
    coarse_gt = torch.cat((coarse_gt, coarse_gt), dim=0)
    loss = F.binary_cross_entropy_with_logits(final, gt, reduction="sum")
    loss = loss + 256 * F.binary_cross_entropy_with_logits(coarse, coarse_gt, reduction="sum")
    return loss / iter_size


def test_the_config_s_loss_is_theirs():
    """configs/jldcf.yaml's loss section (with the align_corners its model sets) on outputs of
    their shapes equals their formula; the accumulation's division by iter_size is train.py's."""
    config = load_config("configs/jldcf.yaml")
    generator = torch.Generator().manual_seed(0)
    final = torch.randn(1, 1, 320, 320, generator=generator)
    coarse = torch.randn(2, 1, 20, 20, generator=generator)
    gt = (torch.rand(1, 1, 320, 320, generator=generator) > 0.6).float()
    ours = compute_loss([final, coarse], gt, config["loss"]) / config["train"]["accumulate"]
    torch.testing.assert_close(ours, their_loss(final, coarse, gt, 10), rtol=1e-6, atol=0)
    corners_off = compute_loss([final, coarse], gt, {**config["loss"], "align_corners": False}) / 10
    assert abs(float(corners_off - ours)) > 1e-3 * float(ours)


def their_training_sample(rgb_path, depth_path, gt_path, top: int, left: int):
    """Their ``ImageDataTrain.__getitem__`` at 320 with the crop offsets given: cv2.imread, float32,
    cv2.resize, BGR -> RGB, / 255, ImageNet mean/std (RGB and depth alike), then the 300x300
    window at (top, left) resized back to 320; the GT read gray, resized, / 255."""
    def image(path):
        x = cv2.resize(np.array(cv2.imread(str(path)), dtype=np.float32), (320, 320))
        return (x[:, :, ::-1] / 255.0 - IMAGENET[0]) / IMAGENET[1]

    gt = cv2.resize(np.array(cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE), dtype=np.float32), (320, 320)) / 255.0
    crop = [cv2.resize(np.ascontiguousarray(x[top:top + 300, left:left + 300]), (320, 320))
            for x in (image(rgb_path), image(depth_path), gt)]
    return crop[0].transpose(2, 0, 1), crop[1].transpose(2, 0, 1), crop[2][None]


def test_training_pixels_are_their_loader_s():
    """A training sample of configs/jldcf.yaml's pipeline equals their loader's for the same
    crop offsets (to float32 rounding), and its mirrored copy is the same sample flipped
    left-right before anything else (their archive's flipped images)."""
    config = load_config("configs/jldcf.yaml")
    spec = get_entry("jldcf").input_spec
    augment = AugmentConfig.from_dict(config["data"]["augment"])
    preprocess = PreprocessConfig.from_dict(config["data"]["preprocess"])
    dataset = RGBDSODDataset(DES, build_train_transform(augment, preprocess, spec), mirror=config["data"]["mirror"])
    dataset.augmentation_seed = 7
    assert len(dataset) == 10
    item = dataset[2]
    top, left = draw_window(op_rng(derive_seed(7, 2), "window"), 20)  # the offsets this sample drew
    stem = item["name"]
    rgb, depth, gt = their_training_sample(DES / "RGB" / f"{stem}.jpg", DES / "depth" / f"{stem}.bmp",
                                           DES / "GT" / f"{stem}.png", top, left)
    np.testing.assert_allclose(item["rgb"].numpy(), rgb, rtol=0, atol=1e-4)
    np.testing.assert_allclose(item["depth"].numpy(), depth, rtol=0, atol=1e-4)
    np.testing.assert_allclose(item["gt"].numpy(), gt, rtol=0, atol=1e-5)
    plain = RGBDSODDataset(DES, build_test_transform(320, preprocess, spec), mirror=True)
    stored, mirrored = plain[2], plain[2 + 5]
    assert mirrored["name"] == stored["name"]
    for key in ("rgb", "depth", "gt"):
        torch.testing.assert_close(mirrored[key], stored[key].flip(-1), rtol=0, atol=1e-5)


VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)  # their vgg.py: the convs of ``layers``


def expected_shapes(backbone: str) -> dict:
    """The state of their ``build_model(network, arch)`` for the other backbones, derived from
    the ResNet-101 key list by their code: ResNet-50 has 6 bottlenecks in layer3 instead of 23;
    VGG-16 (``JLModuleVGG``) has its ``layers`` instead of the ResNet and ``vgg_conv1``, and CP
    branches on 128 / 512 / 512 channels at levels 1, 4 and 5."""
    shapes = official_shapes(KEYS)
    if backbone == "resnet50":
        return {k: v for k, v in shapes.items()
                if not (k.startswith("JLModule.backbone.layer3.") and int(k.split(".")[3]) >= 6)}
    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    vgg = {}
    for index, (cin, cout) in zip(VGG16_CONVS, zip([3] + widths[:-1], widths)):
        vgg[f"JLModule.backbone.layers.{index}.weight"] = (cout, cin, 3, 3)
        vgg[f"JLModule.backbone.layers.{index}.bias"] = (cout,)
    rest = {k: v for k, v in shapes.items() if not k.startswith(("JLModule.backbone.", "JLModule.vgg_conv1."))}
    for level, cin in ((1, 128), (4, 512), (5, 512)):
        out = rest[f"JLModule.CP.{level}.0.weight"]
        rest[f"JLModule.CP.{level}.0.weight"] = (out[0], cin, *out[2:])
    return {**vgg, **rest}


@pytest.mark.parametrize("backbone", ["resnet50", "vgg16"])
def test_other_backbones_have_their_keys_and_shapes(backbone, tmp_path):
    """Each backbone of their release has their keys in their order; an authors' file of it is
    recognised from its keys (which backbone) and loads strictly; both outputs at 1 and 1/16."""
    model = create_model("jldcf", backbone={"name": backbone})
    state = model.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == expected_shapes(backbone)
    assert list(state) == list(expected_shapes(backbone))
    torch.save(state, tmp_path / "theirs.pth")
    loaded, _ = model_from_checkpoint(tmp_path / "theirs.pth")
    assert loaded.backbone_name == backbone
    with torch.no_grad():
        final, coarse = loaded(torch.randn(1, 3, 64, 48), torch.randn(1, 3, 64, 48))
    assert final.shape == (1, 1, 64, 48) and coarse.shape == (2, 1, 4, 3)


def test_batchnorm_stays_frozen_in_training_as_their_solver_runs_it():
    """Their solver never calls ``train()``: BatchNorm keeps its running statistics. ``batchnorm:
    train`` (ours) updates them."""
    generator = torch.Generator().manual_seed(0)
    rgb, depth = torch.randn(1, 3, 64, 64, generator=generator), torch.randn(1, 3, 64, 64, generator=generator)
    for setting, moves in (("frozen", False), ("train", True)):
        model = create_model("jldcf", backbone={"name": "resnet50"}, batchnorm=setting).train()
        bn = model.JLModule.backbone.bn1
        before = bn.running_mean.clone()
        model(rgb, depth)
        assert bn.training is moves and model.training
        assert (not torch.equal(before, bn.running_mean)) is moves


def test_start_weights_come_from_torchvision_files(tmp_path):
    """Their ``load_pretrained_model``: the backbone from a torchvision ResNet (keys by name, the
    classifier left out) and ``vgg_conv1`` from VGG-16's ``features.0`` and ``features.2``; a
    file of another depth is refused by name."""
    import torchvision

    resnet = torchvision.models.resnet50().state_dict()
    vgg = {f"features.{k}": v for k, v in torchvision.models.vgg16().features.state_dict().items()}
    torch.save(resnet, tmp_path / "resnet50.pth")
    torch.save(vgg, tmp_path / "vgg16.pth")
    model = JLDCF("resnet50")
    init_backbone(model, tmp_path / "resnet50.pth", tmp_path / "vgg16.pth")
    for key, value in model.JLModule.backbone.state_dict().items():
        assert torch.equal(value, resnet[key]), key
    assert torch.equal(model.JLModule.vgg_conv1[2].weight, vgg["features.2.weight"])
    with pytest.raises(WeightsError, match="layer3.6.conv1.weight is missing"):
        init_backbone(JLDCF("resnet101"), tmp_path / "resnet50.pth", "none")
    assert isinstance(model.JLModule.vgg_conv1[0], nn.Conv2d)


@pytest.mark.slow  # four ResNet-101 training batches on the CPU
def test_its_config_trains_on_near_bright_data_inverted(tmp_path, capsys):
    """configs/jldcf.yaml end to end on synthetic data, which is near = bright by construction:
    ``invert_depth: auto`` inverts it for JL-DCF's near = dark, ``data.mirror`` doubles the
    images, two steps of two accumulated batches are made, and the weights rebuild as trained."""
    import train
    from datasets.synthetic import generate

    root = generate(tmp_path / "data", n_train=6, n_test=1, size=64, seed=0)
    sets = [f"data.root={root}", "data.train=[{root: train, invert_depth: auto}]", "model.backbone.weights=none",
            "model.vgg_conv1.weights=none", "data.augment.size=64", "train.max_steps=2", "train.accumulate=2",
            "data.workers=0", f"log.dir={tmp_path / 'run'}"]
    argv = ["--config", "configs/jldcf.yaml"] + [item for s in sets for item in ("--set", s)]
    assert train.main(train.get_args_parser().parse_args(argv)) == 0
    out = capsys.readouterr()
    note = next(line for line in out.err.splitlines() if line.startswith("note: data.train.0"))
    assert "invert_depth auto: depth near = bright" in note and note.endswith(": inverted")
    assert "JL-DCF (ResNet-101), 12 training / 0 validation images" in out.out
    saved = torch.load(tmp_path / "run" / "ckpt_e001_s0000002.pth", weights_only=True)
    assert (saved["state"]["step"], saved["state"]["epochs_done"]) == (2, 1)
    model, config = model_from_checkpoint(tmp_path / "run" / "weights_final.pth")
    assert model.describe() == "JL-DCF (ResNet-101)" and config["loss"]["align_corners"] is True
