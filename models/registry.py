"""The model registry, timm-style: ``@register_model`` on a builder, ``create_model``, ``list_models``.

    @register_model(options=MyOptions, input_spec=InputSpec(size=384, multiple=32))
    def mynet(pretrained: bool = False, width: int = 64) -> nn.Module: ...

    model = create_model("mynet", width=32)      # options checked by MyOptions (a config Section)
    list_models()                                # ["bbsnet", "cdinet", "mynet", ...]

A builder is registered under its function's name. Its options are a config section
(``utils.options.Section``) declared next to its code; without one, the section is made from the
builder's keyword arguments and their defaults. ``pretrained`` (when the builder takes it) asks
for the model's ImageNet (or other) start weights. A module or package under ``models/`` that
uses ``@register_model`` is found without editing any list: it is imported on the first lookup.
Out-of-tree models are modules named in a config's ``imports:`` (``import_modules``).
docs/models.md, "Adding a model", is the interface every model has.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from utils.config import DEFAULT_MODEL
from utils.errors import ConfigError
from utils.options import Section, option

from .spec import InputSpec

MODELS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class OfficialLayout:
    """How to recognise and read the authors' own checkpoint of a model: ``prefixes`` are
    top-level key prefixes only their file has; ``convert`` maps its keys to ours; ``options``
    reads the model's options from its keys (a release with several backbones)."""

    prefixes: tuple
    convert: Callable[[Dict[str, Any]], Dict[str, Any]] = dict
    options: Callable[[Mapping[str, Any]], Dict[str, Any]] = lambda state: {}

    def matches(self, state: Mapping[str, Any]) -> bool:
        return any(key.startswith(self.prefixes) for key in state)


class Check(NamedTuple):
    """One comparison with the authors' release (``checks=`` of ``register_model``, a plain
    string or tuple there): what is compared, the bound the test asserts, the figure measured,
    and the test (``tests/test_x.py::test_name``, or a file) that asserts it."""

    what: str
    bound: str = ""
    measured: str = ""
    test: str = ""


@dataclass(frozen=True)
class Reported:
    """The numbers a model's authors report (``reported=`` of ``register_model``, a plain dict
    there): ``where`` they are printed, the ``metrics`` in order, ``values`` {dataset: one number
    per metric, ``None`` where the source gives none}, ``digits`` as printed, the ``card`` they
    are for (default: the first) and ``notes``."""

    where: str
    metrics: Tuple[str, ...]
    values: Mapping[str, Tuple[Optional[float], ...]]
    digits: int = 3
    card: Optional[str] = None
    notes: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for dataset, numbers in self.values.items():
            if len(numbers) != len(self.metrics):
                raise ValueError(f"reported: {dataset} has {len(numbers)} numbers for {len(self.metrics)} metrics "
                                 f"({', '.join(self.metrics)})")


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: its builder, option section, input spec, title, the authors'
    checkpoint layout (``None``: no release to load), its source release, its model cards
    (``cards``: ``(label, options)`` rows of ``models.summary --table`` and the zoo), what was
    checked against the release (``checks``) and what its authors report (``reported``)."""

    name: str
    builder: Callable[..., Any]
    options: type
    input_spec: InputSpec
    title: str
    official: Optional[OfficialLayout]
    source: str
    cards: tuple
    checks: Tuple[Check, ...] = ()
    reported: Optional[Reported] = None

    def build(self, pretrained: bool, options: Mapping[str, Any]):
        kwargs = dict(options)
        if "pretrained" in inspect.signature(self.builder).parameters:
            kwargs["pretrained"] = pretrained
        model = self.builder(**kwargs)
        model.model_name, model.model_options = self.name, dict(options)
        if not isinstance(getattr(model, "input_spec", None), InputSpec):
            model.input_spec = self.input_spec
        return model


_REGISTRY: Dict[str, ModelEntry] = {}
_discovered = False


def options_from_signature(name: str, builder: Callable[..., Any]) -> type:
    """A config section made from ``builder``'s keyword arguments (their defaults give the types)."""
    fields = []
    for parameter in inspect.signature(builder).parameters.values():
        if parameter.name == "pretrained" or parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        if parameter.default is inspect.Parameter.empty:
            raise TypeError(f"register_model: argument {parameter.name!r} of {name}() needs a default")
        fields.append((parameter.name, Any, option(parameter.default)))
    section = dataclasses.make_dataclass(f"{name}_options", fields, bases=(Section,))
    section.key = "model"
    return section


