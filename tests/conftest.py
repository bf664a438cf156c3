"""Shared pytest fixtures and paths.

Every file the suite reads ships in ``tests/fixtures`` (provenance in its SOURCES.md), so a
clone runs every test with nothing beside it.
"""
import utils.cpu_threads  # noqa: F401  (before torch: OpenMP's wait policy, as in train.py)

# isort: split
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


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory) -> Path:
    """A VGG16 CDINet of ours trained at 64x64 (random seed-0 weights): test.py runs it at 64."""
    from models.cdinet import CDINet
    from utils.checkpoint import weights_export

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "w.pth"
    torch.save(weights_export(CDINet().state_dict(), {"data": {"augment": {"size": 64}}}), path)
    return path


def run_test_py(checkpoint: Path, data_root: Path, out: Path, *extra) -> dict:
    """test.py on PyTorch with ``extra`` flags; its test_info.json records by dataset."""
    import json

    script = load_test_script()
    argv = ["--checkpoint", checkpoint, "--data-root", data_root, "--out", out, "--backend", "torch", *extra]
    assert script.main(script.get_args_parser().parse_args([str(a) for a in argv])) == 0
    return json.loads((out / "test_info.json").read_text())["datasets"]


@pytest.fixture
def registered():
    """Models registered by a test, removed again afterwards."""
    from models.registry import _REGISTRY

    before = set(_REGISTRY)
    yield
    for name in set(_REGISTRY) - before:
        del _REGISTRY[name]
