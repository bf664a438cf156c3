"""YAML configs with ``_base_`` inheritance and checked ``--set key=value`` overrides.

A config file states only its differences from its ``_base_`` (a path relative to the file,
as CAVER's configs do). Everything is merged onto the schema file (``configs/cdinet.yaml``,
the release's recipe), which defines the keys that exist: an unknown key, in a file or on the
command line, is an error naming it, and an override must have the type of the value it
replaces (nanoGPT's configurator checks, without its ``exec``).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Iterable, List

import yaml

from .errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
SCHEMA_PATH = CONFIG_DIR / "cdinet.yaml"


def read_yaml_chain(path: Path, _seen: tuple = ()) -> Dict[str, Any]:
    """Read ``path`` and its ``_base_`` ancestors, merged (child wins)."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: _base_ chain loops back to itself")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    base = data.pop("_base_", None)
    if base is None:
        return data
    merged = read_yaml_chain(path.parent / base, _seen + (path,))
    merge_into(merged, data, schema=None, where=str(path))
    return merged


def merge_into(target: Dict[str, Any], update: Dict[str, Any], schema: Dict[str, Any] | None,
               where: str, prefix: str = "") -> None:
    """Deep-merge ``update`` into ``target``; with a schema, unknown keys are errors."""
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if schema is not None and key not in schema:
            raise ConfigError(f"{where}: unknown config key '{dotted}'")
        sub_schema = schema.get(key) if schema is not None else None
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_into(target[key], value, sub_schema if isinstance(sub_schema, dict) else None,
                       where, dotted + ".")
        else:
            target[key] = copy.deepcopy(value)


def coerce(value: Any, default: Any, key: str) -> Any:
    """Give an override the type of the value it replaces (ints and "2e-4" widen to floats)."""
    if default is None or value is None:
        return value
    if isinstance(default, bool) or key.endswith(".invert_depth"):
        if not isinstance(value, bool) and not (key.endswith(".invert_depth") and value == "auto"):
            expected = "true, false or auto" if key.endswith(".invert_depth") else "true or false"
            raise ConfigError(f"--set {key}: expected {expected}, got {value!r}")
        return value
    if isinstance(default, float) and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:  # YAML 1.1 reads "2e-4" (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if type(value) is not type(default):
        raise ConfigError(
            f"--set {key}: expected {type(default).__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def apply_overrides(config: Dict[str, Any], overrides: Iterable[str]) -> None:
    """Apply ``key.sub=value`` strings; values are parsed as YAML (``1e-4``, ``[a, b]``, ``null``).
    A list entry is addressed by its index: ``data.train.0.invert_depth=true``."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, text = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        node: Any = config
        for i, part in enumerate(parts[:-1]):
            node = _child(node, part, key, ".".join(parts[:i + 1]))
        last = parts[-1]
        if isinstance(node, list):
            _child(node, last, key, key)
            last = int(last)
        elif not isinstance(node, dict) or last not in node:
            raise ConfigError(f"--set {key}: unknown config key '{key}'")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: cannot parse value {text!r}") from None
        node[last] = coerce(value, node[last], key)


def _child(node: Any, part: str, key: str, where: str) -> Any:
    """``node[part]`` for a mapping key or a list index, with errors that say how to fix it."""
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise ConfigError(f"--set {key}: '{where}' must be an index 0..{len(node) - 1} of the list "
                              f"(or replace the whole list: --set {where.rsplit('.', 1)[0]}=[...])")
        return node[int(part)]
    if not isinstance(node, dict) or not isinstance(node.get(part), (dict, list)):
        raise ConfigError(f"--set {key}: unknown config key '{where}'")
    return node[part]


# Keys whose value must be one of a few words, and numeric keys with a lower bound: checked
# when the config is loaded, so a bad value stops the run before its folder is created.
CHOICES = {
    "train.amp": ("none", "bf16", "fp16"),
    "train.device": ("auto", "cpu", "cuda"),
    "optim.lr_scaling": ("none", "linear"),
    "data.preprocess.resize": ("pil", "opencv"),
    "data.preprocess.interpolation": ("linear", "nearest", "cubic", "area"),
    "data.preprocess.depth_scaling": ("release", "minmax"),
    "data.preprocess.depth_resize": ("direct", "rgb_first"),
    "data.augment.rotate_interpolation": ("linear", "nearest", "cubic", "area"),
}
AT_LEAST = {
    "train.epochs": 1, "train.batch_size": 1, "val.batch_size": 1, "val.every": 1,
    "checkpoint.every": 1, "checkpoint.keep_last": 1, "data.workers": 0, "log.scalars_every": 1,
    "data.augment.size": 16, "optim.lr": 0.0, "optim.lr_decay_every": 1, "optim.grad_clip_value": 0.0,
}


def check_values(config: Dict[str, Any]) -> None:
    """Enum-like keys and numeric ranges (see ``CHOICES``, ``AT_LEAST``); one line naming the key."""
    def get(dotted: str) -> Any:
        node = config
        for part in dotted.split("."):
            node = node[part]
        return node

    for key, choices in CHOICES.items():
        if get(key) not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(choices)}, got {get(key)!r}")
    for key, low in AT_LEAST.items():
        value = get(key)
        if value is not None and value < low:
            raise ConfigError(f"{key} must be at least {low}, got {value!r}")
    if not 0.0 <= config["data"]["val_fraction"] < 1.0:
        raise ConfigError(f"data.val_fraction must be in [0, 1), got {config['data']['val_fraction']!r}")
    if config["data"]["augment"]["size"] % 16:
        raise ConfigError(f"data.augment.size must be a multiple of 16, got {config['data']['augment']['size']}")


def backbone_settings(model_section: Dict[str, Any]) -> Dict[str, Any]:
    """``model.backbone`` as ``{"name", "weights"}``. Configs written before the backbone could be
    chosen (ours, up to the commit that added ``models/backbones.py``) hold a string there: the
    weights of the VGG16 streams."""
    backbone = model_section.get("backbone", {})
    if isinstance(backbone, str):
        return {"name": "vgg16", "weights": backbone}
    return {"name": "vgg16", "weights": "none", **backbone}


def load_config(path: str | Path, overrides: List[str] = ()) -> Dict[str, Any]:
    """The resolved config: schema <- file chain <- command-line overrides."""
    return config_from_dict(read_yaml_chain(Path(path)), overrides, where=str(path))


def config_from_dict(values: Dict[str, Any], overrides: List[str] = (), where: str = "config"
                     ) -> Dict[str, Any]:
    """Schema <- ``values`` (e.g. the config saved in a checkpoint) <- overrides; keys that the
    schema gained since ``values`` was written take the schema's (the release's) value."""
    schema = read_yaml_chain(SCHEMA_PATH)
    config = copy.deepcopy(schema)
    if isinstance(values.get("model"), dict) and isinstance(values["model"].get("backbone"), str):
        values = {**values, "model": {**values["model"], "backbone": backbone_settings(values["model"])}}
    merge_into(config, values, schema, where=where)
    apply_overrides(config, overrides)
    check_values(config)
    return config


def save_config(config: Dict[str, Any], path: Path) -> None:
    """Write the resolved config as YAML (plain values only)."""
    Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
