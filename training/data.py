"""The training data of a config: the sources of ``data.train``, each scanned once, their depth
polarity decided (``invert_depth: auto`` resolved), and the held-out validation split."""
from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch.utils.data import DataLoader, Subset

from datasets import DatasetSource, RGBDSODDataset, build_test_transform, build_train_transform
from datasets.polarity import AUTO, decide_and_say
from models import get_entry
from utils.config import AugmentConfig, PreprocessConfig
from utils.dist import DistInfo
from utils.errors import ConfigError
from utils.preemption import ignore_signals
from utils.runtime import ResumableSampler, make_loader


def resolve_sources(config: Dict[str, Any]) -> List[DatasetSource]:
    """``data.train`` entries as DatasetSources; relative paths are under ``data.root``. An entry's
    ``invert_depth`` may still be ``auto`` here (see :func:`decide_depth`)."""
    root = Path(config["data"]["root"])
    return [DatasetSource(root / entry["root"], list_file=root / entry["list_file"] if entry["list_file"] else None,
                          invert_depth=entry["invert_depth"], name=entry["name"])
            for entry in config["data"]["train"]]


def decide_depth(dataset: RGBDSODDataset, announce: bool, model: str, near: str, holes: str) -> Dict[str, Any]:
    """Each source's ``invert_depth`` for a model expecting ``near``, as
    ``datasets.polarity.decide_and_say`` decides and says it from the source's samples
    (``holes``: data.preprocess.depth_holes), set on the dataset's samples. Returns the
    decisions for log.jsonl, by source index."""
    decisions = {}
    for index, source in enumerate(dataset.sources):
        decision = decide_and_say(
            f"data.train.{index} ({source.root})", source.invert_depth, dataset.samples_of(index), near, model,
            lambda invert: f"set data.train.{index}.invert_depth: {str(invert).lower()} (or {AUTO})",
            "data.preprocess.depth_holes: far" if holes == "keep" else None, announce)
        dataset.set_invert_depth(decision.invert, source=index)
        decisions[str(index)] = {"root": str(source.root), **decision.to_dict()}
    return decisions


def split_validation(names: List[str], config: Dict[str, Any]) -> List[int]:
    """Indices held out for validation: the stems of ``data.val_list``, or a seeded fraction."""
    data = config["data"]
    if data["val_list"]:
        path = Path(data["val_list"])
        if not path.is_file():
            raise ConfigError(f"data.val_list: file not found: {path}")
        wanted = {line.strip() for line in path.read_text().splitlines() if line.strip()}
        unknown = wanted - set(names)
        if unknown:
            raise ConfigError(f"data.val_list {path}: stems not in the training data: {', '.join(sorted(unknown)[:8])}")
        return [i for i, name in enumerate(names) if name in wanted]
    count = round(data["val_fraction"] * len(names))
    generator = torch.Generator().manual_seed(config["train"]["seed"])
    return sorted(torch.randperm(len(names), generator=generator)[:count].tolist())


def build_datasets(config: Dict[str, Any], announce: bool = True) -> Tuple[Subset, Subset, Dict[str, Any]]:
    """Training subset (the release's augmentation), validation subset (the test-time transform,
    the one ``inference.Predictor`` feeds; empty with ``data.val_fraction: 0``, the release) and
    the depth decisions of the sources."""
    entry = get_entry(config["model"]["name"])
    augment = AugmentConfig.from_dict(config["data"]["augment"])
    preprocess = PreprocessConfig.from_dict(config["data"]["preprocess"])
    spec = entry.input_spec  # normalisation and depth channels
    train_full = RGBDSODDataset(resolve_sources(config), build_train_transform(augment, preprocess, spec),
                                skip_bad=config["data"]["skip_bad"], skip_option="--set data.skip_bad=true",
                                mirror=config["data"]["mirror"])
    depth = decide_depth(train_full, announce, entry.title, spec.near, preprocess.depth_holes)
    val_full = copy.copy(train_full)  # the same samples, read with the test-time transform, not mirrored
    val_full.transform, val_full.mirror = build_test_transform(augment.size, preprocess, spec), False
    val_indices = split_validation([s.name for s in train_full.samples], config)
    held_out = set(val_indices)  # a held-out sample's mirrored copy is held out too
    train_indices = [i for i in range(len(train_full)) if i % len(train_full.samples) not in held_out]
    if not train_indices:
        raise ConfigError("no training samples left after holding out the validation split")
    return Subset(train_full, train_indices), Subset(val_full, val_indices), depth


def build_loaders(config: Dict[str, Any], train_set: Subset, val_set: Subset, dist: DistInfo, device: torch.device
                  ) -> Tuple[ResumableSampler, DataLoader, Optional[DataLoader]]:
    """The training sampler (this rank's share, resumable mid-epoch) and loader, and the
    validation loader (None without a validation split). Workers ignore ``checkpoint.signals``:
    the main process decides when to stop."""
    train_cfg, workers = config["train"], config["data"]["workers"]
    sampler = ResumableSampler(train_set, dist.world_size, dist.rank, seed=train_cfg["seed"])
    quiet = functools.partial(ignore_signals, tuple(config["checkpoint"]["signals"]))
    train_loader = make_loader(train_set, train_cfg["batch_size"], workers, device, sampler, worker_init_fn=quiet)
    val_loader = make_loader(val_set, config["val"]["batch_size"], workers, device,
                             worker_init_fn=quiet) if len(val_set) else None
    return sampler, train_loader, val_loader
