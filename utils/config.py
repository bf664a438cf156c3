"""The training config: its sections (one dataclass each), YAML files and ``--set`` overrides.

Each section below owns its keys, their defaults (the release's recipe, docs/training.md "The
release recipe"), their allowed values and ranges (``utils/options.py``); config validation, the
argparse choices of train.py, test.py and ``models.summary`` and their error messages come from
them. A config file states only its differences from these defaults or from its ``_base_`` (a
path relative to the file, as CAVER's configs do); an unknown key, in a file or on the command
line, is an error naming it. ``--set key=value`` values are YAML (nanoGPT's configurator
checks, without its ``exec``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Protocol, Tuple, Union

import yaml

from .errors import ConfigError
from .files import atomic_write_text
from .options import Section, option

INTERPOLATIONS = ("linear", "nearest", "cubic", "area")
AMP_MODES = ("none", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
STOP_SIGNALS = ("TERM", "USR1", "USR2", "HUP")  # checkpoint.signals (Ctrl-C is always handled)
AUTO = "auto"  # invert_depth: as the depth polarity measured on the GT says
DEFAULT_MODEL = "cdinet"
REDUCTIONS = ("mean", "sum")  # loss.reductions


class ModelCatalog(Protocol):
    """What checks the ``model`` section: the model registry (``models.registry``), handed in by
    the caller, so this module stays free of the model package."""

    def import_modules(self, modules: List[str]) -> None: ...

    def model_options(self, name: str, values: Dict[str, Any]) -> Dict[str, Any]: ...

    def config_defaults(self, name: str) -> Dict[str, Any]: ...


# ----------------------------------------------------------------------------- model
@dataclass
class ModelConfig(Section):
    """``model``. name: a registered model (``models.list_models()``, docs/models.md; default
    cdinet); init: full-model weights to fine-tune from (strict; optimizer fresh). Every other key
    of ``model`` is an option of that model, declared and checked next to its code."""

    key = "model"
    name: str = option(DEFAULT_MODEL)
    init: Optional[str] = option(None, kind=str)


COMMON_MODEL_KEYS = ("name", "init")


def split_model_section(model: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """A ``model`` section as (its common keys, ``COMMON_MODEL_KEYS``; the model's own options)."""
    common = {key: value for key, value in model.items() if key in COMMON_MODEL_KEYS}
    return common, {key: value for key, value in model.items() if key not in COMMON_MODEL_KEYS}


# ----------------------------------------------------------------------------- data
@dataclass
class PreprocessConfig(Section):
    """``data.preprocess``: how decoded files become network inputs, in training and at test time.

    The defaults are the release's pixel path (docs/pixel-path.md); every other value is ours.
    resize: ``pil`` (Pillow's resize, as torchvision ``Resize`` on PIL images) or ``opencv``
    (``cv2.resize``, no antialiasing when downscaling). interpolation: the resize filter
    (``area``: Pillow BOX / OpenCV AREA). depth_scaling: ``release`` (8-bit depth / 255; 16-bit
    and float depth min-max normalised) or ``minmax`` (every map). depth_resize: ``direct``
    (straight to the network size) or ``rgb_first`` (to the RGB size at load). depth_holes: what
    becomes of depth pixels stored as 0 or non-finite (Kinect-style holes): ``keep`` (as stored)
    or ``far`` (each takes its map's farthest valid value before scaling, for the polarity in use).
    """

    key = "data.preprocess"
    resize: str = option("pil", choices=("pil", "opencv"),
                         help="input resize: pil (Pillow's antialiased bilinear) or opencv (cv2.resize in float32)")
    interpolation: str = option("linear", choices=INTERPOLATIONS, help="input resize filter")
    depth_scaling: str = option("release", choices=("release", "minmax"),
                                help="release: 8-bit depth / 255 (16-bit and float: min-max); minmax: every map")
    depth_resize: str = option("direct", choices=("direct", "rgb_first"),
                               help="direct: depth straight to the network size; rgb_first: to the RGB size first")
    depth_holes: str = option("keep", choices=("keep", "far"),
                              help="keep: depth pixels stored as 0 (holes) as they are; far: each takes its map's "
                              "farthest valid depth")

    @property
    def is_release(self) -> bool:
        return self == PreprocessConfig()


@dataclass
class AugmentConfig(Section):
    """``data.augment``: the training augmentation; the defaults are the CDINet release recipe.

    Order: flip, crop, rotation, colour, pepper, resize (BBS-Net's; CDINet's has no crop, colour
    or pepper). size: side of the square training input (a multiple of the backbone's stride,
    which the model checks); a config's default is the model's input size (``InputSpec.size``).
    flip: ``three_way`` (none / horizontal / vertical, 1/3 each;
    CDINet), ``horizontal`` (probability 0.5; BBS-Net) or ``none``; ``true`` / ``false`` (older
    configs and checkpoints) read as ``three_way`` / ``none``. crop_border: a centred crop
    removing 1..crop_border pixels of width and, drawn apart, of height (BBS-Net: 30; 0: off).
    crop_margin: after the resize, a window of ``size - int(crop_margin * size)`` pixels a side at
    a random position, resized back to ``size`` (JL-DCF: 0.0625; 0: off).
    rotate_prob: probability of a rotation by an angle in rotate_range (inclusive), an integer
    one with integer_angles (the releases' ``randint``). color_enhance: Pillow's brightness,
    contrast, colour and sharpness on RGB, factors drawn from BBS-Net's grids. gt_pepper: the
    share of GT pixels set to 0 or 255 (BBS-Net: 0.0015; 0: off). gt_nearest: nearest-neighbour
    GT in rotation and resize (release: soft GT); binarize_gt: threshold GT at 0.5; normalize:
    the model's mean/std (``models.spec.InputSpec``; off: RGB and depth in [0, 1]).
    """

    key = "data.augment"
    size: int = option(256, at_least=16)
    flip: str = option("three_way", choices=("three_way", "horizontal", "none"))
    crop_border: int = option(0, at_least=0)
    crop_margin: float = option(0.0, at_least=0.0, below=0.5)
    rotate_prob: float = option(0.2, at_least=0.0, at_most=1.0)
    rotate_range: Tuple[Union[int, float], Union[int, float]] = option((-15, 14), kind=(list, tuple))
    integer_angles: bool = option(True)
    rotate_interpolation: str = option("cubic", choices=INTERPOLATIONS)
    gt_nearest: bool = option(False)
    binarize_gt: bool = option(False)
    color_enhance: bool = option(False)
    gt_pepper: float = option(0.0, at_least=0.0, at_most=1.0)
    normalize: bool = option(True)

    @classmethod
    def coerce(cls, values: Any, where: str) -> Any:
        # flip: true / false in older configs and checkpoints (true: CDINet's three-way flip).
        if isinstance(values, dict) and isinstance(values.get("flip"), bool):
            return {**values, "flip": "three_way" if values["flip"] else "none"}
        return values

    def __post_init__(self) -> None:
        if isinstance(self.flip, bool):  # AugmentConfig(flip=False) in code, as from_dict reads it
            self.flip = self.coerce({"flip": self.flip}, self.where)["flip"]
        super().__post_init__()

    def check(self) -> None:
        low_high = tuple(self.rotate_range)
        if len(low_high) != 2 or not all(isinstance(a, (int, float)) for a in low_high) or low_high[0] > low_high[1]:
            raise ConfigError(f"{self.where}.rotate_range must be [low, high] with low <= high, "
                              f"got {self.rotate_range!r}")
        if self.integer_angles and any(float(a) != int(a) for a in low_high):
            raise ConfigError(f"{self.where}.rotate_range must hold integers when integer_angles is on, "
                              f"got {self.rotate_range!r}")
        cast = int if self.integer_angles else float
        self.rotate_range = (cast(low_high[0]), cast(low_high[1]))


@dataclass
class TrainEntry(Section):
    """One ``data.train`` entry: a folder with RGB, depth and GT subfolders (relative to
    ``data.root``), an optional list file of stems, the depth convention (``auto``: as measured
    on its GT, docs/datasets.md "Depth polarity") and a name."""

    key = "data.train.<i>"
    root: str = option("", kind=str)
    list_file: Optional[str] = option(None, kind=str)
    invert_depth: Union[bool, str] = option(False, kind=(bool, str), choices=(False, True, AUTO))
    name: Optional[str] = option(None, kind=str)

    @classmethod
    def coerce(cls, values: Any, where: str) -> Any:
        return {"root": values} if isinstance(values, str) else values  # a bare folder

    def check(self) -> None:
        if not self.root:
            raise ConfigError(f"{self.where}.root: the folder is missing")


RELEASE_TRAIN_SETS = [{"root": f"{name}/train", "list_file": None, "invert_depth": False, "name": None}
                      for name in ("NJU2K", "NLPR", "DUT-RGBD")]  # the 2985 protocol


@dataclass
class DataConfig(Section):
    """``data``. val_fraction / val_list: images held out of the training data for validation
    and best.pth (the release keeps none); skip_bad: skip unreadable or unpaired samples instead
    of stopping; workers: DataLoader workers per process; mirror: every training sample twice an
    epoch, as stored and flipped left-right (JL-DCF's training archive holds both; false for data
    that has its mirrored copies already)."""

    key = "data"
    root: str = option("data")
    train: List[TrainEntry] = option(RELEASE_TRAIN_SETS, item=TrainEntry)
    skip_bad: bool = option(False)
    val_fraction: float = option(0.0, at_least=0.0, below=1.0)
    val_list: Optional[str] = option(None, kind=str)
    workers: int = option(4, at_least=0)
    mirror: bool = option(False)
    preprocess: PreprocessConfig = option(PreprocessConfig)
    augment: AugmentConfig = option(AugmentConfig)


# ----------------------------------------------------------------------------- optimisation and loop
@dataclass
class OptimConfig(Section):
    """``optim``: Adam on all parameters, lr * lr_decay ** (epoch // lr_decay_every) with epochs
    from 1, every gradient clamped to [-grad_clip_value, grad_clip_value] (0: no clipping, as
    JL-DCF); lr_scaling ``linear`` multiplies lr by batch_size * processes / 4 (ours)."""

    key = "optim"
    lr: float = option(1.0e-4, at_least=0.0)
    lr_scaling: str = option("none", choices=("none", "linear"))
    betas: List[float] = option([0.9, 0.999], kind=(list, tuple))
    weight_decay: float = option(0.0, at_least=0.0)
    lr_decay: float = option(0.2, at_least=0.0)
    lr_decay_every: int = option(40, at_least=1)
    grad_clip_value: float = option(0.5, at_least=0.0)


@dataclass
class TrainConfig(Section):
    """``train``. batch_size: per process; accumulate: batches whose gradients are summed before
    each optimizer step, each batch's loss divided by it (JL-DCF's ``iter_size`` 10; 1: a step
    per batch); max_steps: stop after that many optimizer steps (smoke tests); deterministic:
    ``torch.use_deterministic_algorithms`` (slower)."""

    key = "train"
    epochs: int = option(120, at_least=1)
    batch_size: int = option(4, at_least=1)
    accumulate: int = option(1, at_least=1)
    seed: int = option(42)
    device: str = option("auto", choices=DEVICES)
    amp: str = option("none", choices=AMP_MODES)
    channels_last: bool = option(False)
    compile: bool = option(False)
    deterministic: bool = option(False)
    max_steps: Optional[int] = option(None, kind=int, at_least=1)


@dataclass
class ValConfig(Section):
    """``val``: every: epochs between validations (and at the last epoch)."""

    key = "val"
    every: int = option(5, at_least=1)
    batch_size: int = option(8, at_least=1)


@dataclass
class CheckpointConfig(Section):
    """``checkpoint``: resumable checkpoints every ``every`` epochs (and at the last), the
    ``keep_last`` newest kept; weights_<epoch>.pth at ``weights_epochs`` (the release's 85..120).
    every_minutes: also a mid-epoch checkpoint when that long has passed since the last one
    (bounds what a hard kill loses; 0: off). signals: the signals (names without ``SIG``) that
    stop the run cleanly, as Ctrl-C does: the step in flight finishes, a checkpoint is saved and
    the process exits with status 75 (docs/training.md "Preemption")."""

    key = "checkpoint"
    every: int = option(5, at_least=1)
    keep_last: int = option(2, at_least=1)
    weights_epochs: List[int] = option(list(range(85, 121, 5)), kind=(list, tuple))
    every_minutes: float = option(30.0, at_least=0.0)
    signals: List[str] = option(["TERM", "USR1"], kind=(list, tuple))

    def check(self) -> None:
        unknown = [name for name in self.signals if name not in STOP_SIGNALS]
        if unknown:
            raise ConfigError(f"{self.where}.signals: {unknown[0]!r} is none of {', '.join(STOP_SIGNALS)} "
                              f"(names without SIG; [] for none)")
        self.signals = list(self.signals)


@dataclass
class LogConfig(Section):
    """``log``: the run folder, TensorBoard scalar spacing, and weights_init.pth (the untrained model)."""

    key = "log"
    dir: str = option("runs/cdinet")
    scalars_every: int = option(20, at_least=1)
    save_init: bool = option(False)


@dataclass
class LossConfig(Section):
    """``loss``: the training loss on each output of the model (a model with deep supervision
    returns several; docs/models.md). kind: ``bce`` (BCE with logits; the releases' of CDINet,
    BBS-Net and JL-DCF) or ``bce_iou`` (pixel-weighted BCE + weighted IoU, F3Net's structure
    loss; ours). weights: one per output (null: 1 each). reductions: one per output, ``mean``
    (over every pixel) or ``sum`` (over every pixel of an image, averaged over the images;
    JL-DCF's ``reduction='sum'`` at batch 1); null: mean each. align_corners: how the GT is
    resized bilinearly to an output smaller than it (the model's release sets it: JL-DCF true).
    An output of k x B maps (JL-DCF's coarse maps of both halves) is compared with the GT
    repeated k times."""

    key = "loss"
    # The names of models/losses.py's LOSSES, written here too: utils/ imports nothing of models/
    # (tests/test_bbsnet.py checks that the two lists agree).
    kind: str = option("bce", choices=("bce", "bce_iou"))
    weights: Optional[List[float]] = option(None, kind=(list, tuple))
    reductions: Optional[List[str]] = option(None, kind=(list, tuple))
    align_corners: bool = option(False)

    def check(self) -> None:
        if self.weights is not None and not all(isinstance(w, (int, float)) and w >= 0 for w in self.weights):
            raise ConfigError(f"loss.weights must be a list of numbers >= 0 (one per model output), "
                              f"got {self.weights!r}")
        if self.reductions is not None and not all(r in REDUCTIONS for r in self.reductions):
            raise ConfigError(f"loss.reductions must be a list of {' or '.join(REDUCTIONS)} (one per model output), "
                              f"got {self.reductions!r}")
        if self.kind == "bce_iou" and self.reductions and "sum" in self.reductions:
            raise ConfigError("loss.reductions: sum applies to kind bce only (bce_iou is a per-image ratio)")


@dataclass
class RunConfig(Section):
    """The whole config but ``model`` (checked by the model's own section): one field per section.
    imports: modules imported before the model is built (out-of-tree models that register
    themselves, docs/models.md "A model in your own repository")."""

    key = ""
    imports: List[str] = option([], kind=(list, tuple))
    data: DataConfig = option(DataConfig)
    loss: LossConfig = option(LossConfig)
    optim: OptimConfig = option(OptimConfig)
    train: TrainConfig = option(TrainConfig)
    val: ValConfig = option(ValConfig)
    checkpoint: CheckpointConfig = option(CheckpointConfig)
    log: LogConfig = option(LogConfig)


# ----------------------------------------------------------------------------- files and overrides
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
    if model_name(data) not in (None, model_name(merged) or DEFAULT_MODEL):
        merged.pop("model", None)  # another model: the base's model options are not its own
    merge_into(merged, data)
    return merged


def model_name(values: Dict[str, Any]) -> Optional[str]:
    """``model.name`` of a (partial) config, or None where it does not say."""
    model = values.get("model")
    return model.get("name") if isinstance(model, dict) else None


def merge_into(target: Dict[str, Any], update: Dict[str, Any]) -> None:
    """Deep-merge ``update`` into ``target`` (mappings merge, anything else is replaced)."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_into(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def apply_overrides(config: Dict[str, Any], overrides: Iterable[str]) -> None:
    """Apply ``key.sub=value`` strings; values are parsed as YAML (``1e-4``, ``[a, b]``, ``null``).
    A list entry is addressed by its index: ``data.train.0.invert_depth=true``. Types, choices
    and ranges are checked afterwards, by the sections."""
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
            raise ConfigError(f"--set {key}: unknown config key '{key}'{_known(node)}")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: cannot parse value {text!r}") from None
        if isinstance(node[last], float) and isinstance(value, str):
            try:  # YAML 1.1 reads "2e-4" (no dot) as a string
                value = float(value)
            except ValueError:
                pass
        node[last] = value


def _child(node: Any, part: str, key: str, where: str) -> Any:
    """``node[part]`` for a mapping key or a list index, with errors that say how to fix it."""
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise ConfigError(f"--set {key}: '{where}' must be an index 0..{len(node) - 1} of the list "
                              f"(or replace the whole list: --set {where.rsplit('.', 1)[0]}=[...])")
        return node[int(part)]
    if not isinstance(node, dict) or not isinstance(node.get(part), (dict, list)):
        raise ConfigError(f"--set {key}: unknown config key '{where}'{_known(node)}")
    return node[part]


def _known(node: Any) -> str:
    """`` (known here: a, b, c)`` for a mapping, the keys an override at that level may name."""
    return f" (known here: {', '.join(node)})" if isinstance(node, dict) and node else ""


def config_from_dict(values: Dict[str, Any], overrides: List[str] = (), where: str = "config", *,
                     models: ModelCatalog) -> Dict[str, Any]:
    """Defaults <- the model's own defaults (its input size and pixel path, ``models``) <-
    ``values`` (a file chain, or the config saved in a checkpoint) <- overrides, checked section
    by section; ``model.*`` by the section of ``model.name``. Keys the sections gained since
    ``values`` was written take their defaults (the release's). An override of ``model.name``
    starts that model's options from its defaults. Returns the config as plain values."""
    values = copy.deepcopy(values)
    name_overrides = [item for item in overrides if item.split("=", 1)[0].strip() == "model.name"]
    if name_overrides:
        name = yaml.safe_load(name_overrides[-1].split("=", 1)[1])
        if name != model_name(values):
            values["model"] = split_model_section(values.get("model") or {})[0]
        values.setdefault("model", {})["name"] = name
    try:
        config = _resolved(values, models)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    apply_overrides(config, [item for item in overrides if item not in name_overrides])
    return _resolved(config, models)


def _resolved(values: Dict[str, Any], models: ModelCatalog) -> Dict[str, Any]:
    """``values`` over the defaults of every section and of the model it names, checked."""
    values = dict(values)
    model = values.pop("model", None) or {}
    if not isinstance(model, dict):
        raise ConfigError(f"model: expected a mapping, got {model!r}")
    run = RunConfig.from_dict({"imports": values.get("imports", [])})
    models.import_modules(run.imports)
    common, options = split_model_section(model)
    common = ModelConfig.from_dict(common)
    merged = RunConfig().to_dict()
    merge_into(merged, models.config_defaults(common.name))
    merge_into(merged, values)
    config = RunConfig.from_dict(merged).to_dict()
    return {"imports": config.pop("imports"),
            "model": {**common.to_dict(), **models.model_options(common.name, options)}, **config}


def load_config(path: str | Path, overrides: List[str] = (), *, models: ModelCatalog) -> Dict[str, Any]:
    """The resolved config of a YAML file (and its ``_base_`` chain) and command-line overrides."""
    return config_from_dict(read_yaml_chain(Path(path)), overrides, where=str(path), models=models)


def save_config(config: Dict[str, Any], path: Path) -> None:
    """Write the resolved config as YAML (plain values only), atomically."""
    atomic_write_text(path, yaml.safe_dump(config, sort_keys=False))
