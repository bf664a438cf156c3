"""test.py's CPU backends on JL-DCF: PyTorch (channels_last or not), onnxruntime and Winograd each
write maps within 1 gray level of the maps the authors' ``Solver.test`` wrote with the same keyed
seed-0 weights (tests/fixtures/reference/jldcf/jldcf_release_maps_seed0).

JL-DCF concatenates the RGB and depth batches and splits the result in halves with ``chunk(2)``;
``torch.export`` guards on how many pieces ``chunk`` gives and so fixed the batch of the ONNX
export to the example's 2, which onnxruntime then refused at batch 1. ``models.export``'s
``ExactChunks`` turns such a ``chunk`` into equal slices while exporting, and an export whose
batch still came out fixed is an error (the fast tests below, on tiny modules of the same shape).
"""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from models.export import EXPORT_FORMAT, OnnxRuntimeModel, cached_onnx, export_onnx, load_cached
from models.spec import InputSpec
from tests.helpers import FIXTURES, assert_maps_match, load_test_script
from tests.keyed_weights import jldcf_official_state_dict
from utils.errors import WeightsError

RELEASE_MAPS = FIXTURES / "reference" / "jldcf" / "jldcf_release_maps_seed0"
test_script = load_test_script()


class PairSplit(nn.Module):
    """JL-DCF's batch handling in small: one convolution over ``cat((rgb, depth))``, the halves
    fused as ``r + d + r * d``. ``halves``: split as JL-DCF does (``chunk(2)``); else into pieces
    of 2 (``split(2)``), whose count is the batch: no export can keep that batch dynamic."""

    input_spec = InputSpec(size=32, multiple=16, depth_channels=3)

    def __init__(self, halves: bool = True):
        super().__init__()
        self.conv, self.halves = nn.Conv2d(3, 4, 3, padding=1), halves

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        x = self.conv(torch.cat((rgb, depth), dim=0))
        r, d = x.chunk(2, dim=0) if self.halves else x.split(2)
        return (r + d + r * d).sum(dim=1, keepdim=True)


def test_an_rgb_d_batch_split_in_halves_exports_with_a_dynamic_batch(tmp_path):
    torch.manual_seed(0)
    model = PairSplit().eval()
    export_onnx(model, tmp_path / "m.onnx", 32)
    runtime = OnnxRuntimeModel(tmp_path / "m.onnx")
    assert runtime.dynamic_batch
    for batch, height, width in ((1, 32, 32), (3, 48, 32)):
        rgb, depth = torch.randn(batch, 3, height, width), torch.randn(batch, 3, height, width)
        with torch.no_grad():
            torch.testing.assert_close(runtime(rgb, depth), model(rgb, depth), rtol=1e-5, atol=1e-5)


def test_an_export_that_fixes_the_batch_is_an_error_and_a_cached_one_is_not_reused(tmp_path):
    checkpoint = tmp_path / "w.pth"
    torch.save({}, checkpoint)
    with pytest.raises(WeightsError, match="fixed the batch size of rgb, depth to 2.*use --backend torch"):
        cached_onnx(checkpoint, PairSplit(halves=False).eval(), 32, digest="0" * 64)
    assert not list(tmp_path.glob("*.onnx"))
    # A file of the right checkpoint and format but a fixed batch (JL-DCF's, exported before).
    program = torch.onnx.export(PairSplit().eval(), (torch.zeros(2, 3, 32, 32), torch.zeros(2, 3, 32, 32)), None,
                                input_names=["rgb", "depth"], output_names=["logits"], dynamo=True, verbose=False)
    program.model.metadata_props.update({"format": EXPORT_FORMAT, "checkpoint_sha256": "0" * 64})
    program.save(str(tmp_path / "fixed.onnx"), external_data=False)
    assert not OnnxRuntimeModel(tmp_path / "fixed.onnx").dynamic_batch
    assert load_cached(tmp_path / "fixed.onnx", "0" * 64) is None


@pytest.fixture(scope="module")
def authors_file(tmp_path_factory):
    """The keyed seed-0 weights as their solver saves a model: a bare ``state_dict``."""
    path = tmp_path_factory.mktemp("jldcf_backends") / "JLDCF.pth"
    torch.save(jldcf_official_state_dict(0), path)
    return path


@pytest.mark.slow  # ResNet-101 at 320 on five images per backend (and one ONNX export, about 35 s)
@pytest.mark.parametrize("flags", [("--backend", "torch", "--channels-last"),
                                   ("--backend", "torch", "--no-channels-last"),
                                   ("--backend", "onnxruntime", "--batch-size", "2"),  # batches of 2, 2, 1
                                   ("--backend", "winograd")], ids=["torch-cl", "torch", "onnxruntime", "winograd"])
def test_each_cpu_backend_writes_the_authors_maps(authors_file, tmp_path, flags):
    out = tmp_path / "maps"
    argv = ["--checkpoint", authors_file, "--data-root", FIXTURES / "rgbd", "--datasets", "DES", "--out", out,
            "--device", "cpu", "--workers", 0, "--onnx-cache", tmp_path / "onnx", *flags]
    assert test_script.main(test_script.get_args_parser().parse_args([str(a) for a in argv])) == 0
    assert_maps_match(out / "DES", RELEASE_MAPS)  # the five DES maps, each pixel within 1 gray level
    settings = json.loads((out / "test_info.json").read_text())["datasets"]["DES"]["settings"]
    assert settings["backend"] == flags[1] and settings["model"]["name"] == "jldcf"
