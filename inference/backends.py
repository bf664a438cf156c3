"""What computes the logits at test time: PyTorch, its Winograd form, or the ONNX export on
onnxruntime.

``choose_backend`` resolves ``auto`` for a :class:`Job` (of the backends in the model's
``cpu_backend_costs``, the one that saves the most once its set-up is paid) and refuses
impossible combinations; ``Runner`` is the callable ``(rgb, depth) -> logits`` of the chosen
backend with what test_info.json records about it. docs/inference.md, "Backends", gives the rule
and docs/performance.md the speeds.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Optional

import torch

from models import map_logits
from models.export import OnnxRuntimeModel, cached_onnx, cached_path, load_cached
from utils.errors import ConfigError

BACKENDS = ("auto", "torch", "onnxruntime", "winograd")
CPU_FP32_ONLY = ("onnxruntime", "winograd")  # backends that run on the CPU only, in fp32, eager


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
    if requested in CPU_FP32_ONLY:
        blockers = [text for text, present in (
            (f"--device {device.type}", device.type != "cpu"), (f"--amp {amp}", amp != "none"), ("--compile", compile),
            ("onnxruntime not installed", requested == "onnxruntime" and not onnxruntime_available())) if present]
        if blockers:
            raise ConfigError(f"--backend {requested} runs fp32 on the CPU only; not with: {', '.join(blockers)}")


def choose_backend(requested: str, device: torch.device, amp: str, compile: bool, job: Job,
                   costs: Optional[Dict[str, Dict[str, float]]] = None,
                   usable: Iterable[str] = BACKENDS, cached: Iterable[str] = ()) -> tuple[str, str]:
    """``(backend, why)``. ``auto`` on a CPU in fp32 without compile runs the backend of ``costs``
    that saves the most time on this job, once its set-up is paid; else PyTorch. ``costs`` is the
    model's ``cpu_backend_costs``: per backend, ``saving_per_image_256`` (seconds saved per
    256x256 image over PyTorch with channels_last) and ``setup_seconds`` (the Winograd conversion,
    the ONNX export), with ``cached_setup_seconds`` where a set-up done before is reused (the
    ONNX cache; ``cached`` names those backends). A backend not in ``usable`` or not in ``costs``
    is never chosen. A job of n images at SxS counts as n * (S / 256)^2 image-equivalents."""
    check_backend(requested, device, amp, compile)
    if requested != "auto":
        return requested, "asked for"
    if device.type != "cpu" or amp != "none" or compile:
        return "torch", "auto: " + (device.type if device.type != "cpu" else f"--amp {amp}" if amp != "none"
                                    else "--compile")
    measured = {name: cost for name, cost in (costs or {}).items() if name in set(usable)}
    if not measured:
        return "torch", "auto: no faster CPU backend was measured for this model"
    cached = set(cached)

    def setup(name: str) -> float:
        cost = measured[name]
        return cost.get("cached_setup_seconds", cost["setup_seconds"]) if name in cached else cost["setup_seconds"]

    def saving(name: str) -> float:
        return job.image_equivalents * measured[name]["saving_per_image_256"]

    best = max(measured, key=lambda name: saving(name) - setup(name))
    pays = saving(best) >= setup(best)
    how = ", reused" if best in cached else ""
    return (best if pays else "torch"), (
        f"auto: {job.images} images at {job.size}x{job.size} would save about {saving(best):.1f} s on {best}, "
        f"{'more' if pays else 'less'} than its set-up costs (about {setup(best):.1f} s{how})")


class Runner:
    """``(rgb, depth) -> logits`` on one backend; ``info`` is what test_info.json records."""

    def __init__(self, call: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], backend: str,
                 info: Optional[Dict[str, Any]] = None):
        self.call, self.backend, self.info = call, backend, {"backend": backend, **(info or {})}

    def __call__(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return self.call(rgb, depth)


def torch_runner(model: torch.nn.Module, compile: bool) -> Runner:
    net = torch.compile(model) if compile else model
    return Runner(lambda rgb, depth: map_logits(model, net(rgb, depth)), "torch", {"compile": compile})


def onnx_runner(model: torch.nn.Module, checkpoint: Path, digest: str, size: int,
                cache_dir: Optional[Path], notify: Callable[[str], None]) -> Runner:
    """The checkpoint's cached ONNX export on onnxruntime; an export is announced first (it writes
    a file of about 4 bytes per parameter)."""
    checkpoint = Path(checkpoint)
    path = cached_path(checkpoint, digest, cache_dir)
    tick = time.perf_counter()
    runtime: Optional[OnnxRuntimeModel] = load_cached(path, digest)
    how = "reused"
    if runtime is None:
        megabytes = sum(p.numel() for p in model.parameters()) * 4 / 1e6
        elsewhere = "" if cache_dir is not None else " (--onnx-cache DIR keeps exports elsewhere)"
        notify(f"exporting the model to ONNX for onnxruntime, once per checkpoint: "
               f"{path}, about {megabytes:.0f} MB{elsewhere}; --backend torch skips it")
        runtime, how = cached_onnx(checkpoint, model, size, digest=digest, cache_dir=cache_dir)
    seconds = round(time.perf_counter() - tick, 2)
    if how == "exported":
        notify(f"exported in {seconds:.0f} s: {runtime.path} ({runtime.path.stat().st_size / 1e6:.0f} MB)")
    return Runner(runtime, "onnxruntime", {"onnx_file": str(runtime.path), "onnx_cache": how,
                                           "onnx_seconds": seconds})


def winograd_runner(model: torch.nn.Module) -> Runner:
    """``model`` with its 3x3 convolutions of at least 128 channels in Winograd F(4x4, 3x3) form
    (``models/winograd.py``; converted in place, channels_last), on PyTorch."""
    from models.winograd import convert_to_winograd

    tick = time.perf_counter()
    model, report = convert_to_winograd(model.to(memory_format=torch.channels_last), inplace=True)
    info = {"winograd": f"F(4x4, 3x3) on {report.describe()} (those of >= 128 channels)",
            "prepare_seconds": round(time.perf_counter() - tick, 2)}
    return Runner(lambda rgb, depth: map_logits(model, model(rgb, depth)), "winograd", info)


def stderr_notice(text: str) -> None:
    print(f"note: {text}", file=sys.stderr, flush=True)


