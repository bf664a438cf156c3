"""JL-DCF computes what its authors' release computes: their keys, their two outputs, pair by pair.

References (tests/fixtures/reference/jldcf/, provenance in tests/fixtures/SOURCES.md): the key
list of their ``build_model('resnet101', 'resnet').state_dict()`` and their model's two outputs
on seeded random inputs (``torch.cat([rgb, depth], 0)``, as their solver feeds it) with keyed seed-0
weights (``bench/keyed_weights.py``, ``keyed_state_dict_bn``, gain 0.8).
"""
from __future__ import annotations

import pytest
import torch

from bench.keyed_weights import keyed_state_dict_bn, official_shapes
from models.jldcf import JLDCF
from tests.conftest import FIXTURES
from utils.errors import InputShapeError

REFERENCE = FIXTURES / "reference" / "jldcf"
KEYS = REFERENCE / "jldcf_official_keys.tsv"


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
