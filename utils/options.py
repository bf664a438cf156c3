"""Options that know their own rules: the machinery behind ``utils/config.py``'s sections.

A config section is a dataclass deriving from :class:`Section`; each field is declared with
:func:`option`, which holds its default and, in the field's metadata, its :class:`Spec`: allowed
values, range, the type of a value whose default is ``None``. Building a section checks every
field against its spec (``__post_init__``), and :meth:`Section.choices` gives a field's allowed
values to argparse, so the config, the command lines and their error messages share one source.
Torch-free.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, Optional, Tuple, Union

from .errors import ConfigError

Choices = Union[Tuple[Any, ...], Callable[[], Tuple[Any, ...]], None]


@dataclass(frozen=True)
class Spec:
    """What a field accepts besides its default's type.

    choices: the allowed values (or a function returning them, for lists owned elsewhere, e.g.
        the backbone registry); at_least / at_most: inclusive bounds; below: an exclusive upper
        bound;
    kind: the type(s) a value must have where the default (``None``, ``False``) does not say it;
    item: the Section type of each element of a list field; help: one line for a command-line
    flag made from the field (:meth:`Section.add_arguments`).
    """

    choices: Choices = None
    at_least: Optional[float] = None
    at_most: Optional[float] = None
    below: Optional[float] = None
    kind: Union[type, Tuple[type, ...], None] = None
    item: Optional[type] = None
    help: str = ""


def option(default: Any, **spec: Any) -> Any:
    """A dataclass field with ``default`` and a Spec. A list is copied per instance; a Section
    class as the default means a nested section with its own defaults."""
    metadata = {"spec": Spec(**spec)}
    if isinstance(default, type):
        return field(default_factory=default, metadata=metadata)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def yaml_word(value: Any) -> str:
    """How a value is written in a config file and on the command line."""
    if isinstance(value, (bool, type(None))):
        return {True: "true", False: "false", None: "null"}[value]
    return str(value)


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def check_value(key: str, value: Any, default: Any, spec: Spec) -> Any:
    """``value`` checked (and ints widened to floats where the default is a float) against the
    default's type and ``spec``; a ConfigError names ``key`` and what it accepts."""
    kind = spec.kind
    if kind is None and default is not None:
        kind = float if isinstance(default, float) else type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if value is not None and kind is not None:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            expected = "true or false" if kinds == (bool,) else " or ".join(k.__name__ for k in kinds)
            raise ConfigError(f"{key}: expected {expected}, got {type(value).__name__} {value!r}")
    elif value is None and default is not None:
        raise ConfigError(f"{key}: expected a value, got null")
    choices = spec.choices() if callable(spec.choices) else spec.choices
    if choices is not None and not any(value == c and type(value) is type(c) for c in choices):
        raise ConfigError(f"{key} must be one of {', '.join(yaml_word(c) for c in choices)}, got {value!r}")
    if value is not None and spec.at_least is not None and spec.below is not None:
        if not spec.at_least <= value < spec.below:
            raise ConfigError(f"{key} must be in [{yaml_word(spec.at_least)}, {yaml_word(spec.below)}), got {value!r}")
    elif value is not None and spec.at_least is not None and spec.at_most is not None:
        if not spec.at_least <= value <= spec.at_most:
            raise ConfigError(f"{key} must be in [{yaml_word(spec.at_least)}, {yaml_word(spec.at_most)}], "
                              f"got {value!r}")
    elif value is not None and spec.at_least is not None and value < spec.at_least:
        raise ConfigError(f"{key} must be at least {yaml_word(spec.at_least)}, got {value!r}")
    return value


class Section:
    """Base of the config sections (dataclasses): fields checked on construction, ``from_dict``
    with unknown keys refused, ``to_dict`` with plain values (what YAML and checkpoints hold).
    ``key`` is the section's dotted place in the config (``data.preprocess``), for messages."""

    key: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            spec = f.metadata.get("spec")
            if spec is None:
                continue
            value, default, key = getattr(self, f.name), _default(f), self.child_key(f.name)
            if isinstance(default, Section):
                value = type(default).from_dict(value if value is not None else {}, key)
            elif spec.item is not None:
                value = [spec.item.from_dict(v, f"{key}.{i}") for i, v in enumerate(value or [])]
            else:
                value = check_value(key, value, default, spec)
            object.__setattr__(self, f.name, value)
        self.check()

    def child_key(self, name: str) -> str:
        """The dotted key of field ``name``: ``data.augment.size``."""
        return f"{self.where}.{name}" if self.where else name

    @property
    def where(self) -> str:
        """The dotted place of this section in the config (``data.train.2`` for a list entry)."""
        return getattr(self, "_where", None) or self.key

    def check(self) -> None:
        """Rules between fields (a section overrides it)."""

    @classmethod
    def from_dict(cls, values: Any, where: Optional[str] = None):
        """A section from a config mapping; an unknown key is a ConfigError naming it."""
        where = where or cls.key
        if isinstance(values, cls):
            return values
        values = cls.coerce(values, where)
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: expected a mapping, got {values!r}")
        known = [f.name for f in dataclasses.fields(cls)]
        for name in values:
            if name not in known:
                dotted = f"{where}.{name}" if where else name
                raise ConfigError(f"unknown config key '{dotted}' (known: {', '.join(known)})")
        section = cls.__new__(cls)
        object.__setattr__(section, "_where", where)  # read by __post_init__ for its messages
        cls.__init__(section, **values)
        return section

    @classmethod
    def coerce(cls, values: Any, where: str) -> Any:
        """Shorthands a section accepts in place of a mapping (a section overrides it)."""
        return values

    def to_dict(self) -> Dict[str, Any]:
        """Plain values: nested sections as dicts, tuples as lists."""
        def plain(value: Any) -> Any:
            if isinstance(value, Section):
                return value.to_dict()
            if isinstance(value, (list, tuple)):
                return [plain(v) for v in value]
            return value
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def choices(cls, name: str) -> Tuple[Any, ...]:
        """The allowed values of field ``name`` (for argparse ``choices``)."""
        spec = next(f.metadata["spec"] for f in dataclasses.fields(cls) if f.name == name)
        return tuple(spec.choices() if callable(spec.choices) else spec.choices)

    @classmethod
    def add_arguments(cls, parser: Any, default_note: str) -> None:
        """One ``--field-name`` flag per field that has choices, with its help and allowed values;
        its default is None (not given), ``default_note`` says what applies then (the field's
        own default is named at the end: ``..., else pil``)."""
        for f in dataclasses.fields(cls):
            spec = f.metadata.get("spec")
            if spec is None or spec.choices is None:
                continue
            parser.add_argument(f"--{f.name.replace('_', '-')}", choices=cls.choices(f.name),
                                help=f"{spec.help} (default: {default_note}, else {yaml_word(_default(f))})")

    @classmethod
    def names(cls) -> Tuple[str, ...]:
        """The field names, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def default(cls, name: str) -> Any:
        return _default(next(f for f in dataclasses.fields(cls) if f.name == name))
