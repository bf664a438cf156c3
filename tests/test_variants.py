"""Ablation switches (model.modules): every combination builds, runs, trains, saves and reloads;
parameter counts equal a count from the layer shapes of docs/cdinet.md (tests/helpers.py)."""
from __future__ import annotations

import importlib.util
import itertools
import json
import re
from pathlib import Path

import pytest
import torch

from datasets import RGBDSODDataset, build_train_transform
from datasets.synthetic import generate
from models import WeightsError, load_config, load_weights
from models.cdinet import CDINet, ModelVariant, describe_model
from tests.helpers import FIXTURES, VARIANTS, expected_parameters, new_cdinet, train_steps
from utils.checkpoint import weights_export
from utils.config import AugmentConfig

ROOT = Path(__file__).resolve().parents[1]


def test_release_count_is_the_authors():
    assert expected_parameters(ModelVariant()) == 54_369_369


@pytest.mark.parametrize("variant", [pytest.param(v, id=v.describe(), marks=() if v in (VARIANTS[0], VARIANTS[-1])
                                                  else pytest.mark.slow) for v in VARIANTS])
def test_every_variant_builds_runs_and_has_the_expected_size(variant):
    model = CDINet(variant).eval()
    assert sum(p.numel() for p in model.parameters()) == expected_parameters(variant)
    with torch.no_grad():
        for h, w in ((64, 64), (48, 80)):  # square and not
            out = model(torch.randn(2, 3, h, w), torch.randn(2, 1, h, w))
            assert out.shape == (2, 1, h, w) and torch.isfinite(out).all()


def test_switches_change_the_computation():
    """Off means off: with the same shared weights, each switch changes the logits."""
    torch.manual_seed(0)
    rgb, depth = torch.randn(1, 3, 32, 32), torch.randn(1, 1, 32, 32)
    reference = CDINet().eval()
    outputs = {}
    for variant in VARIANTS[:4]:
        model = CDINet(variant).eval()
        shared = {k: v for k, v in reference.state_dict().items() if k in model.state_dict()}
        model.load_state_dict(shared, strict=False)
        with torch.no_grad():
            outputs[variant.describe()] = model(rgb, depth)
    values = list(outputs.values())
    assert all(not torch.allclose(a, b) for a, b in itertools.combinations(values, 2))


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = generate(tmp_path_factory.mktemp("syn") / "d", n_train=4, n_test=1, size=48, seed=5)
    dataset = RGBDSODDataset(root / "train", build_train_transform(AugmentConfig(size=32, flip=False, rotate_prob=0)))
    items = [dataset[i] for i in range(4)]
    return {k: torch.stack([item[k] for item in items]) for k in ("rgb", "depth", "gt")}


@pytest.mark.parametrize("variant", [VARIANTS[0], VARIANTS[-2], VARIANTS[-1]], ids=lambda v: v.describe())
@pytest.mark.slow
def test_variants_train_save_and_reload(variant, batch, tmp_path):
    torch.manual_seed(0)
    model = new_cdinet(variant=variant.to_dict())
    losses = train_steps(model, batch)
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    path = tmp_path / "w.pth"
    torch.save(weights_export(model.state_dict(), {"model": {"modules": variant.to_dict()}}), path)
    again = new_cdinet(variant=variant)
    load_weights(again, path)
    model.eval(), again.eval()
    with torch.no_grad():
        assert torch.equal(model(batch["rgb"], batch["depth"]), again(batch["rgb"], batch["depth"]))
    other = ModelVariant() if not variant.is_release else ModelVariant(rde=False)
    with pytest.raises(WeightsError, match=f"holds {re.escape(describe_model(variant, 'vgg16'))} \\(cdinet, options "
                                           f".* is {re.escape(describe_model(other, 'vgg16'))} \\(cdinet, options"):
        load_weights(CDINet(other), path)


def test_ablation_configs_and_test_py_builds_the_trained_variant(tmp_path):
    expected = {"no_rde": ModelVariant(rde=False), "no_dse": ModelVariant(dse=False),
                "no_ddr": ModelVariant(ddr=False), "two_stream": ModelVariant(False, False, False)}
    for name, variant in expected.items():
        config = load_config(ROOT / "configs" / "ablation" / f"{name}.yaml")
        assert ModelVariant.from_dict(config["model"]["modules"]) == variant
        assert config["train"] == load_config(ROOT / "configs" / "cdinet.yaml")["train"]
    spec = importlib.util.spec_from_file_location("test_script", ROOT / "test.py")
    test_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_script)
    variant = ModelVariant(rde=False, ddr=False, fusion="add")
    path = tmp_path / "w.pth"
    torch.save(weights_export(CDINet(variant).state_dict(), {"model": {"modules": variant.to_dict()},
                                                             "data": {"augment": {"size": 64}}}), path)
    out = tmp_path / "maps"
    args = test_script.get_args_parser().parse_args(["--checkpoint", str(path), "--data-root", str(FIXTURES / "rgbd"),
                                                     "--out", str(out)])
    assert test_script.main(args) == 0
    settings = json.loads((out / "test_info.json").read_text())["datasets"]["DES"]["settings"]
    assert settings["model"] == {"name": "cdinet", "backbone": {"name": "vgg16"}, "modules": variant.to_dict()}


def test_torch_hub_loads_the_model_and_its_weights(tmp_path):
    variant = ModelVariant(ddr=False)
    torch.manual_seed(1)
    source = CDINet(variant).eval()
    path = tmp_path / "w.pth"
    torch.save(weights_export(source.state_dict(), {"model": {"modules": variant.to_dict()}}), path)
    model = torch.hub.load(str(ROOT), "cdinet", source="local", weights=str(path), modules={"ddr": False})
    rgb, depth = torch.randn(1, 3, 32, 48), torch.randn(1, 1, 32, 48)
    with torch.no_grad():
        assert torch.equal(model(rgb, depth), source(rgb, depth))
    assert not model.training and model.variant == variant
    built_as_saved = torch.hub.load(str(ROOT), "cdinet", source="local", weights=str(path))
    assert built_as_saved.variant == variant  # the checkpoint's own config, without repeating it
    with pytest.raises(WeightsError, match="holds cdinet with options .*'ddr': False.*; asked for .*'ddr': True"):
        torch.hub.load(str(ROOT), "cdinet", source="local", weights=str(path), modules={"ddr": True})


def test_model_card_of_a_variant(capsys):
    from models import summary

    assert summary.main(["--size", "32", "--runs", "1", "--set", "model.modules.rde=false",
                         "--set", "model.modules.fusion=add"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("RDE off, fusion add, input 32x32")
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert int(total.split()[-1].replace(",", "")) == expected_parameters(ModelVariant(rde=False, fusion="add"))
