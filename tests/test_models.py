"""CDINet computes the authors' function (their logits, tests/fixtures/reference); weights load
strictly from every supported source."""
import re

import pytest
import torch
import torchvision

from models import InputShapeError, WeightsError, load_weights
from models import weights as weights_module
from models.cdinet import BACKBONES, CDINet
from models.cdinet.vgg import VGG16Features
from models.summary import count_macs, parameter_counts
from tests.helpers import FIXTURES, new_cdinet
from tests.keyed_weights import keyed_official_state_dict
from tests.release_reference import reference_forward


@pytest.fixture(scope="module")
def keyed():
    """Keyed weights in the authors' layout (``tests/keyed_weights.py``), by seed."""
    return keyed_official_state_dict


@pytest.fixture(scope="module")
def model():
    return CDINet().eval()


def test_reproduces_authors_logits_seed0_256(keyed, model):
    """The authors' logits for their input, as the first pair of a batch of two (the second, the
    same pair mirrored, must not leak into it); bench's functional copy of their forward, which
    bench.inference times as the release loop, gives the same logits."""
    ref = torch.load(FIXTURES / "reference" / "cdinet_official_seed0_256.pt", weights_only=True)
    official = keyed(0)
    assert load_weights(model, {f"module.{k}": v for k, v in official.items()}) == "official"  # DataParallel prefix
    rgb = torch.cat([ref["rgb"], ref["rgb"].flip(-1)])
    depth = torch.cat([ref["depth"], ref["depth"].flip(-1)])
    with torch.no_grad():
        ours = model(rgb, depth)
        functional = reference_forward(official, ref["rgb"], ref["depth"])
    assert ours.shape == (2, 1, 256, 256)
    assert (ours[:1] - ref["logits"]).abs().max().item() < 1e-4
    assert (ours[1:] - ref["logits"]).abs().max().item() > 1e-2  # the mirrored pair is another input
    assert (functional - ref["logits"]).abs().max().item() < 1e-4


def test_parameter_counts_match_release():
    counts = parameter_counts(CDINet())
    assert counts["total"] == 54_369_369
    assert counts["rgb_backbone"] == counts["depth_backbone"] == 14_714_688
    assert counts["rde"] == 225_860  # RDE x2
    assert counts["dse"] == 593_078  # DSE x3
    assert counts["top_conv"] == 2_359_808  # the release's conv_mid
    assert counts["decoder"] == 21_761_247  # DDR


def test_macs_at_256_match_release_figure(model):
    """docs/cdinet.md "Parameters and compute": about 95.9 GMACs (191.8 GFLOPs) per 256x256 image, of which the semantic
    blocks' 1x1 reductions run on the concatenation at the skip's resolution. Ours reduce each
    higher skip at its own resolution (models/cdinet/decoder.py, the same function): the difference,
    counted here from the layer shapes, is the only one."""
    skips = [(64, 256), (128, 128), (256, 64), (512, 32), (512, 16)]  # (channels, side) of f1..f5

    def reduction_macs(level: int, at_own_resolution: bool) -> int:
        out_channels, side = skips[level - 1]
        higher = skips[level:]
        return sum(c * out_channels * (s * s if at_own_resolution else side * side) for c, s in higher)

    saved = sum(reduction_macs(level, False) - reduction_macs(level, True) for level in (1, 2, 3, 4))
    assert (count_macs(model, 256) + saved) / 1e9 == pytest.approx(95.9, abs=0.05)


