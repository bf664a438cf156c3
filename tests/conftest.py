"""Shared pytest fixtures and paths.

Every file the suite reads ships in ``tests/fixtures`` (provenance in its SOURCES.md), so a
clone runs every test with nothing beside it.
"""
import importlib.util
from pathlib import Path

import pytest
import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
RGBD = FIXTURES / "rgbd"
RELEASE_MAPS = FIXTURES / "reference" / "release_maps_seed0" / "DES"


def load_test_script():
    """test.py as a module (its name clashes with pytest's idea of a test file)."""
    spec = importlib.util.spec_from_file_location("test_script", PROJECT_ROOT / "test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def official_checkpoint(tmp_path_factory) -> Path:
    """Keyed seed-0 weights in the authors' layout, saved as DataParallel would (``module.``):
    the weights behind the authors' logits and maps in tests/fixtures/reference. One file per
    session, so its ONNX export (cached beside it) is made once."""
    from bench.keyed_weights import keyed_official_state_dict

    path = tmp_path_factory.mktemp("official") / "CDINet.pth"
    torch.save({f"module.{k}": v for k, v in keyed_official_state_dict(0).items()}, path)
    return path
