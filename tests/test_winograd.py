"""Winograd convolution (models/winograd.py) computes the convolution and the authors' maps.

References are never the Winograd code itself: ``F.conv2d`` in float64 for single layers, the
maps the authors' own code wrote (tests/fixtures/reference/release_maps_seed0) for the model.
"""
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models import CDINet
from models.winograd import WinogradConv2d, convert_to_winograd, replace_convs
from tests.conftest import FIXTURES
from tests.keyed_weights import keyed_official_state_dict

ROOT = Path(__file__).resolve().parents[1]
RELEASE_MAPS = FIXTURES / "reference" / "release_maps_seed0" / "DES"
# Max |Winograd fp32 - F.conv2d float64| relative to S = conv2d(|x|, |w|) + |b| (the size of the
# terms summed, which bounds any fp32 rounding error of a dot product). Rounding is amplified by
# the transforms' coefficients, which grow with m (Lavin & Gray 2016, Sec. 5): measured on
# shapes like those below up to 1.5e-7 (F2, like direct fp32), 3e-6 (F4) and 8e-6 (F6); the
# tolerances are 6-9x that. A tile, padding, crop or transform error is of order 1 relative to S.
TOLERANCE = {2: 1e-6, 4: 2e-5, 6: 5e-5}
# The last shape runs in 4, 2 and 2 blocks of tile rows for m = 2, 4, 6 (BLOCK_FLOATS), the last one partial.
SHAPES = [((1, 5, 13, 17), 7), ((3, 64, 31, 40), 32), ((2, 128, 69, 51), 16)]


def random_conv(in_channels: int, out_channels: int, bias: bool, seed: int) -> nn.Conv2d:
    torch.manual_seed(seed)
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)


@pytest.mark.parametrize("m", [2, 4, 6])
@pytest.mark.parametrize("shape, out_channels", SHAPES)
def test_matches_conv2d_on_odd_sizes(m, shape, out_channels):
    conv = random_conv(shape[1], out_channels, bias=True, seed=m)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    weight, bias = conv.weight.detach().double(), conv.bias.detach().double()
    expected = F.conv2d(x, weight, bias, padding=1)
    scale = F.conv2d(x.abs(), weight.abs(), bias.abs(), padding=1)
    winograd = WinogradConv2d(conv, m)
    for memory_format in (torch.contiguous_format, torch.channels_last):
        with torch.no_grad():
            out = winograd(x.float().contiguous(memory_format=memory_format))
        assert out.shape == expected.shape and out.dtype == torch.float32
        assert out.is_contiguous(memory_format=memory_format)
        assert ((out.double() - expected).abs() / scale).max().item() < TOLERANCE[m]


def test_without_bias():
    conv = random_conv(16, 4, bias=False, seed=0)
    x = torch.randn(2, 16, 9, 11, dtype=torch.float64)
    expected = F.conv2d(x, conv.weight.detach().double(), padding=1)
    with torch.no_grad():
        out = WinogradConv2d(conv, 4)(x.float()).double()
    assert (out - expected).abs().max().item() < 1e-4 * expected.abs().max().item()


def test_converter_leaves_other_convolutions_alone():
    """CDINet has 63 Conv2d modules: 53 3x3 stride-1 ones (2 x 13 VGG, 13 decoder, 4 semantic
    refine, top_conv, head, 2 RDE fuse, 6 DSE spatial attention) and 10 others (2 RDE 1x1,
    4 semantic-block 1x1, 4 RDE gate 7x7); 35 of the 53 have at least 128 input and output channels."""
    model = CDINet().eval()
    converted, report = convert_to_winograd(model, 2, min_channels=1)
    kinds = [type(m) for m in converted.modules()]
    assert kinds.count(WinogradConv2d) == len(report.converted) == 53
    kept = [m for m in converted.modules() if isinstance(m, nn.Conv2d)]
    assert len(kept) == len(report.kept) == 10
    assert sorted(m.kernel_size for m in kept) == [(1, 1)] * 6 + [(7, 7)] * 4
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 63  # a copy: the model is unchanged
    wide = replace_convs(model, lambda conv: nn.Identity(), min_channels=128)[1].converted
    assert len(wide) == 35 and "decoder.dec1.0.0" not in wide and "decoder.dec2.0.0" in wide
    odd = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, stride=2),
                        nn.Conv2d(8, 8, 3, padding=2, dilation=2), nn.Conv2d(8, 8, 3, padding=1, groups=2),
                        nn.Conv2d(8, 8, 3, padding=0), nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect"))
    same, report = convert_to_winograd(odd, 2, min_channels=1, inplace=True)
    assert same is odd and report.converted == ["0"] and report.kept == ["1", "2", "3", "4", "5"]
    assert isinstance(odd[0], WinogradConv2d) and all(type(m) is nn.Conv2d for m in odd[1:])


@pytest.fixture(scope="module")
def official_checkpoint(tmp_path_factory):
    """Keyed seed-0 weights in the authors' layout (the weights behind the release maps)."""
    path = tmp_path_factory.mktemp("ckpt") / "CDINet.pth"
    torch.save(keyed_official_state_dict(0), path)
    return path


@pytest.fixture(scope="module")
def script():
    """test.py as a module (its pipeline, with ``build_runner`` to patch)."""
    spec = importlib.util.spec_from_file_location("test_script_winograd", ROOT / "test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("min_channels, batch_size, channels_last, converted", [(1, 1, True, 53), (128, 4, False, 35)])
def test_converted_model_reproduces_the_authors_maps(official_checkpoint, script, tmp_path, monkeypatch,
                                                     min_channels, batch_size, channels_last, converted):
    """test.py's pipeline (release pixel path, PNG writing) with the network's 3x3 convolutions
    in F(4x4, 3x3) Winograd form (all of them; the default, >= 128 channels): every pixel within
    1 gray level of the authors' maps."""
    runners = []

    def winograd_runner(model, args, backend):
        runners.append(convert_to_winograd(model, 4, min_channels, inplace=True)[0])
        return runners[-1], {}

    monkeypatch.setattr(script, "build_runner", winograd_runner)
    out = tmp_path / "maps"
    argv = ["--checkpoint", official_checkpoint, "--data-root", FIXTURES / "rgbd", "--datasets", "DES", "--out", out,
            "--device", "cpu", "--batch-size", batch_size, "--workers", 0, "--backend", "torch",
            "--channels-last" if channels_last else "--no-channels-last"]
    assert script.main(script.get_args_parser().parse_args([str(a) for a in argv])) == 0
    assert sum(isinstance(module, WinogradConv2d) for module in runners[0].modules()) == converted
    expected = sorted(p.name for p in RELEASE_MAPS.iterdir())
    assert sorted(p.name for p in (out / "DES").iterdir()) == expected and len(expected) == 5
    for name in expected:
        release = cv2.imread(str(RELEASE_MAPS / name), cv2.IMREAD_UNCHANGED).astype(int)
        ours = cv2.imread(str(out / "DES" / name), cv2.IMREAD_UNCHANGED).astype(int)
        assert ours.shape == release.shape == (480, 640)
        assert np.abs(ours - release).max() <= 1, name
