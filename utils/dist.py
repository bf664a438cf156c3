"""torchrun / DistributedDataParallel set-up from the environment (nanoGPT, MAE's misc.py).

Without torchrun (no ``RANK`` variable) everything here is a no-op: one process, rank 0.
NCCL is used on CUDA, gloo on CPU. The code never sets ``CUDA_VISIBLE_DEVICES``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Sequence

import torch
import torch.distributed as torch_dist

from .errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA when available; under torchrun each rank takes GPU ``LOCAL_RANK``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' asked for, but CUDA is not available (use --device cpu)")
        if name == "cuda":
            name = f"cuda:{local_rank}"
    return torch.device(name)


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group that torchrun describes in RANK / WORLD_SIZE / LOCAL_RANK."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch_dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info


def local_rank_from_env() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def cleanup_distributed() -> None:
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def agree_max(values: Sequence[int], device: torch.device) -> List[int]:
    """Each value's maximum over all ranks (one all_reduce), so that every rank takes the same
    decision, e.g. to stop at this step when any rank was asked to; the values themselves
    without torchrun."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return list(values)
    tensor = torch.tensor(list(values), dtype=torch.int64, device=device)
    torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.MAX)
    return tensor.tolist()


def barrier() -> None:
    """Wait for every rank (e.g. until rank 0 has written a checkpoint); a no-op without torchrun."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
