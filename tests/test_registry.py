"""The model registry: registration by function name, option sections, configs that name a model."""
from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from models import InputSpec, create_model, get_entry, list_models, load_config, register_model
from tests.helpers import PROJECT_ROOT
from utils.errors import ConfigError, WeightsError

CONFIGS = PROJECT_ROOT / "configs"


def test_models_in_the_package_are_found_without_a_list():
    assert {"cdinet", "bbsnet"} <= set(list_models())
    assert get_entry("bbsnet").title == "BBS-Net" and get_entry("cdinet").input_spec == InputSpec()


def test_a_builder_without_a_section_takes_its_keyword_arguments_and_gets_the_default_spec(registered):
    @register_model
    def plain_net(pretrained: bool = False, width: int = 4, act: str = "relu"):
        net = nn.Conv2d(4, width, 1)
        net.seen = (pretrained, width, act)
        return net

    assert "plain_net" in list_models()
    model = create_model("plain_net", width=6)
    assert model.seen == (False, 6, "relu") and model.model_name == "plain_net"
    assert model.model_options == {"width": 6, "act": "relu"}
    assert model.input_spec == InputSpec()  # no spec declared: the CDINet release's pixel path
    assert create_model("plain_net", pretrained=True).seen[0] is True
    with pytest.raises(ConfigError, match=r"unknown config key 'model.depth' \(known: width, act\)"):
        create_model("plain_net", depth=3)


def test_a_second_model_of_the_same_name_is_refused(registered):
    @register_model
    def twice_net(pretrained: bool = False):
        return nn.Identity()

    def other():
        @register_model
        def twice_net(pretrained: bool = False):  # noqa: F811 - the clash is the point
            return nn.Identity()

    with pytest.raises(ValueError, match="'twice_net' is already registered"):
        other()


SAME_NAME_MODEL = """
from models import register_model


@register_model
def same_name_net(pretrained: bool = False):
    return None
"""


def module_from_source(name: str, source: str) -> types.ModuleType:
    """A module ``name`` holding ``source``'s definitions (as if imported from a file of that name)."""
    module = types.ModuleType(name)
    exec(compile(source, f"{name}.py", "exec"), module.__dict__)
    return module


def test_two_modules_defining_a_model_of_one_name_are_refused(registered):
    """Both define a top-level ``same_name_net``: the same qualified name, in other modules."""
    first = module_from_source("lab_a_models", SAME_NAME_MODEL)
    assert get_entry("same_name_net").builder is first.same_name_net
    module_from_source("lab_a_models", SAME_NAME_MODEL)  # the same module imported again registers again
    with pytest.raises(ValueError, match=r"'same_name_net' is already registered \(from lab_a_models\)"):
        module_from_source("lab_b_models", SAME_NAME_MODEL)


def test_an_unknown_model_name_lists_the_registered_ones():
    with pytest.raises(ConfigError, match=r"model.name 'bbs' is not a registered model \(registered: .*bbsnet.*cdinet"):
        create_model("bbs")


