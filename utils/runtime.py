"""Pieces of the training and inference runtime that train.py and test.py share."""
from __future__ import annotations

import random
from contextlib import nullcontext
from typing import Callable, Iterator, Optional

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .config import AMP_MODES
from .errors import ConfigError

AMP_DTYPES = dict(zip(AMP_MODES, (None, torch.bfloat16, torch.float16)))  # train.amp, test.py --amp


def autocast_context(device: torch.device, amp: str):
    """``torch.autocast`` for ``amp`` in {bf16, fp16}; a no-op context for ``none``."""
    if amp not in AMP_DTYPES:
        raise ConfigError(f"amp must be one of {', '.join(AMP_DTYPES)}, got {amp!r}")
    dtype = AMP_DTYPES[amp]
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def derive_seed(*parts: int) -> int:
    """A 32-bit seed from integers, e.g. ``(seed, epoch, rank)``: NumPy's ``SeedSequence``
    mixes them, so distinct tuples do not collide the way ``seed * 1000 + epoch * 10 + rank``
    does from 10 ranks on."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch. The datasets' albumentations pipelines reseed themselves
    from ``torch.initial_seed()``, so this reaches them too (in the main process and, through
    the DataLoader's base seed, in every worker)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_loader(dataset: Dataset, batch_size: int, workers: int, device: torch.device,
                sampler=None, shuffle: bool = False,
                worker_init_fn: Optional[Callable[[int], None]] = None) -> DataLoader:
    """The one DataLoader recipe: pinned memory on CUDA, workers kept off the critical path;
    ``worker_init_fn`` runs first in each worker (train.py: ``utils.preemption.ignore_signals``).

    With workers, OpenCV runs sequentially (``cv2.setNumThreads(1)``, as PyTorch does for torch in
    its workers), so ``workers`` processes use ``workers`` cores rather than ``workers`` x cores
    threads. It is set here, in the parent, because the workers inherit it: calling it in a
    forked worker whose parent had used OpenCV's thread pool deadlocks."""
    if workers > 0:
        cv2.setNumThreads(1)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, shuffle=shuffle if sampler is None else False,
        num_workers=workers, pin_memory=device.type == "cuda", drop_last=False,
        persistent_workers=False, prefetch_factor=4 if workers > 0 else None, worker_init_fn=worker_init_fn,
    )


class ResumableSampler(DistributedSampler):
    """PyTorch's ``DistributedSampler`` that can skip the batches an interrupted epoch has done.

    Used with one replica too (``num_replicas=1, rank=0``), so single- and multi-process runs
    shuffle alike: the order of epoch ``e`` depends on ``seed`` and ``e`` only.
    """

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int, shuffle: bool = True):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.skip = 0

    def skip_first(self, count: int) -> None:
        """Skip ``count`` samples of this rank in the next epoch only."""
        self.skip = count

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())[self.skip:]
        self.skip = 0
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples - self.skip


def channels_last_if(enabled: bool, tensor: torch.Tensor) -> torch.Tensor:
    return tensor.contiguous(memory_format=torch.channels_last) if enabled else tensor

