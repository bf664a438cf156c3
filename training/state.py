"""Where a run stands (:class:`TrainingState`, saved in every training checkpoint) and how far
it will go (``train.epochs``, ``train.max_steps``, ``train.accumulate``)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple


@dataclass
class TrainingState:
    """Where a run stands; a training checkpoint holds it as a dict (``to_dict``).

    ``epochs_done``: completed epochs; ``step``: optimizer steps done; ``batch_in_epoch``,
    ``epoch_loss_sum``, ``epoch_images``: the part of the next epoch already done (after Ctrl-C),
    so a resumed epoch's loss averages all of its batches; ``pending``, ``pending_loss``: the
    batches whose gradients are summed for the next step (``train.accumulate``) and their losses'
    sum, carried over an epoch's end as JL-DCF's ``aveGrad``; ``best_Sm`` / ``best_epoch``: the
    held-out S-measure behind best.pth."""

    epochs_done: int = 0
    step: int = 0
    batch_in_epoch: int = 0
    epoch_loss_sum: float = 0.0
    epoch_images: int = 0
    pending: int = 0
    pending_loss: float = 0.0
    best_Sm: Optional[float] = None
    best_epoch: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "TrainingState":
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})

    def add_batch(self, loss: float, images: int) -> None:
        """A batch done: its loss counts in its epoch's and, its gradients summed, in the next step's."""
        self.batch_in_epoch += 1
        self.epoch_loss_sum += loss * images
        self.epoch_images += images
        self.pending += 1
        self.pending_loss += loss

    def add_step(self) -> float:
        """An optimizer step on the pending batches; returns its loss, their losses' mean (the
        loss whose gradient it took: each batch's is divided by ``train.accumulate``)."""
        loss = self.pending_loss / self.pending
        self.step, self.pending, self.pending_loss = self.step + 1, 0, 0.0
        return loss

    def progress(self) -> Tuple[int, int, int]:
        """(epochs done, batches of the next, steps): equal for two states at the same point of a run."""
        return self.epochs_done, self.batch_in_epoch, self.step

    def end_epoch(self, epoch: int) -> float:
        """Close ``epoch``; returns its mean loss."""
        loss = self.epoch_loss_sum / max(self.epoch_images, 1)
        self.epochs_done, self.batch_in_epoch, self.epoch_loss_sum, self.epoch_images = epoch, 0, 0.0, 0
        return loss

    def at_max_steps(self, train_cfg: Dict[str, Any]) -> bool:
        """Whether ``train.max_steps`` (0: none) is reached."""
        return bool(train_cfg["max_steps"] and self.step >= train_cfg["max_steps"])

    def finished(self, train_cfg: Dict[str, Any]) -> Optional[str]:
        """Why a run standing here has nothing left to do under ``train_cfg``, or None."""
        if self.batch_in_epoch:
            return None
        if self.epochs_done >= train_cfg["epochs"]:
            return f"it finished epoch {self.epochs_done} of train.epochs {train_cfg['epochs']}"
        if self.at_max_steps(train_cfg):
            return f"it reached train.max_steps {train_cfg['max_steps']} (step {self.step})"
        return None


def planned_epochs(train_cfg: Dict[str, Any], batches_per_epoch: int) -> int:
    """The epochs the run will reach: ``train.epochs``, or fewer when ``train.max_steps`` stops it
    (a step every ``train.accumulate`` batches, counted across epochs)."""
    if not train_cfg["max_steps"]:
        return train_cfg["epochs"]
    batches = train_cfg["max_steps"] * train_cfg["accumulate"]
    return min(train_cfg["epochs"], math.ceil(batches / max(batches_per_epoch, 1)))


def batches_this_epoch(batches: int, state: TrainingState, train_cfg: Dict[str, Any]) -> int:
    """The batches this epoch will run (the progress bar's length): its remaining ``batches``,
    fewer when ``train.max_steps`` ends the run first (a step every ``train.accumulate`` batches)."""
    max_steps = train_cfg["max_steps"]
    if not max_steps:
        return batches
    return min(batches, max((max_steps - state.step) * train_cfg["accumulate"] - state.pending, 0))
