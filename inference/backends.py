"""What computes the logits at test time: PyTorch, or the ONNX export on onnxruntime.

``choose_backend`` resolves ``auto`` for a :class:`Job` (an export only where it pays back) and
refuses impossible combinations; ``Runner`` is the callable ``(rgb, depth) -> logits`` of the
chosen backend with what test_info.json records about it. docs/inference.md, "Backends", gives
the rule and docs/performance.md the measured speeds.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import torch

from models.export import OnnxRuntimeModel, cached_onnx, cached_path, load_cached
from utils.errors import ConfigError

BACKENDS = ("auto", "torch", "onnxruntime")


# When the ONNX export pays back (docs/performance.md, "Inference"), measured on 2-core CPUs with
# the VGG16 model: the export takes 17-30 s, loading a cached export about 1.5 s, and onnxruntime
# then saves 0.10-0.14 s per 256x256 image over PyTorch with channels_last (Intel Xeon AVX-512:
# 0.858 vs 0.998 s; AMD EPYC AVX2: 1.21 vs 1.31 s). A job of n images at SxS counts as
# n * (S / 256)^2 image-equivalents; the export pays back from about 200 of them.
ONNX_EXPORT_SECONDS = 25.0
ONNX_LOAD_SECONDS = 1.5
ONNX_SAVING_PER_IMAGE_256 = 0.12


@dataclass(frozen=True)
class Job:
    """What a backend is prepared for: ``images`` inputs at ``size`` x ``size``."""

    images: int
    size: int

    @property
    def image_equivalents(self) -> float:
        """The job in 256x256 images (forward time grows with the pixel count)."""
        return self.images * (self.size / 256) ** 2


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def check_backend(requested: str, device: torch.device, amp: str, compile: bool) -> None:
    """An impossible choice is a ConfigError naming what stands in its way."""
    if requested not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {requested!r}")
    if requested == "onnxruntime":
        blockers = [text for text, present in (
            (f"--device {device.type}", device.type != "cpu"), (f"--amp {amp}", amp != "none"),
            ("--compile", compile), ("onnxruntime not installed", not onnxruntime_available())) if present]
        if blockers:
            raise ConfigError(f"--backend onnxruntime runs fp32 on the CPU only; not with: {', '.join(blockers)}")


def choose_backend(requested: str, device: torch.device, amp: str, compile: bool, job: Job,
                   cached: bool) -> tuple[str, str]:
    """``(backend, why)``. ``auto`` runs onnxruntime where it is exact and faster (CPU, fp32, no
    compile, onnxruntime installed) **and** the job is large enough for the export (or, with a
    ``cached`` export, its loading) to pay back; else PyTorch."""
    check_backend(requested, device, amp, compile)
    if requested != "auto":
        return requested, "asked for"
    if device.type != "cpu" or amp != "none" or compile or not onnxruntime_available():
        blocker = (device.type if device.type != "cpu" else f"--amp {amp}" if amp != "none"
                   else "--compile" if compile else "onnxruntime not installed")
        return "torch", f"auto: {blocker}"
    saving = job.image_equivalents * ONNX_SAVING_PER_IMAGE_256
    cost, what = (ONNX_LOAD_SECONDS, "loading its cached export") if cached else (ONNX_EXPORT_SECONDS, "an export")
    backend = "onnxruntime" if saving >= cost else "torch"
    return backend, (f"auto: {job.images} images at {job.size}x{job.size} ({job.image_equivalents:.0f} at 256x256) "
                     f"would save about {saving:.0f} s on onnxruntime, {'more' if saving >= cost else 'less'} than "
                     f"{what} costs (about {cost:.0f} s)")


class Runner:
    """``(rgb, depth) -> logits`` on one backend; ``info`` is what test_info.json records."""

    def __init__(self, call: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], backend: str,
                 info: Optional[Dict[str, Any]] = None):
        self.call, self.backend, self.info = call, backend, {"backend": backend, **(info or {})}

    def __call__(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return self.call(rgb, depth)


def torch_runner(model: torch.nn.Module, compile: bool) -> Runner:
    return Runner(torch.compile(model) if compile else model, "torch", {"compile": compile})


def onnx_runner(model: torch.nn.Module, checkpoint: Path, digest: str, size: int,
                cache_dir: Optional[Path], notify: Callable[[str], None]) -> Runner:
    """The checkpoint's cached ONNX export on onnxruntime; an export is announced first (it takes
    about 20-30 s on 2 CPU cores and writes a file of about 4 bytes per parameter)."""
    checkpoint = Path(checkpoint)
    path = cached_path(checkpoint, digest, cache_dir)
    tick = time.perf_counter()
    runtime: Optional[OnnxRuntimeModel] = load_cached(path, digest)
    how = "reused"
    if runtime is None:
        megabytes = sum(p.numel() for p in model.parameters()) * 4 / 1e6
        elsewhere = "" if cache_dir is not None else " (--onnx-cache DIR keeps exports elsewhere)"
        notify(f"exporting the model to ONNX for onnxruntime, once per checkpoint (about 20-30 s on 2 cores): "
               f"{path}, about {megabytes:.0f} MB{elsewhere}; --backend torch skips it")
        runtime, how = cached_onnx(checkpoint, model, size, digest=digest, cache_dir=cache_dir)
    seconds = round(time.perf_counter() - tick, 2)
    if how == "exported":
        notify(f"exported in {seconds:.0f} s: {runtime.path} ({runtime.path.stat().st_size / 1e6:.0f} MB)")
    return Runner(runtime, "onnxruntime", {"onnx_file": str(runtime.path), "onnx_cache": how,
                                           "onnx_seconds": seconds})


def stderr_notice(text: str) -> None:
    print(f"note: {text}", file=sys.stderr, flush=True)


