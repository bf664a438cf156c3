"""``RGBDSODDataset``: one torch Dataset for training and testing over one or more sources.

Several sources are concatenated, which is how the 2185 (NJU2K + NLPR) and 2985 (+ DUT-RGBD)
training protocols are built. Each item is a dict:

- ``rgb``: float32 (3, S, S), ImageNet-normalised (by the transform);
- ``depth``: float32 (1, S, S): 8-bit depth / 255 (the release; see ``PreprocessConfig``),
  optionally inverted, then mean .485 / std .229;
- ``gt``: float32 (1, S, S) in [0, 1], when ``load_gt`` (training and validation);
- ``name``: the file stem; ``dataset``: the source's name;
- ``size``: int64 tensor ``[H, W]`` (batches to (B, 2)), the size a test-time map is written
  at: the GT's size when a GT file exists for the stem (as the release), else the RGB's.

Augmentation randomness: with ``augmentation_seed`` set (train.py sets it per epoch), sample
``i`` is augmented with a seed derived from ``(augmentation_seed, i)`` alone, so an epoch's
augmentations do not depend on worker count, batch order or where an interrupted epoch
resumed. Without it, each worker's transform draws from a stream seeded by
``torch.initial_seed()`` (see ``transforms.JointTransform``). The dataset and its transforms
pickle for DataLoader workers. OpenCV's own threads
are left as they are: ``cv2.setNumThreads`` in a forked worker can deadlock; ``bench/loader.py``
measures the loader.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from utils.cli import first_few
from utils.errors import DatasetError
from utils.images import image_size, read_depth_raw, read_gt, read_rgb
from utils.runtime import derive_seed

from .pairing import BadSample, DatasetSource, Sample, SourceLike, as_source, pair_samples, scan_source

log = logging.getLogger(__name__)

Transform = Callable[[np.ndarray, np.ndarray, Union[np.ndarray, None], bool, Union[int, None]],
                     tuple[torch.Tensor, torch.Tensor, Union[torch.Tensor, None]]]
_SHOWN = 3  # bad samples named in one error line


def load_sample(sample: Sample, load_gt: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[int, int]]:
    """Read one sample: RGB uint8 (H, W, 3), depth as stored (``read_depth_raw``; any size, as
    DUT-RGBD's), GT uint8 or None, and the output size (H, W): the GT's when it exists, else
    the RGB's. With ``load_gt`` a GT of another size than the RGB is a DatasetError (a
    transposed or mismatched mask would train silently wrong); without it only the GT's header
    is read, for its size.
    """
    rgb = read_rgb(sample.rgb)
    depth = read_depth_raw(sample.depth)
    if sample.gt is None:
        return rgb, depth, None, rgb.shape[:2]
    if not load_gt:
        return rgb, depth, None, image_size(sample.gt)
    gt = read_gt(sample.gt)
    if gt.shape != rgb.shape[:2]:
        raise DatasetError(f"{sample.gt}: GT is {gt.shape[1]}x{gt.shape[0]} but RGB "
                           f"{sample.rgb} is {rgb.shape[1]}x{rgb.shape[0]} (WxH)")
    return rgb, depth, gt, gt.shape


def bad_samples_message(bad: Sequence[BadSample]) -> str:
    """One line summarising ``bad`` (the first few reasons, then a count)."""
    datasets = ", ".join(sorted({b.dataset for b in bad}))
    return f"{len(bad)} bad sample(s) in {datasets}: {first_few([b.reason for b in bad], _SHOWN, '; ')}"


class RGBDSODDataset(Dataset):
    """RGB-D SOD samples from ``<root>/{RGB,depth,GT}`` folders, paired by stem.

    Args:
        sources: a DatasetSource or a root path, or a sequence of them (concatenated).
        transform: ``transform(rgb, depth, gt, invert_depth) -> (rgb, depth, gt)`` tensors,
            e.g. ``build_train_transform(AugmentConfig())`` or ``build_test_transform(spec.size)``.
        load_gt: every source must have a GT folder and every stem a GT file, and items carry
            ``gt`` (training, validation). If False (writing maps), GT folders are optional and
            may be incomplete: a GT file only sets the size its stem's map is written at.
        skip_bad: instead of raising on the first problem, read every sample once at
            construction and drop the bad ones; ``self.skipped`` lists them with the reason and
            a warning names them. Without it, structural problems (missing folder or file,
            empty folder or file, unpaired stem) raise at construction and undecodable files
            or a GT/RGB size mismatch raise when the sample is loaded.
        skip_option: how the caller's user turns ``skip_bad`` on, named in the error
            (train.py: ``--set data.skip_bad=true``, test.py: ``--skip-bad``).
        mirror: twice the items: item ``i + len(samples)`` is sample ``i`` flipped left-right
            (RGB, depth and GT, before the transform; ``data.mirror``).

    Attributes: ``samples`` (list of :class:`Sample`, with paths), ``skipped`` (list of
    :class:`BadSample`), ``sources``, ``load_gt``, ``augmentation_seed``.
    """

    augmentation_seed: int | None = None

    def __init__(self, sources: Union[SourceLike, Sequence[SourceLike]], transform: Transform,
                 load_gt: bool = True, skip_bad: bool = False, skip_option: str = "skip_bad=True",
                 mirror: bool = False):
        if isinstance(sources, (DatasetSource, str)) or hasattr(sources, "__fspath__"):
            sources = [sources]
        self.sources = [as_source(s) for s in sources]
        if not self.sources:
            raise DatasetError("no dataset source given")
        self.transform = transform
        self.load_gt = load_gt
        self.mirror = mirror
        self.samples: list[Sample] = []
        self.skipped: list[BadSample] = []
        for index, source in enumerate(self.sources):
            samples, bad = pair_samples(scan_source(source, require_gt=load_gt))
            self.samples += [dataclasses.replace(sample, source=index) for sample in samples]
            self.skipped += bad
        if self.skipped and not skip_bad:
            raise DatasetError(bad_samples_message(self.skipped) + f"; {skip_option} skips them, "
                               "`python -m datasets.check ROOT` audits every file")
        if skip_bad:
            self._drop_unloadable()
            if self.skipped:
                log.warning("skipped %s", bad_samples_message(self.skipped))
        if not self.samples:
            roots = ", ".join(str(s.root) for s in self.sources)
            raise DatasetError(f"{roots}: no usable samples")

    def samples_of(self, source: int) -> list[Sample]:
        """The samples of ``self.sources[source]``."""
        return [sample for sample in self.samples if sample.source == source]

    def set_invert_depth(self, invert: bool, source: int | None = None) -> None:
        """Invert (or stop inverting) the depth of the samples of ``self.sources[source]`` (None:
        of every sample): the per-source decision of ``datasets.polarity``."""
        self.samples = [dataclasses.replace(sample, invert_depth=invert) if source in (None, sample.source)
                        else sample for sample in self.samples]

    def _drop_unloadable(self) -> None:
        """Read every sample once; move those that fail into ``self.skipped``."""
        kept = []
        for sample in tqdm(self.samples, desc="checking samples", unit="sample",
                           disable=None if len(self.samples) >= 200 else True):
            try:
                load_sample(sample, self.load_gt)
            except DatasetError as exc:
                self.skipped.append(BadSample(sample.dataset, sample.name, "load error", str(exc)))
            else:
                kept.append(sample)
        self.samples = kept

    def __len__(self) -> int:
        return len(self.samples) * (2 if self.mirror else 1)

    def __getitem__(self, index: int) -> dict:
        index = index + len(self) if index < 0 else index
        if not 0 <= index < len(self):  # iteration by index stops here (the mirrored items wrap around)
            raise IndexError(f"item {index} of a dataset of {len(self)}")
        sample = self.samples[index % len(self.samples)]
        rgb, depth, gt, size = load_sample(sample, self.load_gt)
        if index >= len(self.samples):  # the mirrored copy
            rgb, depth = np.ascontiguousarray(rgb[:, ::-1]), np.ascontiguousarray(depth[:, ::-1])
            gt = None if gt is None else np.ascontiguousarray(gt[:, ::-1])
        seed = None if self.augmentation_seed is None else derive_seed(self.augmentation_seed, index)
        rgb_t, depth_t, gt_t = self.transform(rgb, depth, gt, sample.invert_depth, seed)
        item = {"rgb": rgb_t, "depth": depth_t, "name": sample.name, "dataset": sample.dataset,
                "size": torch.tensor(size, dtype=torch.long)}
        if gt_t is not None:
            item["gt"] = gt_t
        return item
