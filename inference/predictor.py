"""Saliency maps in one call from Python, through the code path test.py itself runs.

    from inference import Predictor

    predictor = Predictor.from_checkpoint("CDINet.pth")            # an authors' file (CDINet, BBS-Net) or ours
    saliency = predictor.predict("RGB/1.jpg", "depth/1.png")       # uint8 (H, W) at the RGB's size
    maps = predictor.predict([rgb_a, rgb_b], [depth_a, depth_b])   # lists: paths, PIL images or arrays
    saliency, logits = predictor.predict(rgb, depth, return_logits=True)

A checkpoint of ours is rebuilt as its saved config says (model name and options) and fed with
its training size and pixel path; an authors' file gets its model's release pixel path (the
model's ``InputSpec``: its size and normalisation, the pixel path its ``preprocess`` names,
8-bit depth / 255; docs/pixel-path.md). Each map gets the release's post-processing (the map
output's logits resized to the output size, sigmoid, per-image min-max, x255, rounded).
test.py feeds :attr:`Predictor.transform` through a DataLoader and calls :meth:`Predictor.logits`
and :meth:`Predictor.maps`, exactly what :meth:`Predictor.predict` does for images in memory.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch import nn

from datasets import build_test_transform
from models import InputSpec, describe, model_from_checkpoint
from models.export import cached_path
from models.postprocess import saliency_maps
from models.registry import architecture
from utils.checkpoint import file_sha256
from utils.config import PreprocessConfig
from utils.dist import select_device
from utils.errors import ConfigError, InputShapeError
from utils.images import depth_array, read_depth_raw, read_rgb, rgb_array
from utils.runtime import AMP_DTYPES, autocast_context, channels_last_if

from .backends import (
    BACKENDS,
    Job,
    Runner,
    check_backend,
    choose_backend,
    onnx_runner,
    onnxruntime_available,
    stderr_notice,
    torch_runner,
    winograd_runner,
)

ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray]


def release_preprocess(spec: InputSpec) -> PreprocessConfig:
    """The pixel path of the model's release: the section's defaults with the spec's own values."""
    return PreprocessConfig(**{**PreprocessConfig().to_dict(), **spec.preprocess})


def input_settings(trained: Dict[str, Any], spec: InputSpec, size: Optional[int] = None, **flags: Optional[str]
                   ) -> Tuple[int, PreprocessConfig, Dict[str, str]]:
    """Network size and pixel path: an explicit value (``size``, ``flags`` named as
    PreprocessConfig's fields; None = not given) wins, then the checkpoint's training config
    (``trained``), then the model's release (``spec``). Also says where each value came from."""
    data = trained.get("data", {}) if isinstance(trained.get("data"), dict) else {}
    saved = data.get("preprocess", {})
    unknown = set(flags) - set(PreprocessConfig().to_dict())
    if unknown:
        raise ConfigError(f"unknown preprocess option(s): {', '.join(sorted(unknown))}")
    values, origin = {}, {}
    for key, default in release_preprocess(spec).to_dict().items():
        given = flags.get(key)
        values[key] = given if given is not None else saved.get(key, default)
        origin[key] = ("command line" if given is not None
                       else "checkpoint config" if key in saved else "release default")
    saved_size = data.get("augment", {}).get("size")
    origin["size"] = "command line" if size else ("checkpoint config" if saved_size else "release default")
    return size or saved_size or spec.size, PreprocessConfig(**values), origin


def as_rgb(image: ImageInput) -> np.ndarray:
    """RGB uint8 (H, W, 3) from a path, a PIL image or an array (RGB order; (H, W) gray is
    repeated to 3 channels, as Pillow's ``convert('RGB')``)."""
    if isinstance(image, (str, os.PathLike)):
        return read_rgb(image)
    if isinstance(image, Image.Image):
        return rgb_array(image)
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise InputShapeError(f"an RGB array must be uint8 (H, W, 3) in RGB order or (H, W) gray, "
                              f"got {array.dtype} {array.shape}")
    return np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array


def as_depth(image: ImageInput) -> np.ndarray:
    """Depth as stored (see ``utils.images.read_depth_raw``) from a path, a PIL image or an array:
    uint8, uint16 or float (H, W); a colour uint8 array is made gray as Pillow's ``convert('L')``."""
    if isinstance(image, (str, os.PathLike)):
        return read_depth_raw(image)
    if isinstance(image, Image.Image):
        return depth_array(image)
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8:
        return np.array(Image.fromarray(array).convert("L"))
    if array.ndim != 2 or array.dtype.kind not in "uif":
        raise InputShapeError(f"a depth array must be (H, W) uint8, uint16 or float, got {array.dtype} {array.shape}")
    return array.astype(np.float32) if array.dtype.kind == "f" else array


