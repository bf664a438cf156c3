"""The one place that records a run: TensorBoard, log.jsonl and the console (:class:`Recorder`),
and every rank's parameter checksum for the end record."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import torch
import torch.distributed as torch_dist
from torch.utils.tensorboard import SummaryWriter

from utils.dist import DistInfo


class Recorder:
    """TensorBoard events (``<run>/tensorboard``), log.jsonl lines and console lines. Only the
    main process records; on the others every method does nothing."""

    def __init__(self, run_dir: Path, active: bool, scalars_every: int):
        self.run_dir, self.active, self.scalars_every = run_dir, active, scalars_every
        self.writer = SummaryWriter(run_dir / "tensorboard") if active else None

    def say(self, text: str) -> None:
        if self.active:
            print(text, flush=True)

    def event(self, **record: Any) -> None:
        """One line of log.jsonl."""
        if self.active:
            with open(self.run_dir / "log.jsonl", "a") as log:
                log.write(json.dumps(record) + "\n")

    def scalars(self, step: int, values: Dict[str, float], every_step: bool = False) -> None:
        """TensorBoard scalars at ``step`` (``every_step``: only every log.scalars_every steps)."""
        if self.active and (not every_step or step % self.scalars_every == 0):
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, step)

    def image(self, tag: str, grid: torch.Tensor, step: int) -> None:
        if self.active:
            self.writer.add_image(tag, grid, step)

    def close(self) -> None:
        if self.active:
            self.writer.close()


def parameter_checksum(model: torch.nn.Module) -> List[float]:
    """Two float64 sums over all parameters, cheap to compare across ranks and files."""
    with torch.no_grad():
        params = [p.detach().double() for p in model.parameters()]
        return [sum(p.sum().item() for p in params), sum(p.abs().sum().item() for p in params)]


def gather_checksums(model: torch.nn.Module, dist: DistInfo, device: torch.device) -> List[List[float]]:
    """Every rank's parameter checksum (identical when DDP kept the replicas in sync)."""
    local = torch.tensor(parameter_checksum(model), dtype=torch.float64, device=device)
    if not dist.distributed:
        return [local.tolist()]
    gathered = [torch.zeros_like(local) for _ in range(dist.world_size)]
    torch_dist.all_gather(gathered, local)
    return [g.tolist() for g in gathered]
