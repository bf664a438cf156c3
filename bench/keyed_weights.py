"""Deterministic "keyed" weights, rebuilt from key names and shapes alone.

Written here from the way the fixtures' weights were drawn (docs/development.md "Keyed
weights"), so the suite and the benchmarks need nothing beside the repository: each tensor is drawn
from a ``torch.Generator`` seeded with the first 8 bytes (little-endian) of
``sha256(f"{seed}:{key}")``, as ``torch.randn(shape)``, scaled by ``sqrt(2 / fan_in)``
(fan_in = product of ``shape[1:]``) for tensors of two or more dimensions and by 0.05 for 1-D
ones. With seed 0 these are the weights behind ``tests/fixtures/reference/cdinet_official_seed0_256.pt``
and ``tests/fixtures/reference/release_maps_seed0/``.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
OFFICIAL_KEYS = FIXTURES / "reference" / "cdinet_official_keys.tsv"


def official_shapes(path: Path = OFFICIAL_KEYS) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` from the tab-separated key list (``key<TAB>AxBxC``)."""
    shapes = {}
    for line in Path(path).read_text().splitlines():
        key, _, shape = line.partition("\t")
        shapes[key] = tuple(int(d) for d in shape.split("x")) if shape else ()
    return shapes


def keyed_tensor(key: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))
    values = torch.randn(shape, generator=generator)
    if len(shape) >= 2:
        return values * math.sqrt(2.0 / math.prod(shape[1:]))
    return values * 0.05


def keyed_official_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """The authors' ``state_dict`` layout filled with keyed weights of ``seed``."""
    return {key: keyed_tensor(key, shape, seed) for key, shape in official_shapes().items()}
