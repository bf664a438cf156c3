"""The optimizer and its schedule (``optim.*``), and the gradients summed over the batches of one
step (``train.accumulate``, JL-DCF's ``iter_size``): stepping on them, and keeping them in a
checkpoint taken between those batches."""
from __future__ import annotations

import contextlib
from typing import Any, Dict, List

import torch
import torch.distributed as torch_dist

from utils.dist import DistInfo
from utils.errors import TrainingError


def build_optimizer(model: torch.nn.Module, config: Dict[str, Any], world_size: int):
    """Adam on all parameters; step decay ``lr * decay ** (epoch // every)`` with epochs from 1."""
    optim = config["optim"]
    lr = optim["lr"]
    if optim["lr_scaling"] == "linear":
        lr *= config["train"]["batch_size"] * world_size / 4
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=tuple(optim["betas"]),
                                 weight_decay=optim["weight_decay"])
    decay, every = optim["lr_decay"], optim["lr_decay_every"]
    # LambdaLR's index e is the 0-based epoch; the release's epoch number is e + 1.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: decay ** ((e + 1) // every))
    return optimizer, scheduler


def optimizer_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, model: torch.nn.Module,
                   clip: float) -> None:
    """JL-DCF's ``optimizer.step(); optimizer.zero_grad()`` on the summed gradients: unscaled
    (fp16's GradScaler), each element clamped to ``clip`` (``optim.grad_clip_value``; 0: not
    clamped), stepped, then zeroed."""
    scaler.unscale_(optimizer)
    if clip:
        torch.nn.utils.clip_grad_value_(model.parameters(), clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


def gradient_sync(net: torch.nn.Module, dist: DistInfo, stepping: bool):
    """Under DDP, the batches that do not step run under ``no_sync()``: each rank sums their
    gradients locally, and the backward of the batch that steps all-reduces the sums once."""
    return contextlib.nullcontext() if stepping or not dist.distributed else net.no_sync()


def pending_gradients(model: torch.nn.Module, pending: int, dist: DistInfo) -> List[Dict[str, torch.Tensor]]:
    """The gradients summed over the ``pending`` batches, by parameter name, one dict per rank in
    rank order ([] with none pending), for the checkpoint. Under DDP the ranks' sums differ until
    the step all-reduces them: every rank takes part and rank 0 gathers them (the others get [])."""
    if not pending:
        return []
    local = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    if not dist.distributed:
        return [local]
    ranks: List[Dict[str, torch.Tensor]] = [{} for _ in range(dist.world_size)]
    for name, grad in local.items():
        parts = [torch.empty_like(grad, memory_format=torch.contiguous_format) for _ in ranks] \
            if dist.is_main else None
        torch_dist.gather(grad.contiguous(), parts, dst=0)
        for rank, part in enumerate(parts or []):
            ranks[rank][name] = part.cpu()
    return ranks if dist.is_main else []


def restore_gradients(model: torch.nn.Module, saved: List[Dict[str, torch.Tensor]], dist: DistInfo) -> None:
    """This rank's pending gradients from a checkpoint's :func:`pending_gradients`, back on the
    parameters, so the step they belong to sums the same batches as in an uninterrupted run."""
    if not saved:
        return
    if len(saved) != dist.world_size:
        raise TrainingError(f"the checkpoint was saved between the batches of an optimizer step by {len(saved)} "
                            f"process(es), each with its own summed gradients, not {dist.world_size}: resume it "
                            f"with {len(saved)} (python train.py for 1, else torchrun --nproc_per_node={len(saved)})")
    for name, param in model.named_parameters():
        if name in saved[dist.rank]:
            param.grad = saved[dist.rank][name].to(param)
