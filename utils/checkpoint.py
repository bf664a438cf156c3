"""Checkpoint files, all of them: reading any, writing ours atomically and code-free.

Reading (:func:`read_checkpoint`) always uses ``torch.load(..., weights_only=True,
map_location="cpu")``, so a file from a stranger cannot run code and a CUDA checkpoint loads on
a CPU-only machine; every failure is one :class:`WeightsError` line that says what is wrong.
Writing (:func:`atomic_save`) goes to a temporary name, fsync'ed and renamed (``os.replace``),
so a crash or a ``kill -9`` during a write leaves the previous file intact. Our files hold
tensors and plain Python values only (RNG states as tensors, the config as a dict): training
checkpoints (:func:`save_training_checkpoint`, enough to resume a run exactly) and weights
files (:func:`weights_export`). Mapping a state dict onto the model (layouts, strictness) is
``models/weights.py``'s job.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import random
import re
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from .errors import WeightsError
from .files import atomic_write

CHECKPOINT_PATTERN = re.compile(r"^ckpt_e(\d{3,})_s(\d{7,})\.pth$")
TRAIN_FORMAT = "cdinet-sod/train-checkpoint/1"
WEIGHTS_FORMAT = "cdinet-sod/weights/1"


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` through a temporary file, fsync'ed, and an atomic rename."""
    atomic_write(path, lambda stream: torch.save(obj, stream), durable=True)


def file_sha256(path: Union[str, os.PathLike]) -> str:
    """The SHA-256 of a file (hex), read in 1 MiB blocks: what records and caches name a
    checkpoint by."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checkpoint(path: Union[str, os.PathLike]) -> Any:
    """The content of a checkpoint file, loaded safely; one-line errors that tell a missing
    file, a folder, a truncated or foreign file and a refused (code-carrying) pickle apart."""
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path} is a directory, not a weights file")
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only load failed" in str(error).lower():
            raise WeightsError(f"{path} holds Python objects other than tensors and plain values; "
                               f"refused: loading it could run code (weights_only=True)") from None
        raise WeightsError(f"{path} is not a PyTorch checkpoint or is truncated ({_first_line(error)})") from None
    except Exception as error:  # torch.load's failures on foreign data have no common type
        raise WeightsError(f"{path} is not a PyTorch checkpoint or is truncated ({_first_line(error)})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:120] if text else type(error).__name__


def capture_rng_state() -> Dict[str, Any]:
    """Python, NumPy, torch (and CUDA) generator states, as tensors and plain values."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(_as_tuples(state["python"]))
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value: Any) -> Any:
    # random.setstate wants tuples; a round trip through some loaders yields lists.
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def checkpoint_name(epoch: int, step: int) -> str:
    """``ckpt_e{epoch}_s{step}.pth``: epoch and global step at the moment of saving."""
    return f"ckpt_e{epoch:03d}_s{step:07d}.pth"


def list_checkpoints(run_dir: Path) -> List[Path]:
    """Training checkpoints in ``run_dir``, oldest first (by global step)."""
    found = []
    for path in Path(run_dir).glob("ckpt_e*_s*.pth"):
        match = CHECKPOINT_PATTERN.match(path.name)
        if match:
            found.append((int(match.group(2)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Optional[Path]:
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None


def prune_checkpoints(run_dir: Path, keep_last: int) -> None:
    """Delete all but the ``keep_last`` newest training checkpoints (``best.pth`` is separate)."""
    for path in list_checkpoints(run_dir)[:-keep_last] if keep_last > 0 else []:
        path.unlink(missing_ok=True)


def git_sha() -> str:
    """The project's commit, or ``unknown`` outside a git checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parents[1],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def save_training_checkpoint(run_dir: Path, model, optimizer, scheduler, scaler, state: Dict[str, Any],
                             config: Dict[str, Any], keep_last: int, sha: str,
                             grads: Sequence[Dict[str, torch.Tensor]] = ()) -> Path:
    """Everything a resume needs, written atomically; keeps the ``keep_last`` newest. Named
    after the epoch in progress when saved mid-epoch (Ctrl-C), else the last epoch done.
    ``sha``: the project's commit (:func:`git_sha`, read once per run); ``grads``: the gradients
    summed over the batches of a step not yet taken (``train.accumulate``), name -> tensor, one
    dict per process in rank order (none between steps)."""
    epoch = state["epochs_done"] + (1 if state["batch_in_epoch"] else 0)
    path = Path(run_dir) / checkpoint_name(epoch, state["step"])
    atomic_save({
        "format": TRAIN_FORMAT, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "state": dict(state),
        "grads": list(grads), "rng": capture_rng_state(), "config": config, "git_sha": sha,
    }, path)
    prune_checkpoints(run_dir, keep_last)
    return path


def read_training_checkpoint(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """A full training checkpoint of this project (see :func:`save_training_checkpoint`)."""
    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != TRAIN_FORMAT:
        raise WeightsError(f"{path} is not a training checkpoint of this project (weights files "
                           f"load with test.py --checkpoint, or as model.init to fine-tune)")
    return checkpoint


def weights_export(model_state: Dict[str, torch.Tensor], config: Dict[str, Any], **meta: Any) -> Dict[str, Any]:
    """The release file: model weights plus the config and provenance, no optimizer state."""
    return {"format": WEIGHTS_FORMAT, "model": model_state, "config": config, **meta}
