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

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
SCHEMA_PATH = CONFIG_DIR / "cdinet.yaml"


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the file or key."""


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
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"--set {key}: expected true or false, got {value!r}")
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
    """Apply ``key.sub=value`` strings; values are parsed as YAML (``1e-4``, ``[a, b]``, ``null``)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node = config
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"--set {key}: unknown config key '{'.'.join(parts[:i + 1])}'")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(f"--set {key}: unknown config key '{key}'")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: cannot parse value {text!r}") from None
        node[parts[-1]] = coerce(value, node[parts[-1]], key)


def load_config(path: str | Path, overrides: List[str] = ()) -> Dict[str, Any]:
    """The resolved config: schema <- file chain <- command-line overrides."""
    return config_from_dict(read_yaml_chain(Path(path)), overrides, where=str(path))


def config_from_dict(values: Dict[str, Any], overrides: List[str] = (), where: str = "config"
                     ) -> Dict[str, Any]:
    """Schema <- ``values`` (e.g. the config saved in a checkpoint) <- overrides; keys that the
    schema gained since ``values`` was written take the schema's (the release's) value."""
    schema = read_yaml_chain(SCHEMA_PATH)
    config = copy.deepcopy(schema)
    merge_into(config, values, schema, where=where)
    apply_overrides(config, overrides)
    return config


def save_config(config: Dict[str, Any], path: Path) -> None:
    """Write the resolved config as YAML (plain values only)."""
    Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
