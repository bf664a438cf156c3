"""Pytest fixtures and hooks only: the helpers and paths the test modules share live in
tests/helpers.py, imported from there (a test module imports neither conftest.py nor another
test module).

Every file the suite reads ships in ``tests/fixtures`` (provenance in its SOURCES.md), so a
clone runs every test with nothing beside it.
"""
import utils.cpu_threads  # noqa: F401  (before torch: OpenMP's wait policy, as in train.py)

# isort: split
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def official_checkpoint(tmp_path_factory) -> Path:
    """Keyed seed-0 weights in the authors' layout, saved as DataParallel would (``module.``):
    the weights behind the authors' logits and maps in tests/fixtures/reference. One file per
    session, so its ONNX export (cached beside it) is made once."""
    from tests.keyed_weights import keyed_official_state_dict

    path = tmp_path_factory.mktemp("official") / "CDINet.pth"
    torch.save({f"module.{k}": v for k, v in keyed_official_state_dict(0).items()}, path)
    return path


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory) -> Path:
    """A VGG16 CDINet of ours trained at 64x64 (random seed-0 weights): test.py runs it at 64."""
    from models.cdinet import CDINet
    from utils.checkpoint import weights_export

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "w.pth"
    torch.save(weights_export(CDINet().state_dict(), {"data": {"augment": {"size": 64}}}), path)
    return path


@pytest.fixture
def registered():
    """Models registered by a test, removed again afterwards."""
    from models.registry import _REGISTRY

    before = set(_REGISTRY)
    yield
    for name in set(_REGISTRY) - before:
        del _REGISTRY[name]
