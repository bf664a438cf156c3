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