def test_model_keys_are_checked_by_that_models_section(tmp_path):
    with pytest.raises(ConfigError, match=r"--set model.modules.rde: unknown config key 'model.modules' "
                                          r"\(known here: name, init, backbone\)"):
        load_config(CONFIGS / "bbsnet.yaml", ["model.modules.rde=false"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: bbsnet, width: 3}\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'model.width' \(known: .*backbone"):
        load_config(bad)
    assert load_config(CONFIGS / "cdinet.yaml", ["model.modules.rde=false"])["model"]["modules"]["rde"] is False


def test_a_config_of_another_model_does_not_inherit_the_bases_model_options(tmp_path):
    """configs/cdinet_r50.yaml sets model.backbone.name: resnet50; a child naming bbsnet must not
    hand that to BBS-Net, and switching back with --set starts CDINet's options afresh."""
    child = tmp_path / "child.yaml"
    child.write_text(f"_base_: {CONFIGS / 'cdinet_r50.yaml'}\nmodel: {{name: bbsnet}}\n")
    config = load_config(child)
    assert config["model"] == {"name": "bbsnet", "init": None, "backbone": {"weights": "imagenet"}}
    assert config["data"]["augment"]["size"] == 352  # BBS-Net's spec size, the base set none
    assert config["log"]["dir"] == "runs/cdinet_r50"  # other sections are inherited as usual
    back = load_config(CONFIGS / "bbsnet.yaml", ["model.name=cdinet"])
    assert back["model"]["backbone"] == {"name": "vgg16", "weights": "imagenet"}
    assert back["loss"]["weights"] == [1.0, 1.0]  # the file's loss stays (it is not a model option)


def test_bbsnet_config_is_the_authors_recipe():
    config = load_config(CONFIGS / "bbsnet.yaml")
    assert config["model"]["name"] == "bbsnet"
    assert [entry["root"] for entry in config["data"]["train"]] == ["NJU2K/train", "NLPR/train"]
    augment = config["data"]["augment"]
    assert (augment["size"], augment["flip"], augment["crop_border"], augment["rotate_prob"]) == (352, "horizontal",
                                                                                                 30, 0.2)
    assert tuple(augment["rotate_range"]) == (-15, 15) and augment["color_enhance"] and augment["gt_pepper"] == 0.0015
    optim = config["optim"]
    assert (optim["lr"], optim["lr_decay"], optim["lr_decay_every"], optim["grad_clip_value"]) == (1e-4, 0.1, 60, 0.5)
    assert (optim["betas"], optim["weight_decay"]) == ([0.9, 0.999], 0.0)
    assert (config["train"]["epochs"], config["train"]["batch_size"]) == (199, 10)
    assert load_config(CONFIGS / "bbsnet_200.yaml")["train"]["epochs"] == 200
    assert config["loss"] == {"kind": "bce", "weights": [1.0, 1.0], "reductions": None, "align_corners": False}
    assert config["data"]["val_fraction"] > 0  # checkpoint choice on held-out training data


def test_weights_of_one_model_never_load_into_another(tmp_path):
    from models import load_weights
    from utils.checkpoint import weights_export

    tiny_cdinet = create_model("cdinet", backbone={"name": "mobilenet_v2"})
    path = tmp_path / "w.pth"
    torch.save(weights_export(tiny_cdinet.state_dict(), {"model": {"name": "cdinet", "backbone": {
        "name": "mobilenet_v2", "weights": "none"}}}), path)
    with pytest.raises(WeightsError, match=r"holds CDINet on MobileNetV2 \(cdinet, .*the model to load it into "
                                           r"is BBS-Net"):
        load_weights(create_model("bbsnet"), path)


def test_hub_accepts_options_that_differ_from_the_checkpoint_in_start_weights_only(tmp_path):
    """A file trained with ``backbone.weights: none`` and options naming the same architecture
    (start weights at their default, ``imagenet``) loads; another architecture is refused."""
    import hubconf
    from utils.checkpoint import weights_export

    torch.manual_seed(0)
    source = create_model("cdinet", backbone={"name": "mobilenet_v2", "weights": "none"}, modules={"ddr": False})
    path = tmp_path / "w.pth"
    torch.save(weights_export(source.state_dict(), {"model": {"name": "cdinet", **source.model_options}}), path)
    model = hubconf.cdinet(weights=str(path), backbone={"name": "mobilenet_v2"}, modules={"ddr": False})
    assert all(torch.equal(value, source.state_dict()[key]) for key, value in model.state_dict().items())
    with pytest.raises(WeightsError, match=r"holds cdinet with options .*'ddr': False.*; asked for .*'ddr': True"):
        hubconf.cdinet(weights=str(path), backbone={"name": "mobilenet_v2"}, modules={"ddr": True})
