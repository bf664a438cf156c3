"""ONNX export with PyTorch's supported exporter, and an onnxruntime model cached per checkpoint.

- ``export_onnx``: ``torch.onnx.export(..., dynamo=True)`` (the ``torch.export`` based exporter
  that PyTorch recommends; the TorchScript one is deprecated) with a dynamic batch, height and
  width (multiples of the model's ``input_spec.multiple``), written atomically; only the
  saliency map output is exported (``MapOutput``). An export whose batch came out fixed is an
  error, not a file that fails at the first other batch size (``ExactChunks`` keeps JL-DCF's
  ``chunk`` of its RGB-D batch dynamic).
- ``onnx_difference``: max |logits| difference between the file under onnxruntime and PyTorch.
- ``OnnxRuntimeModel``: ``(rgb, depth) -> logits`` of the map output, on onnxruntime's CPU
  provider (a test.py backend; docs/performance.md, "Inference").
- ``cached_onnx``: the export of a checkpoint, kept in ``cache_dir`` when given, else beside
  the checkpoint as ``<stem>.<sha256[:16]>.onnx`` (or in ``$XDG_CACHE_HOME/cdinet/onnx`` when
  that folder is not writable). The file records the checkpoint's full SHA-256 and is used only
  when it matches, so a changed checkpoint gets a new export (beside it, the stale one is
  deleted) and no export serves another checkpoint.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Iterable, Tuple

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from utils.checkpoint import file_sha256
from utils.errors import WeightsError
from utils.files import atomic_file

from .registry import map_logits

EXPORT_FORMAT = "cdinet-sod/onnx/1"  # bump when the export changes, so cached files are rebuilt


class MapOutput(nn.Module):
    """A model reduced to its saliency map output (``models.map_logits``): what is exported."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        # One batch size for both inputs (the exporter may otherwise trace them as two symbols,
        # and a model that concatenates them, as JL-DCF does, would see B1 + B2, not 2 B).
        torch._check(rgb.shape[0] == depth.shape[0])
        return map_logits(self.model, self.model(rgb, depth))


class ExactChunks(TorchFunctionMode):
    """While exporting: ``chunk(x, n, dim)`` of a dynamic size that is a multiple of ``n`` for
    every value the exporter allows (e.g. JL-DCF's ``torch.cat((rgb, depth)).chunk(2)``, size
    2 B) becomes ``n`` equal ``narrow`` slices: the same tensors, without ``chunk``'s guard on
    how many pieces come out, which would fix the batch. Any other ``chunk`` is left as it is."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in (torch.chunk, torch.Tensor.chunk):
            from torch.fx.experimental.symbolic_shapes import statically_known_true

            names = ("input", "chunks", "dim")
            bound = {**dict(zip(names, args)), **{("input" if k == "self" else k): v for k, v in kwargs.items()}}
            x, chunks, dim = bound["input"], bound["chunks"], bound.get("dim", 0)
            size = x.shape[dim]
            if isinstance(size, torch.SymInt) and statically_known_true(size % chunks == 0):
                return tuple(x.narrow(dim, i * (size // chunks), size // chunks) for i in range(chunks))
        return func(*args, **kwargs)


def example_inputs(model: nn.Module, batch: int, height: int, width: int, generator=None):
    """Random (rgb, depth) of the shapes ``model.input_spec`` asks for (``model``: a model or a
    registry entry)."""
    channels = model.input_spec.depth_channels
    return (torch.randn(batch, 3, height, width, generator=generator),
            torch.randn(batch, channels, height, width, generator=generator))


def export_onnx(model: nn.Module, path: Path, size: int, metadata: dict | None = None) -> None:
    """Export ``model``'s map output (CPU, eval) to ``path`` with dynamic batch/height/width;
    ``size`` is the example input's side (a multiple of ``model.input_spec.multiple``).
    ``metadata`` goes into the file's ``metadata_props``. Written to a temporary name, then renamed."""
    multiple = model.input_spec.multiple
    batch, height, width = torch.export.Dim("batch", min=1), torch.export.Dim("h", min=1), torch.export.Dim("w", min=1)
    axes = {0: batch, 2: multiple * height, 3: multiple * width}
    # Batch 2: torch.export would specialise an example batch of 1 to a constant.
    example = example_inputs(model, 2, size, size)
    with warnings.catch_warnings(), ExactChunks():
        # rgb and depth share their Dims on purpose; the exporter warns that it names each axis once.
        warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used")
        program = torch.onnx.export(MapOutput(model).eval(), example, None, input_names=["rgb", "depth"],
                                    output_names=["logits"], dynamic_shapes={"rgb": axes, "depth": axes},
                                    dynamo=True, verbose=False)
    fixed = [value.name for value in program.model.graph.inputs if isinstance(value.shape[0], int)]
    if fixed:  # torch.onnx fell back to an export that specialised the example's batch
        raise RuntimeError(f"the export fixed the batch size of {', '.join(fixed)} to {example[0].shape[0]}: "
                           f"the model's graph does not trace with a dynamic batch")
    program.model.metadata_props.update({"format": EXPORT_FORMAT, **(metadata or {})})
    with atomic_file(path) as tmp:
        program.save(str(tmp), external_data=False)


