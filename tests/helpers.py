"""Small helpers shared by the test modules (expected values come from outside the project: the
constants here are the release's, written out, not read from its code)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

from models import create_model

# The release's torchvision Normalize values (CDINet's dataLoader.py): ImageNet mean/std for RGB,
# 0.485 / 0.229 for depth.
RGB_MEAN, RGB_STD, DEPTH_MEAN, DEPTH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 0.485, 0.229


def unnormalise(rgb: torch.Tensor, depth: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """A sample's normalised RGB (3, H, W) and depth (1, H, W) back in [0, 1]: (H, W, 3), (H, W)."""
    rgb = rgb.numpy().transpose(1, 2, 0) * np.array(RGB_STD) + np.array(RGB_MEAN)
    return rgb, depth[0].numpy() * DEPTH_STD + DEPTH_MEAN


def new_cdinet(backbone: str = "vgg16", weights: Union[str, Path, None] = None,
               variant: Optional[Dict[str, Any]] = None):
    """``create_model("cdinet", ...)`` with the streams from ``weights`` (``imagenet``, a
    torchvision file, ``none``; None: random init) and the ablation switches ``variant``."""
    modules = variant.to_dict() if hasattr(variant, "to_dict") else dict(variant or {})
    return create_model("cdinet", pretrained=weights is not None,
                        backbone={"name": backbone, "weights": str(weights) if weights is not None else "none"},
                        modules=modules)


def assert_maps_match(out: Path, reference: Path, shape: tuple = (480, 640)) -> None:
    """The maps in ``out`` are the reference maps (the authors' test script's), file for file,
    each pixel within 1 gray level."""
    import cv2

    names = sorted(p.name for p in reference.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names and names
    for name in names:
        theirs = cv2.imread(str(reference / name), cv2.IMREAD_UNCHANGED).astype(int)
        ours = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED).astype(int)
        assert ours.shape == theirs.shape == shape
        assert np.abs(ours - theirs).max() <= 1, name


# Paths of the repository and of the fixtures every test reads (tests/fixtures/SOURCES.md), and the
# release's maps of the keyed seed-0 weights (the authors' test script's output).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
RGBD = FIXTURES / "rgbd"
RELEASE_MAPS = FIXTURES / "reference" / "release_maps_seed0" / "DES"


def load_test_script():
    """test.py as a module (its name clashes with pytest's idea of a test file)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("test_script", PROJECT_ROOT / "test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_test_py(checkpoint: Path, data_root: Path, out: Path, *extra) -> dict:
    """test.py on PyTorch with ``extra`` flags; its test_info.json records by dataset."""
    import json

    script = load_test_script()
    argv = ["--checkpoint", checkpoint, "--data-root", data_root, "--out", out, "--backend", "torch", *extra]
    assert script.main(script.get_args_parser().parse_args([str(a) for a in argv])) == 0
    return json.loads((out / "test_info.json").read_text())["datasets"]
