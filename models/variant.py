"""Which of CDINet's three ideas a model uses: our ablation switches (not the paper's table).

The paper's own ablation study could not be read here (CDINET.md), so these are definitions of
this project, documented in README "Ablations and backbones":

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

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict

from utils.errors import ConfigError

FUSIONS = ("concat", "add")


@dataclass(frozen=True)
class ModelVariant:
    rde: bool = True
    dse: bool = True
    ddr: bool = True
    fusion: str = "concat"

    def __post_init__(self) -> None:
        for name in ("rde", "dse", "ddr"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"model.modules.{name} must be true or false, got {getattr(self, name)!r}")
        if self.fusion not in FUSIONS:
            raise ConfigError(f"model.modules.fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")

    @classmethod
    def from_dict(cls, values: Dict[str, Any] | None) -> "ModelVariant":
        values = dict(values or {})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown model.modules key(s): {', '.join(sorted(unknown))}")
        return cls(**values)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

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