class Predictor:
    """A registered model ready to turn RGB-D inputs into saliency maps (see the module docstring).

    Args (all but ``model`` keyword-only; the defaults are test.py's):
        model: the network (e.g. from :func:`models.model_from_checkpoint` or
            :func:`models.create_model`); the Predictor owns it: it is moved to the device and,
            for the Winograd backend, converted in place.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or a ``torch.device``.
        size, preprocess: network input size and pixel path (default: the model's release,
            ``model.input_spec``).
        backend: ``auto``, ``torch``, ``onnxruntime`` (needs ``checkpoint``, whose export is
            cached) or ``winograd`` (``models/winograd.py``); ``auto`` is resolved by
            :meth:`prepare` for the job's size (``inference.backends.choose_backend``).
        amp, channels_last, compile, tta: as test.py's flags; ``tta`` averages the logits of
            the image and its horizontal flip.
        invert_depth: invert the stored depth (for data whose polarity is the opposite of the
            model's ``input_spec.near``).
        batch_size: images per forward pass in :meth:`predict` (default 1 on CPU, 8 on CUDA).
        checkpoint: the file the model came from (names the ONNX cache, and the records).
        origin: where each input setting came from (``input_settings``), for the records.
        notify: receives one-line notices (the ONNX export); default: printed to stderr.
    """

    def __init__(self, model: nn.Module, *, device: Union[str, torch.device] = "auto", size: Optional[int] = None,
                 preprocess: Optional[PreprocessConfig] = None, backend: str = "auto", amp: str = "none",
                 channels_last: bool = True, compile: bool = False, tta: bool = False, invert_depth: bool = False,
                 batch_size: Optional[int] = None, checkpoint: Union[str, os.PathLike, None] = None,
                 onnx_cache: Union[str, os.PathLike, None] = None, origin: Optional[Dict[str, str]] = None,
                 notify: Callable[[str], None] = stderr_notice):
        if amp not in AMP_DTYPES:
            raise ConfigError(f"amp must be one of {', '.join(AMP_DTYPES)}, got {amp!r}")
        self.device = device if isinstance(device, torch.device) else select_device(device)
        self.spec: InputSpec = model.input_spec
        size = size or self.spec.size
        self.spec.check_size(size, "--size", describe(model))
        self.size, self.preprocess = size, preprocess or release_preprocess(self.spec)
        self.amp, self.compile, self.tta, self.invert_depth = amp, compile, tta, invert_depth
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.onnx_cache = Path(onnx_cache) if onnx_cache is not None else None
        self.origin = origin or {}
        self.notify = notify
        check_backend(backend, self.device, amp, compile)
        if backend == "onnxruntime" and self.checkpoint is None:
            raise ConfigError("the onnxruntime backend exports a checkpoint file: build the Predictor with "
                              "Predictor.from_checkpoint(PATH), or use backend='torch'")
        self.requested_backend = backend
        self.wants_channels_last = channels_last
        self.batch_size = batch_size or (8 if self.device.type == "cuda" else 1)
        self.model = model.to(self.device).eval()
        self.transform = build_test_transform(size, self.preprocess, self.spec)
        self.backend: Optional[str] = None  # chosen by prepare(), for the job it is given
        self.backend_reason = ""
        self._runner: Optional[Runner] = None
        self._sha256: Optional[str] = None

    @classmethod
    def from_checkpoint(cls, checkpoint: Union[str, os.PathLike], *, size: Optional[int] = None,
                        **options: Any) -> "Predictor":
        """The model a checkpoint holds (an authors' release, or ours of any registered model and
        options), with its training size and pixel path unless given here: ``size`` and the
        fields of ``PreprocessConfig`` (``resize="opencv"``, ...; None: not given); the other
        ``options`` are the constructor's keywords."""
        flags = {name: options.pop(name) for name in PreprocessConfig.names() if name in options}
        model, trained = model_from_checkpoint(checkpoint)
        size, preprocess, origin = input_settings(trained, model.input_spec, size, **flags)
        return cls(model, size=size, preprocess=preprocess, checkpoint=checkpoint, origin=origin, **options)

    @property
    def checkpoint_sha256(self) -> Optional[str]:
        """The SHA-256 of the checkpoint file (computed once)."""
        if self._sha256 is None and self.checkpoint is not None:
            self._sha256 = file_sha256(self.checkpoint)
        return self._sha256

    def usable_backends(self) -> Tuple[str, ...]:
        """The backends this predictor can run: onnxruntime only with a checkpoint file to export
        and onnxruntime installed."""
        onnx = self.checkpoint is not None and onnxruntime_available()
        return tuple(name for name in BACKENDS if name != "onnxruntime" or onnx)

    def cached_backends(self) -> Tuple[str, ...]:
        """The backends whose set-up is already on disk: onnxruntime when the checkpoint's export
        is in the ONNX cache."""
        if self.checkpoint is None:
            return ()
        cached = cached_path(Path(self.checkpoint), self.checkpoint_sha256, self.onnx_cache).is_file()
        return ("onnxruntime",) if cached else ()

    def prepare(self, images: int = 1) -> Runner:
        """The backend, chosen for a job of ``images`` inputs (``auto``: the Winograd form when
        it saves the most once its set-up is paid, ``inference.backends``) and ready to run; an ONNX export
        happens here, once per checkpoint. Later calls return the same backend."""
        if self._runner is None:
            self.backend, self.backend_reason = choose_backend(
                self.requested_backend, self.device, self.amp, self.compile, Job(images, self.size),
                getattr(self.model, "cpu_backend_costs", None), self.usable_backends(), self.cached_backends())
            self.channels_last = self.backend == "winograd" or self.wants_channels_last and self.backend == "torch"
            if self.channels_last:
                self.model.to(memory_format=torch.channels_last)
            if self.backend == "onnxruntime":
                self._runner = onnx_runner(self.model, self.checkpoint, self.checkpoint_sha256, self.size,
                                           self.onnx_cache, self.notify)
            elif self.backend == "winograd":
                self._runner = winograd_runner(self.model)
            else:
                self._runner = torch_runner(self.model, self.compile)
        return self._runner

    @torch.inference_mode()
    def logits(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Normalised inputs (B, 3, S, S) and (B, C, S, S) (C: the spec's depth channels), as
        :attr:`transform` makes them -> float32 logits of the map output (B, 1, S, S) on the
        device; with ``tta`` the mean of the logits of the input and of its horizontal flip."""
        runner = self.prepare(rgb.shape[0])
        on_device = torch.device("cpu") if runner.backend == "onnxruntime" else self.device
        rgb = channels_last_if(self.channels_last, rgb.to(on_device, non_blocking=True))
        depth = channels_last_if(self.channels_last, depth.to(on_device, non_blocking=True))
        with autocast_context(on_device, self.amp):
            logits = runner(rgb, depth)
            if self.tta:
                logits = (logits + runner(rgb.flip(-1), depth.flip(-1)).flip(-1)) / 2
        return logits.float()

    def maps(self, logits: torch.Tensor, sizes: Sequence[Tuple[int, int]]) -> List[np.ndarray]:
        """The release's post-processing: uint8 maps, each at its own (H, W) in ``sizes``."""
        sizes = [tuple(int(v) for v in s) for s in sizes]
        return [image.cpu().numpy() for image in saliency_maps(logits, sizes, self.spec.align_corners)]

    def predict(self, rgb: Union[ImageInput, Sequence[ImageInput]], depth: Union[ImageInput, Sequence[ImageInput]],
                invert_depth: Optional[bool] = None, return_logits: bool = False):
        """Saliency map(s), uint8 (H, W) at each RGB's size; a list for lists of inputs.

        ``rgb``: path, PIL image or uint8 array (H, W, 3) in RGB order; ``depth``: path, PIL
        image or array (H, W) as stored (8-bit, 16-bit or float). ``invert_depth`` overrides the
        predictor's setting. With ``return_logits`` also the logits at the network's size,
        float32 (S, S) each."""
        single = not isinstance(rgb, (list, tuple))
        rgbs, depths = ([rgb], [depth]) if single else (list(rgb), list(depth))
        if len(rgbs) != len(depths):
            raise InputShapeError(f"{len(rgbs)} RGB images but {len(depths)} depth maps")
        invert = self.invert_depth if invert_depth is None else invert_depth
        self.prepare(len(rgbs))
        maps, logits_out = [], []
        for start in range(0, len(rgbs), self.batch_size):
            batch = [self._inputs(r, d, invert) for r, d in zip(rgbs[start:start + self.batch_size],
                                                               depths[start:start + self.batch_size])]
            logits = self.logits(torch.stack([b[0] for b in batch]), torch.stack([b[1] for b in batch]))
            maps += self.maps(logits, [b[2] for b in batch])
            logits_out += [item[0].cpu().numpy() for item in logits]
        if return_logits:
            return (maps[0], logits_out[0]) if single else (maps, logits_out)
        return maps[0] if single else maps

    def _inputs(self, rgb: ImageInput, depth: ImageInput, invert: bool):
        rgb_array_, depth_array_ = as_rgb(rgb), as_depth(depth)
        rgb_t, depth_t, _ = self.transform(rgb_array_, depth_array_, None, invert)
        return rgb_t, depth_t, rgb_array_.shape[:2]

    def settings(self) -> Dict[str, Any]:
        """Everything that decides the maps, for test_info.json (after :meth:`prepare`)."""
        runner = self.prepare()
        return {"model": {"name": self.model.model_name, **architecture(self.model.model_options)},
                "model_description": describe(self.model), "input_spec": self.spec.to_dict(),
                "size": self.size, "preprocess": self.preprocess.to_dict(),
                "release_pixel_path": self.preprocess == release_preprocess(self.spec) and self.size == self.spec.size,
                "settings_from": self.origin, "tta": self.tta, "amp": self.amp, **runner.info,
                "backend_reason": self.backend_reason, "channels_last": self.channels_last,
                "device": str(self.device), "batch_size": self.batch_size}
