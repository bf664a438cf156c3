"""Everything one training process works with (:class:`Session`), and how it saves itself: a
resumable checkpoint (at most one per point of the run) and the weights files of the run folder."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
from torch.utils.data import DataLoader, Subset

from utils.checkpoint import atomic_save, save_training_checkpoint, weights_export
from utils.dist import DistInfo
from utils.runtime import ResumableSampler

from .optim import pending_gradients
from .records import Recorder
from .state import TrainingState

clock = time.monotonic  # what checkpoint.every_minutes is measured with


@dataclass
class Session:
    """One training process's run (built by train.py's ``start``): the config, where it runs
    (``device``, ``dist``, ``run_dir``, the code's ``sha``), the data, the model (``net``: as
    trained, under DDP or torch.compile), its optimisation, the state and the records."""

    config: Dict[str, Any]
    device: torch.device
    dist: DistInfo
    run_dir: Path
    sha: str
    train_set: Subset
    sampler: ResumableSampler
    train_loader: DataLoader
    val_loader: Optional[DataLoader]
    model: torch.nn.Module
    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    state: TrainingState
    recorder: Recorder
    saved: Optional[Tuple[Tuple[int, int, int], Optional[Path]]] = None  # the last checkpoint's progress(), path
    saved_at: float = field(default_factory=lambda: clock())  # when it was written (or the session started)
    consistent: bool = False  # the state is resumable: between two batches of the training loop

    def save_checkpoint(self) -> Optional[Path]:
        """A resumable checkpoint of the state now, written by the main process (None on the
        others); between the batches of a step under DDP every rank must call it (``pending_gradients``)."""
        path, grads = None, pending_gradients(self.model, self.state.pending, self.dist)
        if self.dist.is_main:
            path = save_training_checkpoint(self.run_dir, self.model, self.optimizer, self.scheduler, self.scaler,
                                            self.state.to_dict(), self.config,
                                            self.config["checkpoint"]["keep_last"], self.sha, grads)
        self.saved, self.saved_at = (self.state.progress(), path), clock()
        return path

    def checkpoint_now(self) -> Optional[Path]:
        """A checkpoint holding the state now: the last one if it does, else a new one. Where a
        save gathers the ranks' gradients, every rank decides on the progress alone."""
        if self.saved and self.saved[0] == self.state.progress() and (
                self.saved[1] is None or self.saved[1].is_file() or self.gradients_apart()):
            return self.saved[1]
        return self.save_checkpoint()

    def checkpoint_due(self) -> bool:
        """Whether ``checkpoint.every_minutes`` have passed, on rank 0's clock, since the last
        checkpoint, with batches done since."""
        minutes = self.config["checkpoint"]["every_minutes"]
        return bool(self.dist.is_main and minutes and clock() - self.saved_at >= minutes * 60
                    and (self.saved is None or self.saved[0] != self.state.progress()))

    def gradients_apart(self) -> bool:
        """Whether the ranks' gradients differ now: under DDP between the batches of a step
        (``no_sync``), where only a save on every rank can hold them (``pending_gradients``)."""
        return self.dist.distributed and self.state.pending > 0

    def can_save_alone(self) -> bool:
        """Whether this rank alone may save now: between two batches, with no rank's gradients apart."""
        return self.consistent and not self.gradients_apart()

    def export(self, name: str, **meta: Any) -> None:
        """A weights file of ours in the run folder (model state, config, provenance; no optimizer
        state), written atomically by the main process."""
        if self.dist.is_main:
            atomic_save(weights_export(self.model.state_dict(), self.config, git_sha=self.sha, **meta),
                        self.run_dir / name)
