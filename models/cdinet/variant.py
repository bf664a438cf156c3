"""Which of CDINet's three ideas a model uses: our ablation switches (not the paper's table).

The paper's own ablation study could not be read for this project, so these are definitions of
this project, documented in docs/cdinet.md "Ablation switches":

- ``rde=False``: no RGB-induced detail enhancement. The depth stream goes on unchanged at
  levels 1-2; the decoder skips 1-2 are ``fuse(F_r, F_d)``.
- ``dse=False``: no depth-induced semantic enhancement. The RGB stream goes on unchanged at
  levels 3-5 and the depth stream from its own features; skips 3-4 and the input of the top
  conv are ``fuse(F_r, F_d)``.
- ``ddr=False``: plain U-Net skips in the decoder (the skip feature itself at each level, no
  semantic blocks); the decoder's widths are unchanged.
- ``fusion``: how ``fuse`` joins the two modalities where a switch is off: ``concat`` (ReLU of a
  1x1 conv over the concatenation, 2c -> c) or ``add`` (F_r + F_d, no parameters).

All on is the release's CDINet, layer for layer and key for key.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from utils.options import Section, option


@dataclass(frozen=True)
class ModelVariant(Section):
    """``model.modules``: the ablation switches (ours); all on is the release. fusion: how the
    two streams are joined where a switch is off."""

    key = "model.modules"
    rde: bool = option(True)
    dse: bool = option(True)
    ddr: bool = option(True)
    fusion: str = option("concat", choices=("concat", "add"))

    @classmethod
    def coerce(cls, values: Any, where: str) -> Any:
        return {} if values is None else values  # None: the release

    @property
    def is_release(self) -> bool:
        return self.rde and self.dse and self.ddr

    def describe(self) -> str:
        """E.g. ``all modules on`` or ``RDE off, DDR off, fusion concat``."""
        if self.is_release:
            return "all modules on"
        off = [name.upper() for name in ("rde", "dse", "ddr") if not getattr(self, name)]
        fusion = f", fusion {self.fusion}" if not (self.rde and self.dse) else ""
        return ", ".join(f"{name} off" for name in off) + fusion