def test_backbone_feature_info_matches_outputs():
    backbone = VGG16Features()
    features = backbone(torch.zeros(1, 3, 32, 48))
    assert [f.shape[1] for f in features] == [info["num_chs"] for info in backbone.feature_info]
    assert [32 // f.shape[2] for f in features] == [info["reduction"] for info in backbone.feature_info]
    assert [48 // f.shape[3] for f in features] == [1, 2, 4, 8, 16]
    pools = [type(m).__name__ for m in backbone.modules() if "Pool" in type(m).__name__]
    assert pools == ["AvgPool2d"] * 4  # the release pools with averages, not maxima


@pytest.mark.parametrize(
    "rgb_shape,depth_shape,message",
    [
        ((1, 3, 40, 64), (1, 1, 40, 64), "multiples of 16"),
        ((1, 3, 64, 64), (1, 3, 64, 64), r"depth must have shape \(B, 1, H, W\)"),
        ((1, 1, 64, 64), (1, 1, 64, 64), r"rgb must have shape \(B, 3, H, W\)"),
        ((1, 3, 64, 64), (1, 1, 32, 32), "differ in batch or size"),
    ],
)
def test_bad_inputs_raise_clear_errors(model, rgb_shape, depth_shape, message):
    with pytest.raises(InputShapeError, match=message):
        model(torch.zeros(rgb_shape), torch.zeros(depth_shape))


def _random_project_state(seed=0):
    torch.manual_seed(seed)
    return CDINet().state_dict()


def test_own_checkpoint_round_trip(tmp_path):
    source = CDINet()
    full = {"model": source.state_dict(), "optimizer": {"state": {}}, "epoch": 3, "config": {"lr": 1e-4}}
    torch.save(full, tmp_path / "full.pth")
    torch.save(source.state_dict(), tmp_path / "weights.pth")
    for name in ("full.pth", "weights.pth"):
        target = CDINet()
        assert load_weights(target, tmp_path / name) == "project"
        for key, value in source.state_dict().items():
            assert torch.equal(value, target.state_dict()[key]), key


def test_official_layout_file_with_module_prefix_loads(tmp_path, keyed):
    official = keyed(3)
    torch.save({f"module.{k}": v for k, v in official.items()}, tmp_path / "CDINet.pth")
    model = CDINet()
    assert load_weights(model, str(tmp_path / "CDINet.pth")) == "official"
    assert torch.equal(model.decoder.sem4.reduce[0].weight, official["ddr.c1.0.basicconv.0.weight"])
    assert torch.equal(model.rgb_backbone.stage3.conv2.bias, official["vgg_r.conv3.conv3_2.bias"])
    assert torch.equal(model.dse5.depth_channel.fc[2].weight, official["dse_layer5.ca2.fc.2.weight"])


def test_missing_unexpected_and_misshaped_keys_are_named(keyed):
    official = keyed(0)
    broken = dict(official)
    del broken["ddr.conv_map.bias"]
    broken["ddr.extra.weight"] = torch.zeros(1)
    broken["conv_mid.weight"] = torch.zeros(512, 256, 3, 3)
    with pytest.raises(WeightsError) as info:
        load_weights(CDINet(), broken)
    message = str(info.value)
    assert "missing keys: decoder.head.bias" in message
    assert "unexpected keys: ddr.extra.weight" in message
    assert "top_conv.weight (512, 256, 3, 3) vs model (512, 512, 3, 3)" in message


def test_project_layout_missing_key_is_named():
    state = _random_project_state()
    del state["rde2.gate.1.weight"]
    with pytest.raises(WeightsError, match=re.escape("missing keys: rde2.gate.1.weight")):
        load_weights(CDINet(), state)


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_malicious_pickle_is_refused(tmp_path, capsys):
    torch.save({"model": _Payload()}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match="evil.pth holds Python objects .* refused: loading it could run code"):
        load_weights(CDINet(), tmp_path / "evil.pth")
    assert "this must never run" not in capsys.readouterr().out


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_bytes(p.read_bytes()[:4000]), "is not a PyTorch checkpoint or is truncated"),
    (lambda p: p.write_text("release notes"), "is not a PyTorch checkpoint or is truncated"),
    (lambda p: (p.unlink(), p.mkdir()), "is a directory, not a weights file"),
])
def test_unloadable_files_say_what_is_wrong(tmp_path, make, words):
    """Not every unloadable file is a security refusal: truncated, foreign and folder paths
    each get their own one-line reason."""
    path = tmp_path / "w.pth"
    torch.save(CDINet().rde1.state_dict(), path)
    make(path)
    with pytest.raises(WeightsError, match=words) as info:
        load_weights(CDINet(), path)
    assert "refused" not in str(info.value) and "\n" not in str(info.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(WeightsError, match="weights file not found: .*nope.pth"):
        load_weights(CDINet(), tmp_path / "nope.pth")


def _assert_backbones_equal_torchvision(model, vgg_state):
    for backbone in (model.rgb_backbone, model.depth_backbone):
        assert torch.equal(backbone.stage1.conv1.weight, vgg_state["features.0.weight"])
        assert torch.equal(backbone.stage3.conv3.bias, vgg_state["features.14.bias"])
        assert torch.equal(backbone.stage5.conv3.weight, vgg_state["features.28.weight"])


@pytest.fixture(scope="module")
def torchvision_vgg16(tmp_path_factory):
    """A torchvision VGG16 state dict (random weights, classifier included: 528 MB) saved once
    for the tests that load such a file, and the state dict itself."""
    state = torchvision.models.vgg16().state_dict()
    path = tmp_path_factory.mktemp("torchvision") / "vgg16.pth"
    torch.save(state, path)
    return path, state


def test_backbone_from_torchvision_vgg16_file(torchvision_vgg16):
    path, vgg_state = torchvision_vgg16
    _assert_backbones_equal_torchvision(new_cdinet(weights=path), vgg_state)


def test_backbone_file_that_is_not_vgg16_is_refused(tmp_path):
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "resnet18.pth")
    with pytest.raises(WeightsError, match="not a torchvision VGG16 state dict: missing features.0.weight"):
        new_cdinet(weights=tmp_path / "resnet18.pth")