class OnnxRuntimeModel:
    """An ONNX file of ``export_onnx`` as a callable ``(rgb, depth) -> logits`` (CPU tensors)."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.path = Path(path)
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @property
    def metadata(self) -> dict:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    @property
    def dynamic_batch(self) -> bool:
        """Whether every input takes any batch size (an export of ``export_onnx`` does)."""
        return all(not isinstance(value.shape[0], int) for value in self.session.get_inputs())

    def __call__(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        inputs = {"rgb": rgb.float().contiguous().numpy(), "depth": depth.float().contiguous().numpy()}
        (logits,) = self.session.run(None, inputs)
        return torch.from_numpy(logits)


def onnx_difference(path: Path, model: nn.Module, shapes: Iterable[Tuple[int, int, int]]) -> float:
    """Max |logits(onnxruntime) - logits(PyTorch)| over random inputs of ``(batch, h, w)`` shapes."""
    runtime = OnnxRuntimeModel(path)
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for batch, height, width in shapes:
        rgb, depth = example_inputs(model, batch, height, width, generator)
        with torch.inference_mode():
            expected = map_logits(model, model.eval()(rgb, depth))
        worst = max(worst, float(np.abs(runtime(rgb, depth).numpy() - expected.numpy()).max()))
    return worst


def cache_folder(checkpoint: Path, cache_dir: Path | None = None) -> Path:
    """Where the export of ``checkpoint`` goes: ``cache_dir`` when given, else beside the
    checkpoint if that folder is writable, else the user's cache."""
    if cache_dir is not None:
        folder = Path(cache_dir)
    elif os.access(checkpoint.parent, os.W_OK):
        return checkpoint.parent
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cdinet" / "onnx"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cached_path(checkpoint: Path, digest: str, cache_dir: Path | None = None) -> Path:
    """The file name of the export of ``checkpoint`` (SHA-256 ``digest``)."""
    return cache_folder(checkpoint, cache_dir) / f"{checkpoint.stem}.{digest[:16]}.onnx"


def load_cached(path: Path, digest: str) -> OnnxRuntimeModel | None:
    """The export at ``path`` on onnxruntime if it is one of the checkpoint with ``digest``."""
    if not path.is_file():
        return None
    try:
        runtime = OnnxRuntimeModel(path)
    except Exception:  # a damaged or foreign file: export again
        return None
    expected = {"format": EXPORT_FORMAT, "checkpoint_sha256": digest}
    matches = all(runtime.metadata.get(key) == value for key, value in expected.items())
    # An export with a fixed batch fails at any other batch size: it is exported again.
    return runtime if matches and runtime.dynamic_batch else None


def cached_onnx(checkpoint: Path, model: nn.Module, size: int, digest: str | None = None,
                cache_dir: Path | None = None) -> Tuple[OnnxRuntimeModel, str]:
    """The ONNX export of ``model`` (built from ``checkpoint``, whose SHA-256 is ``digest``),
    loaded once on onnxruntime: ``(runtime, "reused" | "exported")``; ``runtime.path`` is the file.

    The name and the file's metadata carry the checkpoint's SHA-256; a file whose metadata does
    not match (another checkpoint, an older export format, a damaged file) is exported again.
    """
    checkpoint = Path(checkpoint)
    digest = digest or file_sha256(checkpoint)
    path = cached_path(checkpoint, digest, cache_dir)
    runtime = load_cached(path, digest)
    if runtime is not None:
        return runtime, "reused"
    try:
        export_onnx(model, path, size, metadata={"format": EXPORT_FORMAT, "checkpoint_sha256": digest})
    except Exception as error:
        raise WeightsError(f"ONNX export of {checkpoint} to {path} failed ({type(error).__name__}: "
                           f"{str(error).splitlines()[0] if str(error) else ''}); use --backend torch") from None
    if path.parent == checkpoint.parent:  # exports of this file's earlier contents (a shared cache keeps all)
        stale = re.compile(re.escape(checkpoint.stem) + r"\.[0-9a-f]{16}\.onnx$")
        for other in path.parent.iterdir():
            if other != path and stale.match(other.name):
                other.unlink(missing_ok=True)
    return OnnxRuntimeModel(path), "exported"
