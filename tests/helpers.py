"""Small helpers shared by the test modules (no expected values here: those come from outside)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Union

from models import create_model


def new_cdinet(backbone: str = "vgg16", weights: Union[str, Path, None] = None,
               variant: Optional[Dict[str, Any]] = None):
    """``create_model("cdinet", ...)`` with the streams from ``weights`` (``imagenet``, a
    torchvision file, ``none``; None: random init) and the ablation switches ``variant``."""
    modules = variant.to_dict() if hasattr(variant, "to_dict") else dict(variant or {})
    return create_model("cdinet", pretrained=weights is not None,
                        backbone={"name": backbone, "weights": str(weights) if weights is not None else "none"},
                        modules=modules)