def test_imagenet_backbone_uses_torchvision_cache(torchvision_vgg16, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    cached = weights_module.imagenet_cache_path(BACKBONES["vgg16"].imagenet_weights)
    assert cached.name == "vgg16-397923af.pth"  # torchvision's VGG16_Weights.IMAGENET1K_V1 file
    cached.parent.mkdir(parents=True)
    path, vgg_state = torchvision_vgg16
    cached.symlink_to(path)
    _assert_backbones_equal_torchvision(new_cdinet(weights="imagenet"), vgg_state)


def test_imagenet_backbone_offline_fails_with_one_message(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(url, dst, progress=True):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsError) as info:
        new_cdinet(weights="imagenet")
    message = str(info.value)
    assert str(tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth") in message
    assert "backbone path" in message and "--set model.backbone.weights=none" in message and "\n" not in message


def test_untouched_backbone_with_none(monkeypatch):
    """``weights: none`` reads and downloads nothing: the streams keep PyTorch's default Conv2d
    initialisation (``reset_parameters``: kaiming_uniform_ with a = sqrt(5), i.e. U(-b, b) with
    b = 1 / sqrt(fan_in)), which ImageNet weights (first-layer values near +-0.7) are far from."""
    def refuse(*args, **kwargs):
        raise AssertionError("weights: none must read no weights file")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    torch.manual_seed(0)
    model = new_cdinet(weights="none")
    for backbone in (model.rgb_backbone, model.depth_backbone):
        for conv in (backbone.stage1.conv1, backbone.stage5.conv3):
            fan_in = conv.weight[0].numel()
            bound = 1 / fan_in ** 0.5
            assert conv.weight.abs().max().item() <= bound and conv.bias.abs().max().item() <= bound
            # the standard deviation of U(-b, b) is b / sqrt(3)
            assert conv.weight.std().item() == pytest.approx(bound / 3 ** 0.5, rel=0.1)


def test_backbone_file_given_as_a_full_model_says_so(torchvision_vgg16, model):
    with pytest.raises(WeightsError,
                       match="is a torchvision backbone file, not a full model: .*model.backbone.weights="):
        load_weights(model, torchvision_vgg16[0])


def test_misspelt_backbone_lists_the_valid_values():
    with pytest.raises(WeightsError, match="model.backbone.weights 'imagnet' is none of: imagenet, none, or the path"):
        new_cdinet(weights="imagnet")


def test_a_folder_as_backbone_weights_is_refused_as_a_misspelling_is(tmp_path):
    """Only an existing file is a path of start weights (as for BBS-Net and train.py's check)."""
    with pytest.raises(WeightsError, match=r"model.backbone.weights '.*' is none of: imagenet, none, or the path of "
                                           r"an existing torchvision VGG16 state-dict file"):
        new_cdinet(weights=tmp_path)
