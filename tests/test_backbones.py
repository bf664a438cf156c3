"""Backbones other than the release's VGG16 (model.backbone.name): stages equal torchvision's own
forward, ImageNet weights load as VGG16's do (cache, path, one error offline), every switch
combination builds, runs at two sizes and has the parameter count written in tests/helpers.py;
training, saving, reloading, train.py/test.py/torch.hub with a backbone."""
from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
import torch
import torchvision

import train
from models import InputShapeError, WeightsError, config_from_dict, load_config, load_weights
from models.cdinet import CDINet, ModelVariant, describe_model
from tests.helpers import (
    FIXTURES,
    NATIVE_WIDTHS,
    VARIANTS,
    backbone_parameters,
    expected_parameters,
    new_cdinet,
    torchvision_model,
    train_steps,
)
from utils.checkpoint import weights_export
from utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def torchvision_levels(model: torch.nn.Module, name: str, x: torch.Tensor) -> list[torch.Tensor]:
    """The five levels computed with torchvision's own modules, written out here."""
    if name == "resnet50":
        x1 = model.relu(model.bn1(model.conv1(x)))
        x2 = model.layer1(model.maxpool(x1))
        x3 = model.layer2(x2)
        x4 = model.layer3(x3)
        return [x1, x2, x3, x4, model.layer4(x4)]
    levels, start = [], 0
    for end in (2, 4, 7, 14, 18):  # features[18], the 1x1 conv to 1280, is not a level
        x = model.features[start:end](x)
        levels.append(x)
        start = end
    return levels


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
def test_stages_compute_torchvision_features(name, tmp_path):
    source = torchvision_model(name)
    torch.save(source.state_dict(), tmp_path / f"{name}.pth")
    model = new_cdinet(name, tmp_path / f"{name}.pth").eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ours = model.depth_backbone(x)
        expected = torchvision_levels(source, name, x)
    for level, (a, b, width) in enumerate(zip(ours, expected, NATIVE_WIDTHS[name]), start=1):
        assert a.shape == b.shape == (1, width, 64 // 2 ** level, 96 // 2 ** level), level
        assert torch.equal(a, b), level
    info = model.rgb_backbone.feature_info
    assert [i["num_chs"] for i in info] == list(NATIVE_WIDTHS[name])
    assert [i["reduction"] for i in info] == [2, 4, 8, 16, 32]


def test_backbone_file_of_another_architecture_is_refused(tmp_path):
    torch.save(torchvision.models.vgg16().state_dict(), tmp_path / "vgg16.pth")
    with pytest.raises(WeightsError, match=r"vgg16.pth: not a torchvision resnet50 state dict: missing conv1.weight"):
        new_cdinet("resnet50", tmp_path / "vgg16.pth")


@pytest.mark.parametrize("name, file_name", [("resnet50", "resnet50-0676ba61.pth"),
                                             ("mobilenet_v2", "mobilenet_v2-b0353104.pth")])
def test_imagenet_weights_come_from_torchvision_cache_or_one_error(name, file_name, tmp_path, monkeypatch):
    """The file names are torchvision's IMAGENET1K_V1 weights (its weights API's URLs)."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda url, dst, progress=True: (_ for _ in ()).throw(OSError("no network")))
    cached = tmp_path / "hub" / "checkpoints" / file_name
    with pytest.raises(WeightsError) as info:
        new_cdinet(name, "imagenet")
    assert str(cached) in str(info.value) and "model.backbone.weights" in str(info.value)
    assert "\n" not in str(info.value)
    source = torchvision_model(name, seed=3)
    torch.save(source.state_dict(), cached)
    model = new_cdinet(name, "imagenet")
    first = {"resnet50": "stage1.conv1.weight", "mobilenet_v2": "stage1.features_0.0.weight"}[name]
    source_key = {"resnet50": "conv1.weight", "mobilenet_v2": "features.0.0.weight"}[name]
    for stream in (model.rgb_backbone, model.depth_backbone):
        assert torch.equal(stream.state_dict()[first], source.state_dict()[source_key])


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(ConfigError,
                       match="model.backbone.name must be one of vgg16, resnet50, mobilenet_v2, got 'resnet5'"):
        CDINet(backbone="resnet5")


# The whole backbone x switch product runs in make test-all; the fast suite keeps one each end.
COMBINATIONS = [pytest.param(name, variant, id=f"{name}-{variant.describe()}",
                             marks=() if (name, variant) in (("resnet50", VARIANTS[0]), ("mobilenet_v2", VARIANTS[-1]))
                             else pytest.mark.slow)
                for name, variant in itertools.product(["resnet50", "mobilenet_v2"], VARIANTS)]


@pytest.mark.parametrize("name, variant", COMBINATIONS)
def test_every_switch_combination_builds_runs_and_has_the_expected_size(name, variant):
    model = CDINet(variant, name).eval()
    expected = expected_parameters(variant, NATIVE_WIDTHS[name], backbone_parameters(name))
    assert sum(p.numel() for p in model.parameters()) == expected
    with torch.no_grad():
        for h, w in ((64, 64), (64, 96)):  # square and not; output at the input resolution
            out = model(torch.randn(2, 3, h, w), torch.randn(2, 1, h, w))
            assert out.shape == (2, 1, h, w) and torch.isfinite(out).all()


def test_stride_two_backbones_need_multiples_of_32():
    model = CDINet(backbone="mobilenet_v2")
    assert model.input_spec.multiple == 32 and CDINet().input_spec.multiple == 16
    with pytest.raises(InputShapeError, match="multiples of 32"):
        model(torch.zeros(1, 3, 48, 48), torch.zeros(1, 1, 48, 48))


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    from datasets.synthetic import generate

    return generate(tmp_path_factory.mktemp("syn") / "d", n_train=8, n_test=2, size=48, seed=7)


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2"])
@pytest.mark.slow
def test_backbones_train_save_and_reload(name, synthetic_root, tmp_path):
    from datasets import RGBDSODDataset, build_train_transform
    from utils.config import AugmentConfig

    transform = build_train_transform(AugmentConfig(size=64, flip=False, rotate_prob=0))
    dataset = RGBDSODDataset(synthetic_root / "train", transform)
    batch = {k: torch.stack([dataset[i][k] for i in range(4)]) for k in ("rgb", "depth", "gt")}
    torch.manual_seed(0)
    model = new_cdinet(name)
    losses = train_steps(model, batch)
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    path = tmp_path / "w.pth"
    torch.save(weights_export(model.state_dict(), {"model": {"backbone": {"name": name, "weights": "none"}}}), path)
    again = new_cdinet(name)
    load_weights(again, path)
    model.eval(), again.eval()
    with torch.no_grad():
        assert torch.equal(model(batch["rgb"], batch["depth"]), again(batch["rgb"], batch["depth"]))
    with pytest.raises(WeightsError, match=f"holds {re.escape(describe_model(ModelVariant(), name))} \\(cdinet, "
                                           f"options .*'name': '{name}'.* is CDINet \\(release\\) \\(cdinet, options "
                                           f".*'name': 'vgg16'"):
        load_weights(CDINet(), path)


@pytest.mark.slow
def test_train_and_test_scripts_with_a_backbone_config(synthetic_root, tmp_path):
    config = load_config(ROOT / "configs" / "cdinet_mbv2.yaml")
    assert config["model"]["backbone"] == {"name": "mobilenet_v2", "weights": "imagenet"}
    assert load_config(ROOT / "configs" / "cdinet_r50.yaml")["model"]["backbone"]["name"] == "resnet50"
    release = load_config(ROOT / "configs" / "cdinet.yaml")
    for section in ("data", "optim", "train", "val", "checkpoint"):  # the release's recipe
        assert config[section] == release[section], section
    run = tmp_path / "run"
    argv = ["--config", str(ROOT / "configs" / "cdinet_mbv2.yaml")]
    for item in (f"data.root={synthetic_root}", "data.train=[{root: train}]", f"log.dir={run}", "data.augment.size=48",
                 "model.backbone.weights=none", "train.epochs=1", "train.batch_size=4", "data.workers=0",
                 "checkpoint.weights_epochs=[]"):
        argv += ["--set", item]
    with pytest.raises(InputShapeError,
                       match="data.augment.size must be a multiple of 32 for CDINet on MobileNetV2, got 48"):
        train.main(train.get_args_parser().parse_args(argv))
    assert not run.exists()
    argv[argv.index("data.augment.size=48")] = "data.augment.size=64"
    assert train.main(train.get_args_parser().parse_args(argv)) == 0
    saved = torch.load(run / "weights_final.pth", weights_only=True)
    assert saved["config"]["model"]["backbone"]["name"] == "mobilenet_v2"

    import importlib.util

    spec = importlib.util.spec_from_file_location("test_script", ROOT / "test.py")
    test_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_script)
    out = tmp_path / "maps"
    args = test_script.get_args_parser().parse_args(["--checkpoint", str(run / "weights_final.pth"),
                                                     "--data-root", str(FIXTURES / "rgbd"), "--out", str(out)])
    assert test_script.main(args) == 0
    info = json.loads((out / "test_info.json").read_text())["datasets"]["DES"]["settings"]
    assert info["model"] == {"name": "cdinet", "backbone": {"name": "mobilenet_v2"},
                             "modules": ModelVariant().to_dict()} and info["size"] == 64


def test_configs_written_before_backbones_still_load():
    """A run config of ours from before model.backbone became {name, weights}: the VGG16 weights."""
    config = config_from_dict({"model": {"backbone": "none"}})
    assert config["model"]["backbone"] == {"name": "vgg16", "weights": "none"}


def test_torch_hub_builds_the_model_its_checkpoint_holds(tmp_path):
    """The backbone and switches come from the checkpoint's saved config; arguments that
    contradict it are refused, naming both."""
    torch.manual_seed(2)
    source = CDINet(ModelVariant(dse=False), "mobilenet_v2").eval()
    path = tmp_path / "w.pth"
    torch.save(weights_export(source.state_dict(), {"model": {"backbone": {"name": "mobilenet_v2"},
                                                              "modules": {"dse": False}}}), path)
    model = torch.hub.load(str(ROOT), "cdinet", source="local", weights=str(path))
    assert model.backbone_name == "mobilenet_v2" and model.variant == ModelVariant(dse=False) and not model.training
    rgb, depth = torch.randn(1, 3, 64, 32), torch.randn(1, 1, 64, 32)
    with torch.no_grad():
        assert torch.equal(model(rgb, depth), source(rgb, depth))
    again = torch.hub.load(str(ROOT), "cdinet", source="local", backbone={"name": "mobilenet_v2"},
                           modules={"dse": False}, weights=str(path))
    assert again.backbone_name == "mobilenet_v2"
    with pytest.raises(WeightsError, match="holds cdinet with options .*mobilenet_v2.*; asked for .*vgg16"):
        torch.hub.load(str(ROOT), "cdinet", source="local", backbone={"name": "vgg16"}, weights=str(path))
    with pytest.raises(WeightsError, match="holds cdinet, not bbsnet"):
        torch.hub.load(str(ROOT), "bbsnet", source="local", weights=str(path))
    built = torch.hub.load(str(ROOT), "cdinet", source="local", backbone={"name": "mobilenet_v2"},
                           modules={"ddr": False})
    assert built.backbone_name == "mobilenet_v2" and built.variant == ModelVariant(ddr=False)


@pytest.mark.slow
def test_model_cards_count_what_the_tests_count(capsys):
    from models import summary

    assert summary.main(["--size", "64", "--runs", "1", "--set", "model.backbone.name=resnet50",
                         "--set", "model.modules.ddr=false"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("DDR off, ResNet-50, input 64x64")
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert int(total.split()[-1].replace(",", "")) == expected_parameters(
        ModelVariant(ddr=False), NATIVE_WIDTHS["resnet50"], backbone_parameters("resnet50"))
    assert summary.main(["--table", "--size", "32", "--runs", "1", "--warmup", "0", "--precisions", "fp32"]) == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and "---" not in line]
    counts = {(row[0].strip("| "), row[1]): int(row[3].replace(",", "")) for row in rows[1:] if row[0] == "| CDINet"}
    assert counts == {
        ("CDINet", "release"): expected_parameters(ModelVariant()),
        ("CDINet", "RDE off, fusion concat"): expected_parameters(ModelVariant(rde=False)),
        ("CDINet", "DSE off, fusion concat"): expected_parameters(ModelVariant(dse=False)),
        ("CDINet", "DDR off"): expected_parameters(ModelVariant(ddr=False)),
        ("CDINet", "RDE off, DSE off, DDR off, fusion concat"): expected_parameters(ModelVariant(False, False, False)),
        ("CDINet", "on ResNet-50"): expected_parameters(ModelVariant(), NATIVE_WIDTHS["resnet50"],
                                                        backbone_parameters("resnet50")),
        ("CDINet", "on MobileNetV2"): expected_parameters(ModelVariant(), NATIVE_WIDTHS["mobilenet_v2"],
                                                          backbone_parameters("mobilenet_v2")),
    }
