"""The interface every backbone stream has: five stages ``stage1..stage5``, called one by one."""
from __future__ import annotations

from typing import List

import torch
from torch import nn


class FiveStages(nn.Module):
    """Base of the backbones: ``stage1..stage5`` sub-modules and their ``feature_info``
    (``num_chs``, ``reduction``, ``module`` per stage, as timm's)."""

    @property
    def stages(self) -> List[nn.Module]:
        return [getattr(self, f"stage{i}") for i in range(1, 6)]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The five stage outputs (used by tests; CDINet calls the stages one by one)."""
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
