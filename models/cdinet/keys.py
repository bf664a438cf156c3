"""The authors' checkpoint layout (``CDINet.pth``) and its mapping to this package's module names.

The release's top-level modules are ``vgg_r``, ``vgg_d``, ``rde_layer*``, ``dse_layer*``,
``conv_mid`` and ``ddr`` (tests/fixtures/reference/cdinet_official_keys.tsv); each rule below maps
one family of its keys to ours (docs/cdinet.md, "Encoder wiring").
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, Mapping, Tuple, Union

OFFICIAL_PREFIXES = ("vgg_r.", "vgg_d.", "rde_layer", "dse_layer", "conv_mid.", "ddr.")


def _semantic_block(match: re.Match) -> str:
    # The release numbers the decoder's semantic blocks c1..c4 from the deepest level (4) up.
    return f"decoder.sem{5 - int(match.group(1))}.{'reduce.0' if match.group(2) == '0.basicconv.0' else 'refine'}."


# (pattern, replacement) applied in order; the first pattern that matches a key wins.
OFFICIAL_KEY_RULES: List[Tuple[str, Union[str, Callable[[re.Match], str]]]] = [
    (r"^vgg_r\.conv(\d)\.conv\d_(\d)\.", r"rgb_backbone.stage\1.conv\2."),
    (r"^vgg_d\.conv(\d)\.conv\d_(\d)\.", r"depth_backbone.stage\1.conv\2."),
    (r"^rde_layer(\d)\.conv_pool\.(\d)\.", r"rde\1.fuse.\2."),
    (r"^rde_layer(\d)\.conv1\.", r"rde\1.gate.0."),
    (r"^rde_layer(\d)\.conv2\.", r"rde\1.gate.1."),
    (r"^dse_layer(\d)\.sa1\.conv1\.", r"dse\1.rgb_spatial.conv."),
    (r"^dse_layer(\d)\.sa2\.conv1\.", r"dse\1.depth_spatial.conv."),
    (r"^dse_layer(\d)\.ca1\.", r"dse\1.rgb_channel."),
    (r"^dse_layer(\d)\.ca2\.", r"dse\1.depth_channel."),
    (r"^conv_mid\.", "top_conv."),
    (r"^ddr\.conv(\d)\.(\d)\.basicconv\.0\.", r"decoder.dec\1.\2.0."),
    (r"^ddr\.c(\d)\.(0\.basicconv\.0|1)\.", _semantic_block),
    (r"^ddr\.conv_map\.", "decoder.head."),
]


def official_to_project_key(key: str) -> str:
    """Map one key of the authors' ``state_dict`` to this project's module names.

    Keys that no rule covers are returned unchanged (and then reported as unexpected).
    """
    for pattern, replacement in OFFICIAL_KEY_RULES:
        new_key, count = re.subn(pattern, replacement, key)
        if count:
            return new_key
    return key


def convert_official(state: Mapping[str, object]) -> Dict[str, object]:
    """The authors' state dict with this package's key names."""
    return {official_to_project_key(key): value for key, value in state.items()}
