"""Deterministic "keyed" weights, rebuilt from key names and shapes alone.

Written here from the way the fixtures' weights were drawn (docs/development.md "Keyed
weights"), so the suite and the benchmarks need nothing beside the repository: each tensor is drawn
from a ``torch.Generator`` seeded with the first 8 bytes (little-endian) of
``sha256(f"{seed}:{key}")``, as ``torch.randn(shape)``, scaled by ``sqrt(2 / fan_in)``
(fan_in = product of ``shape[1:]``) for tensors of two or more dimensions and by 0.05 for 1-D
ones. With seed 0 these are the weights behind ``tests/fixtures/reference/cdinet_official_seed0_256.pt``
and ``tests/fixtures/reference/release_maps_seed0/``.

Models with BatchNorm (BBS-Net's ResNet-50 streams) use :func:`keyed_state_dict_bn`: the same
draws, moved for each BatchNorm layer to statistics and affine terms near the identity, so a deep
stack stays finite and its maps depend on the input. With seed 0 these are the weights behind
``tests/fixtures/reference/bbsnet/`` (and, with gain 0.8, ``tests/fixtures/reference/jldcf/``).
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
OFFICIAL_KEYS = FIXTURES / "reference" / "cdinet_official_keys.tsv"
BBSNET_KEYS = FIXTURES / "reference" / "bbsnet" / "bbsnet_official_keys.tsv"
JLDCF_KEYS = FIXTURES / "reference" / "jldcf" / "jldcf_official_keys.tsv"


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


def keyed_state_dict_bn(shapes: dict[str, tuple[int, ...]], seed: int, gain: float = 1.0) -> dict[str, torch.Tensor]:
    """Keyed weights for a layout with BatchNorm layers.

    A BatchNorm layer ``X`` is one with a key ``X.running_var``; with ``t = keyed_tensor(key)``
    its ``X.running_var`` is ``1 + |t|``, ``X.weight`` is ``0.8 + t``, ``X.bias`` and
    ``X.running_mean`` are ``0.2 * t``, and every ``*.num_batches_tracked`` is ``tensor(0)``
    (int64). Every other key is ``keyed_tensor(key)``. Last, each tensor of two or more
    dimensions is multiplied by ``gain`` (1 leaves them as drawn).
    """
    layers = {key[: -len(".running_var")] for key in shapes if key.endswith(".running_var")}
    state = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0, dtype=torch.long)
            continue
        values = keyed_tensor(key, shape, seed)
        layer, _, name = key.rpartition(".")
        if layer in layers:
            if name == "running_var":
                values = 1.0 + values.abs()
            elif name == "weight":
                values = 0.8 + values
            elif name in ("bias", "running_mean"):
                values = 0.2 * values
        state[key] = values * gain if values.dim() >= 2 else values
    return state


def bbsnet_official_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """BBS-Net's release layout (``bbsnet_official_keys.tsv``) filled by :func:`keyed_state_dict_bn`."""
    return keyed_state_dict_bn(official_shapes(BBSNET_KEYS), seed)


def jldcf_official_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """JL-DCF's release layout (``jldcf_official_keys.tsv``, ResNet-101) filled by
    :func:`keyed_state_dict_bn` with gain 0.8 (the weights behind ``tests/fixtures/reference/jldcf/``)."""
    return keyed_state_dict_bn(official_shapes(JLDCF_KEYS), seed, gain=0.8)
