"""What computes the logits at test time: PyTorch, or the ONNX export on onnxruntime.

``choose_backend`` resolves ``auto`` and refuses impossible combinations; ``Runner`` is the
callable ``(rgb, depth) -> logits`` of the chosen backend with what test_info.json records
about it. docs/inference.md, "Backends", gives the measured speeds.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import torch

from models.export import OnnxRuntimeModel, cached_onnx, cached_path, load_cached
from utils.errors import ConfigError

BACKENDS = ("auto", "torch", "onnxruntime")


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def choose_backend(requested: str, device: torch.device, amp: str, compile: bool) -> tuple[str, str]:
    """``(backend, why)``: ``requested``, with ``auto`` resolved to onnxruntime where it is exact
    and faster (CPU, fp32, no compile, onnxruntime installed), else torch. An impossible choice
    is a ConfigError naming what stands in its way."""
    if requested not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {requested!r}")
    have_onnxruntime = onnxruntime_available()
    if requested == "onnxruntime":
        blockers = [text for text, present in (
            (f"--device {device.type}", device.type != "cpu"), (f"--amp {amp}", amp != "none"),
            ("--compile", compile), ("onnxruntime not installed", not have_onnxruntime)) if present]
        if blockers:
            raise ConfigError(f"--backend onnxruntime runs fp32 on the CPU only; not with: {', '.join(blockers)}")
        return "onnxruntime", "asked for"
    if requested == "torch":
        return "torch", "asked for"
    if device.type != "cpu":
        return "torch", f"auto: {device.type}"
    if amp != "none" or compile:
        return "torch", "auto: " + ("--compile" if compile else f"--amp {amp}")
    if not have_onnxruntime:
        return "torch", "auto: onnxruntime not installed"
    return "onnxruntime", "auto: CPU, fp32 (onnxruntime is faster than PyTorch there)"


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


