"""Winograd convolution (models/winograd.py) computes the convolution and the authors' maps.

References are never the Winograd code itself: ``F.conv2d`` in float64 for single layers, the
maps the authors' own code wrote (tests/fixtures/reference/release_maps_seed0) for the model.
"""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inference import Predictor
from models import model_from_checkpoint
from models.cdinet import CDINet
from models.winograd import WinogradConv2d, convert_to_winograd, replace_convs
from tests.helpers import FIXTURES, RELEASE_MAPS, load_test_script

test_script = load_test_script()
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


def release_map_difference(folder: Path) -> int:
    """The largest gray-level difference of the maps in ``folder`` from the authors' maps."""
    expected = sorted(p.name for p in RELEASE_MAPS.iterdir())
    assert sorted(p.name for p in folder.iterdir()) == expected and len(expected) == 5
    worst = 0
    for name in expected:
        release = cv2.imread(str(RELEASE_MAPS / name), cv2.IMREAD_UNCHANGED).astype(int)
        ours = cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED).astype(int)
        assert ours.shape == release.shape == (480, 640)
        worst = max(worst, int(np.abs(ours - release).max()))
    return worst


@pytest.mark.parametrize("batch_size", [pytest.param(1, marks=pytest.mark.slow), 4])
def test_winograd_backend_reproduces_the_authors_maps(official_checkpoint, tmp_path, batch_size):
    """``test.py --backend winograd`` (release pixel path, PNG writing; F(4x4, 3x3) on the layers
    of >= 128 channels): every pixel within 1 gray level of the authors' maps."""
    out = tmp_path / "maps"
    argv = ["--checkpoint", official_checkpoint, "--data-root", FIXTURES / "rgbd", "--datasets", "DES", "--out", out,
            "--device", "cpu", "--batch-size", batch_size, "--backend", "winograd"]
    assert test_script.main(test_script.get_args_parser().parse_args([str(a) for a in argv])) == 0
    assert release_map_difference(out / "DES") <= 1
    settings = json.loads((out / "test_info.json").read_text())["datasets"]["DES"]["settings"]
    assert settings["backend"] == "winograd" and settings["channels_last"] is True
    assert settings["winograd"] == "F(4x4, 3x3) on 35 of 63 Conv2d layers converted (those of >= 128 channels)"


@pytest.mark.slow
def test_every_eligible_layer_converted_reproduces_the_authors_maps(official_checkpoint, tmp_path):
    """All 53 3x3 layers in Winograd form, contiguous memory, through the Predictor's own path."""
    model, report = convert_to_winograd(model_from_checkpoint(official_checkpoint)[0], 4, min_channels=1)
    assert len(report.converted) == 53 and sum(isinstance(m, WinogradConv2d) for m in model.modules()) == 53
    predictor = Predictor(model, device="cpu", backend="torch", channels_last=False)
    rgb = sorted((FIXTURES / "rgbd" / "DES" / "RGB").iterdir())
    depth = [FIXTURES / "rgbd" / "DES" / "depth" / f"{p.stem}.bmp" for p in rgb]
    (tmp_path / "DES").mkdir()
    for path, saliency in zip(rgb, predictor.predict(rgb, depth)):
        cv2.imwrite(str(tmp_path / "DES" / f"{path.stem}.png"), saliency)
    assert release_map_difference(tmp_path / "DES") <= 1