def register_model(builder: Optional[Callable[..., Any]] = None, *, options: Optional[type] = None,
                   input_spec: Optional[InputSpec] = None, title: Optional[str] = None,
                   official: Optional[OfficialLayout] = None, source: str = "",
                   cards: Sequence[tuple] = (), checks: Sequence[Union[str, tuple]] = (),
                   reported: Union[Reported, Mapping[str, Any], None] = None):
    """Register ``builder`` under its name (usable bare, ``@register_model``, or with arguments).
    ``checks``: strings or ``(what, bound, measured, test)`` tuples (:class:`Check`);
    ``reported``: a :class:`Reported` or a dict of its fields."""
    checks = tuple(Check(item) if isinstance(item, str) else Check(*item) for item in checks)
    if isinstance(reported, Mapping):
        reported = Reported(**{key: tuple(value) if key in ("metrics", "notes") else value
                               for key, value in reported.items()})

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        name = fn.__name__
        if name in _REGISTRY and _origin(_REGISTRY[name].builder) != _origin(fn):
            raise ValueError(f"register_model: a model named {name!r} is already registered "
                             f"(from {_REGISTRY[name].builder.__module__})")
        section = options or options_from_signature(name, fn)
        _REGISTRY[name] = ModelEntry(name, fn, section, input_spec or InputSpec(), title or name, official,
                                     source, tuple(cards) or (("default", {}),), checks, reported)
        return fn

    return register(builder) if builder is not None else register


def _origin(fn: Callable[..., Any]) -> tuple:
    """Where a builder is defined: the same function imported again registers again, another
    function of the same name (in another module, or another place of one) is refused."""
    return fn.__module__, fn.__qualname__


def _discover() -> None:
    """Import every module or package of ``models/`` that registers a model."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for path in sorted(MODELS_DIR.iterdir()):
        source = path / "__init__.py" if path.is_dir() else path
        if source.suffix != ".py" or path.name.startswith("_") or not source.is_file():
            continue
        if "@register_model" in source.read_text(encoding="utf-8") and path.stem != "registry":
            importlib.import_module(f"models.{path.stem}")


def list_models() -> List[str]:
    _discover()
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The entry of ``name``; an unknown name is one error listing the registered ones."""
    _discover()
    if name not in _REGISTRY:
        raise ConfigError(f"model.name {name!r} is not a registered model (registered: {', '.join(sorted(_REGISTRY))}; "
                          f"a model of your own: name its module in the config's imports: list)")
    return _REGISTRY[name]


def model_options(name: str, values: Mapping[str, Any]) -> Dict[str, Any]:
    """``values`` checked by the model's option section, with its defaults filled in."""
    return get_entry(name).options.from_dict(dict(values)).to_dict()


def create_model(name: str = DEFAULT_MODEL, pretrained: bool = False, **options: Any):
    """A new model ``name`` built with ``options`` (checked, defaults filled); ``pretrained``
    initialises what the model starts from (its backbone's ImageNet weights, ...)."""
    entry = get_entry(name)
    return entry.build(pretrained, model_options(name, options))


def import_modules(modules: Sequence[str]) -> None:
    """Import the modules a config names in ``imports:`` (they register out-of-tree models)."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ConfigError(f"imports: cannot import {module!r} ({error}); put its folder on PYTHONPATH "
                              f"or run from the folder that holds it") from None


def config_defaults(name: str) -> Dict[str, Any]:
    """The config values a model sets as defaults before the file's: its input size, pixel path
    and how the loss resizes the GT to a smaller output."""
    spec = get_entry(name).input_spec
    return {"data": {"augment": {"size": spec.size}, "preprocess": dict(spec.preprocess)},
            "loss": {"align_corners": spec.align_corners}}


def architecture(options: Mapping[str, Any]) -> Dict[str, Any]:
    """A model's options without its start-weight settings (an option named ``weights``, at any
    level, says where start weights come from and never changes the architecture): what two
    models must share for one's weights to load into the other, and what test_info.json records."""
    return {key: architecture(value) if isinstance(value, Mapping) else value
            for key, value in options.items() if key != "weights"}


def describe(model) -> str:
    """A model's own description (``describe()``), else its registered title."""
    own = getattr(model, "describe", None)
    return own() if callable(own) else get_entry(model.model_name).title


def map_logits(model, outputs):
    """The saliency map among a forward pass's outputs: the last of a list, unless the model
    names another with ``map_output`` (an index)."""
    if isinstance(outputs, (list, tuple)):
        return outputs[getattr(model, "map_output", -1)]
    return outputs


def find_official(state: Mapping[str, Any]) -> Optional[ModelEntry]:
    """The registered model whose authors' checkpoint layout ``state`` has, or None."""
    _discover()
    for entry in _REGISTRY.values():
        if entry.official is not None and entry.official.matches(state):
            return entry
    return None


def official_models() -> List[str]:
    _discover()
    return sorted(name for name, entry in _REGISTRY.items() if entry.official is not None)
