"""Train a registered model (CDINet, BBS-Net, ...) with its authors' recipe in a plain PyTorch loop.

Examples:
  python train.py --config configs/cdinet.yaml                     # the release's recipe, 2985 protocol
  python train.py --config configs/bbsnet.yaml --set data.root=/data/rgbd   # BBS-Net, its authors' recipe
  python train.py --config configs/cdinet_2185.yaml --set data.root=/data/rgbd
  python train.py --config configs/cdinet_val.yaml                 # + held-out validation, best.pth
  python train.py --config configs/demo.yaml --device cpu           # synthetic data, a few minutes
  python train.py --config configs/cdinet.yaml --set train.amp=bf16 --set train.channels_last=true
  python train.py --config configs/cdinet.yaml --set model.init=CDINet.pth   # fine-tune the release
  python train.py --config configs/cdinet.yaml --print-config       # every key with its value, and stop
  torchrun --nproc_per_node=4 train.py --config configs/cdinet.yaml # DistributedDataParallel
  python train.py --resume runs/cdinet                              # continue a run with its saved config
  python train.py --resume runs/cdinet/ckpt_e040_s0029840.pth

The run folder (log.dir) receives config.yaml (the resolved config), ckpt_e*_s*.pth (full,
resumable state), weights_e<epoch>.pth at checkpoint.weights_epochs (the release keeps epochs
85, 90, ..., 120), weights_final.pth (the last epoch's weights: the result), best.pth (with
validation only: best held-out S-measure), log.jsonl (one JSON line per epoch, and events),
TensorBoard events (tensorboard --logdir runs) and, with log.save_init, weights_init.pth (the
untrained model). docs/training.md describes every key.

SIGTERM, SIGUSR1 (checkpoint.signals) and Ctrl-C stop the run cleanly: the batch in flight
finishes, a checkpoint is saved and the command to continue is printed. Exit status: 0 done;
1 an error (after a checkpoint of the last completed step, where training had started);
75 stopped by checkpoint.signals (a requeue script's test); 130 Ctrl-C.
"""
from __future__ import annotations

import utils.cpu_threads  # noqa: F401  (before torch: OpenMP's wait policy)

# isort: split
import argparse
import contextlib
import copy
import dataclasses
import functools
import json
import math
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, NoReturn, Optional, Tuple

import torch
import torch.distributed as torch_dist
import yaml
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from datasets import DatasetSource, RGBDSODDataset, build_test_transform, build_train_transform, unnormalise
from datasets.pairing import pair_samples, scan_source
from datasets.polarity import AUTO, decide_and_say
from eval import SODEvaluator
from models import build_from_config, config_from_dict, describe, get_entry, load_config, load_weights, map_logits
from models.losses import compute_loss
from models.postprocess import saliency_map
from models.weights import start_weights_kind
from utils.checkpoint import (
    atomic_save,
    git_sha,
    latest_checkpoint,
    list_checkpoints,
    read_training_checkpoint,
    restore_rng_state,
    save_training_checkpoint,
    weights_export,
)
from utils.cli import one_line, run_cli
from utils.config import DEVICES, AugmentConfig, PreprocessConfig, save_config
from utils.dist import (
    DistInfo,
    agree_max,
    barrier,
    cleanup_distributed,
    init_distributed,
    local_rank_from_env,
    select_device,
)
from utils.errors import CDINetError, ConfigError, DatasetError
from utils.preemption import StopSignals, exit_status, ignore_signals
from utils.runtime import (
    ResumableSampler,
    autocast_context,
    channels_last_if,
    derive_seed,
    make_loader,
    seed_everything,
)

DEFAULT_CONFIG = "configs/cdinet.yaml"
# A run folder holds a run when it has one of these (config.yaml alone is a run that never started).
RUN_FILES = ("ckpt_e*_s*.pth", "weights_*.pth", "best.pth", "log.jsonl", "tensorboard/events.out.tfevents.*")
clock = time.monotonic  # what checkpoint.every_minutes is measured with
# Errors in the training loop after which its last completed step is saved: a bad file, a full
# disk, out of memory, a dead DataLoader worker (other exceptions are bugs and propagate as they are).
RESUMABLE_ERRORS = (CDINetError, OSError, RuntimeError)


class TrainingError(CDINetError):
    """A run that cannot start or go on; the message says why and what to do."""


class NonFiniteLoss(TrainingError):
    pass


class AgreedStop(Exception):
    """Every rank stops at this step boundary (:func:`step_boundary`): ``code`` a stop request
    (``utils.preemption.StopSignals.code``), or ``failure`` (1, 2 for a bad data file) reading a
    batch, ``error`` being this rank's own (None where another rank failed)."""

    def __init__(self, code: int, failure: int, error: Optional[Exception]):
        super().__init__(code, failure)
        self.code, self.failure, self.error = code, failure, error


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train an RGB-D salient object detection model (CDINet, BBS-Net, ...; model.name).",
        epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help=f"YAML config (default: {DEFAULT_CONFIG}; ignored with --resume, "
                        "which uses the run's saved config)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.epochs=60 (repeatable)")
    parser.add_argument("--device", choices=DEVICES, help="shortcut for --set train.device=...")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config (YAML) and stop")
    parser.add_argument("--resume", nargs="?", const="latest", metavar="RUN_DIR|CKPT",
                        help="continue a run with the config saved in its checkpoint: the latest checkpoint "
                        "of this run folder (bare --resume: log.dir of --config), or this checkpoint file")
    parser.add_argument("--allow-changes", action="store_true",
                        help="with --resume: apply the --set overrides to the saved config (recorded in log.jsonl); "
                        "without it, --set and --resume together are refused")
    return parser


# ----------------------------------------------------------------------------- data
def resolve_sources(config: Dict[str, Any]) -> List[DatasetSource]:
    """``data.train`` entries as DatasetSources; relative paths are under ``data.root``. An entry's
    ``invert_depth`` may still be ``auto`` here (see :func:`decide_depth`)."""
    root = Path(config["data"]["root"])
    return [DatasetSource(root / entry["root"], list_file=root / entry["list_file"] if entry["list_file"] else None,
                          invert_depth=entry["invert_depth"], name=entry["name"])
            for entry in config["data"]["train"]]


def decide_depth(sources: List[DatasetSource], announce: bool, model: str, near: str, holes: str) -> Dict[str, Any]:
    """Each training source's ``invert_depth`` for a model expecting ``near``, as
    ``datasets.polarity.decide_and_say`` decides and says it (``holes``: data.preprocess.depth_holes).
    Returns the decisions for log.jsonl, by source index."""
    decisions = {}
    for index, source in enumerate(sources):
        samples, _ = pair_samples(scan_source(source, require_gt=True))
        decision = decide_and_say(
            f"data.train.{index} ({source.root})", source.invert_depth, samples, near, model,
            lambda invert: f"set data.train.{index}.invert_depth: {str(invert).lower()} (or {AUTO})",
            "data.preprocess.depth_holes: far" if holes == "keep" else None, announce)
        source.invert_depth = decision.invert
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


def build_datasets(config: Dict[str, Any], announce: bool = True):
    """Training subset (release augmentation), validation subset (test transform; empty with
    ``data.val_fraction: 0``, the release) and the depth decisions of the sources."""
    entry = get_entry(config["model"]["name"])
    sources = resolve_sources(config)
    depth = decide_depth(sources, announce, entry.title, entry.input_spec.near,
                         config["data"]["preprocess"]["depth_holes"])
    augment = AugmentConfig.from_dict(config["data"]["augment"])
    preprocess = PreprocessConfig.from_dict(config["data"]["preprocess"])
    spec = entry.input_spec  # normalisation and depth channels
    train_full = RGBDSODDataset(sources, build_train_transform(augment, preprocess, spec),
                                skip_bad=config["data"]["skip_bad"], skip_option="--set data.skip_bad=true",
                                mirror=config["data"]["mirror"])
    val_full = copy.copy(train_full)  # the same samples, read with the test-time transform, not mirrored
    val_full.transform, val_full.mirror = build_test_transform(augment.size, preprocess, spec), False
    val_indices = split_validation([s.name for s in train_full.samples], config)
    held_out = set(val_indices)  # a held-out sample's mirrored copy is held out too
    train_indices = [i for i in range(len(train_full)) if i % len(train_full.samples) not in held_out]
    if not train_indices:
        raise ConfigError("no training samples left after holding out the validation split")
    return Subset(train_full, train_indices), Subset(val_full, val_indices), depth


# ----------------------------------------------------------------------------- optimisation
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


# ----------------------------------------------------------------------------- state and records
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


class Recorder:
    """The one place that records a run: TensorBoard, log.jsonl and the console. Only the main
    process records; on the others every method does nothing."""

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


def export_weights(model: torch.nn.Module, config: Dict[str, Any], path: Path, sha: str, **meta: Any) -> None:
    """A weights file of ours (model state, config, provenance; no optimizer state), atomically."""
    atomic_save(weights_export(model.state_dict(), config, git_sha=sha, **meta), path)


# ----------------------------------------------------------------------------- one epoch, validation
def train_one_epoch(session: "Session", label: str, stops: StopSignals) -> float:
    """One pass over the training loader (``label``: ``epoch 3/120``), updating the state; before
    each batch the ranks agree on going on, saving or stopping (:func:`step_boundary`). The
    progress bar counts batches and shows each one's loss; ``train/loss`` is each optimizer
    step's (:func:`train_step`). Returns this session's images/s."""
    state, train_cfg = session.state, session.config["train"]
    session.net.train()
    batches = iter(session.train_loader)
    total = batches_this_epoch(len(session.train_loader), state, train_cfg)
    bar = tqdm(total=total, desc=label, unit="batch", disable=not session.dist.is_main, dynamic_ncols=True,
               leave=False)
    seen, start = 0, time.perf_counter()
    session.consistent = True
    with bar:
        while True:
            batch, error = next_batch(batches)
            if batch is None and error is None:
                break
            step_boundary(session, stops, error)
            loss_value, step_loss = train_step(session, batch, label)
            seen += batch["rgb"].shape[0]
            rate = seen / (time.perf_counter() - start)
            bar.update()
            bar.set_postfix(loss=f"{loss_value:.4f}", img_s=f"{rate:.1f}")
            if step_loss is not None:
                session.recorder.scalars(state.step, {"train/loss": step_loss,
                                                      "train/lr": session.optimizer.param_groups[0]["lr"],
                                                      "train/images_per_s": rate}, every_step=True)
            if train_cfg["max_steps"] and state.step >= train_cfg["max_steps"]:
                break
    session.consistent = False  # the epoch's end (scheduler, validation, files) is no resumable point
    return seen / (time.perf_counter() - start)


def batches_this_epoch(batches: int, state: TrainingState, train_cfg: Dict[str, Any]) -> int:
    """The batches this epoch will run (the progress bar's length): its remaining ``batches``,
    fewer when ``train.max_steps`` ends the run first (a step every ``train.accumulate`` batches)."""
    max_steps = train_cfg["max_steps"]
    if not max_steps:
        return batches
    return min(batches, max((max_steps - state.step) * train_cfg["accumulate"] - state.pending, 0))


def next_batch(batches) -> Tuple[Optional[Dict[str, Any]], Optional[Exception]]:
    """The next batch, or the error reading it raised (the ranks then stop together), or
    (None, None) at the end of the epoch."""
    try:
        return next(batches), None
    except StopIteration:
        return None, None
    except RESUMABLE_ERRORS as error:  # handled at the step boundary
        return None, error


def step_boundary(session: "Session", stops: StopSignals, error: Optional[Exception]) -> None:
    """Between two batches, where the state is resumable, every rank takes the same decision (one
    all_reduce): stop (raise :class:`AgreedStop`) when any rank was asked to by a signal or
    failed to read its batch (``error``); else save a checkpoint when ``checkpoint.every_minutes``
    have passed on rank 0's clock; else go on."""
    failure = 0 if error is None else 2 if isinstance(error, DatasetError) else 1
    code, failure, due = agree_max([stops.code, failure, int(session.checkpoint_due())], session.device)
    if code or failure:
        raise AgreedStop(code, failure, error)
    if due:
        path = session.checkpoint_now()
        session.recorder.event(event="checkpoint", reason="checkpoint.every_minutes", step=session.state.step,
                               checkpoint=str(path))


def train_step(session: "Session", batch: Dict[str, Any], label: str) -> Tuple[float, Optional[float]]:
    """One batch, JL-DCF's ``iter_size`` as ``train.accumulate``: its loss divided by
    ``accumulate`` is backpropagated into the gradients summed since the last optimizer step, and
    the batch that completes ``accumulate`` of them steps (:func:`optimizer_step`; 1: every
    batch). Returns the batch's loss and, where it stepped, the step's. The state is resumable
    before and after, not while the summed gradients or the weights change (``session.consistent``
    off)."""
    config, device, state = session.config, session.device, session.state
    train_cfg = config["train"]
    stepping = state.pending + 1 >= train_cfg["accumulate"]
    rgb = channels_last_if(train_cfg["channels_last"], batch["rgb"].to(device, non_blocking=True))
    depth = channels_last_if(train_cfg["channels_last"], batch["depth"].to(device, non_blocking=True))
    gt = batch["gt"].to(device, non_blocking=True)
    with gradient_sync(session, stepping):
        with autocast_context(device, train_cfg["amp"]):
            logits = session.net(rgb, depth)
        loss = compute_loss(logits, gt, config["loss"])
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise NonFiniteLoss(
                f"non-finite loss ({loss_value}) at {label.split('/')[0]}, step {state.step + 1}; "
                f"the run stopped without saving, its last good checkpoint is kept "
                f"(try a lower optim.lr or train.amp=none)")
        if state.pending:  # a backward that fails half-way spoils the pending batches' sum
            session.consistent = False
        session.scaler.scale(loss / train_cfg["accumulate"]).backward()
    if stepping:
        session.consistent = False
        optimizer_step(session)
    state.add_batch(loss_value, rgb.shape[0])
    step_loss = state.add_step() if stepping else None
    session.consistent = True
    return loss_value, step_loss


def gradient_sync(session: "Session", stepping: bool):
    """Under DDP, the batches that do not step run under ``no_sync()``: each rank sums their
    gradients locally, and the backward of the batch that steps all-reduces the sums once."""
    return contextlib.nullcontext() if stepping or not session.dist.distributed else session.net.no_sync()


def optimizer_step(session: "Session") -> None:
    """JL-DCF's ``optimizer.step(); optimizer.zero_grad()`` on the summed gradients: unscaled
    (fp16's GradScaler), each element clamped to ``optim.grad_clip_value`` (0: not clamped),
    stepped, then zeroed."""
    optimizer, scaler, clip = session.optimizer, session.scaler, session.config["optim"]["grad_clip_value"]
    scaler.unscale_(optimizer)
    if clip:
        torch.nn.utils.clip_grad_value_(session.net.parameters(), clip)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


def pending_gradients(session: "Session") -> List[Dict[str, torch.Tensor]]:
    """The gradients summed over the pending batches, by parameter name, one dict per rank in
    rank order ([] with none pending), for the checkpoint. Under DDP the ranks' sums differ until
    the step all-reduces them: every rank takes part and rank 0 gathers them (the others get [])."""
    if not session.state.pending:
        return []
    local = {name: p.grad for name, p in session.model.named_parameters() if p.grad is not None}
    if not session.dist.distributed:
        return [local]
    ranks: List[Dict[str, torch.Tensor]] = [{} for _ in range(session.dist.world_size)]
    for name, grad in local.items():
        parts = [torch.empty_like(grad, memory_format=torch.contiguous_format) for _ in ranks] \
            if session.dist.is_main else None
        torch_dist.gather(grad.contiguous(), parts, dst=0)
        for rank, part in enumerate(parts or []):
            ranks[rank][name] = part.cpu()
    return ranks if session.dist.is_main else []


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


@torch.inference_mode()
def validate(model, loader, config, device) -> tuple[Dict[str, float], Optional[torch.Tensor]]:
    """S-measure, MAE and max F (eval/, PySODMetrics protocol) on the held-out split.

    Predictions get the release's test post-processing and are compared with the GT at the
    training resolution. Also returns an RGB / depth / GT / prediction grid of the first batch.
    """
    from torchvision.utils import make_grid  # here: importing torchvision costs ~2 s at start-up

    model.eval()
    evaluator = SODEvaluator()
    grid = None
    for batch in loader:
        rgb = channels_last_if(config["train"]["channels_last"], batch["rgb"].to(device))
        depth = channels_last_if(config["train"]["channels_last"], batch["depth"].to(device))
        with autocast_context(device, config["train"]["amp"]):
            logits = map_logits(model, model(rgb, depth))
        maps = [saliency_map(l, batch["gt"].shape[-2:], model.input_spec.align_corners).cpu() for l in logits]
        for pred, gt in zip(maps, batch["gt"]):
            evaluator.update(pred.numpy(), gt[0].numpy())
        if grid is None:
            rgb_img, depth_img = unnormalise(batch["rgb"][:4], batch["depth"][:4], model.input_spec)
            columns = [rgb_img, depth_img.repeat(1, 3, 1, 1), batch["gt"][:4].repeat(1, 3, 1, 1),
                       torch.stack(maps[:4]).float().div(255)[:, None].repeat(1, 3, 1, 1)]
            grid = make_grid(torch.stack(columns, 1).flatten(0, 1), nrow=4)
    results = evaluator.results()
    return {"Sm": results["Sm"], "MAE": results["MAE"], "maxFm": results["maxFm"]}, grid


# ----------------------------------------------------------------------------- which run
def locate_resume_checkpoint(resume: str, config_path: Optional[str], overrides: List[str]) -> Path:
    """The checkpoint that ``--resume`` names: a file, the latest of a run folder, or (bare
    ``--resume``) the latest of the run folder (``log.dir``) of ``--config`` and ``--set``."""
    if resume == "latest":
        run_dir = Path(load_config(config_path or DEFAULT_CONFIG, overrides)["log"]["dir"])
    elif Path(resume).is_dir():
        run_dir = Path(resume)
    elif Path(resume).is_file():
        return Path(resume)
    else:
        raise TrainingError(f"--resume {resume}: no such run folder or checkpoint file")
    path = latest_checkpoint(run_dir)
    if path is None:
        found = run_files(run_dir)
        holds = f", only {file_list(found)} (the run stopped before its first checkpoint)" if found else ""
        raise TrainingError(f"--resume: no checkpoint (ckpt_e*_s*.pth) in {run_dir}{holds}"
                            + ("; start a new run with --set log.dir=..." if found else ""))
    return path


def run_files(run_dir: Path) -> List[str]:
    """The files of a run in ``run_dir`` (``RUN_FILES``), relative to it, sorted."""
    return sorted({str(path.relative_to(run_dir)) for pattern in RUN_FILES for path in Path(run_dir).glob(pattern)})


def file_list(names: List[str], shown: int = 5) -> str:
    """``a, b, c (and 4 more)``."""
    more = f" (and {len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def resume_command(run_dir: Path, dist: DistInfo) -> str:
    """The command that continues the run of ``run_dir``."""
    launcher = "torchrun <the same options> train.py" if dist.distributed else "python train.py"
    return f"{launcher} --resume {shlex.quote(str(run_dir))}"


def resolve_run(args: argparse.Namespace) -> tuple[Dict[str, Any], Optional[Path], Optional[Dict[str, Any]]]:
    """The config, and for ``--resume`` the checkpoint's path and content.

    A resumed run continues with the config saved in its checkpoint, never silently with
    another one: a ``--set`` other than ``log.dir`` (which names the run folder) is refused
    with ``--resume`` unless ``--allow-changes`` says so; ``--config`` is not read then.
    """
    overrides = list(args.set) + ([f"train.device={args.device}"] if args.device else [])
    if args.resume is None:
        return load_config(args.config or DEFAULT_CONFIG, overrides), None, None
    changes = [item for item in args.set if item.split("=", 1)[0].strip() != "log.dir"]
    if changes and not args.allow_changes:
        raise TrainingError(f"--resume continues the run with the config saved in its checkpoint; "
                            f"--set {changes[0]} would change it: add --allow-changes to apply it "
                            f"(recorded in log.jsonl) or start a new run")
    path = locate_resume_checkpoint(args.resume, args.config, overrides)
    checkpoint = read_training_checkpoint(path)
    config = config_from_dict(checkpoint["config"], overrides, where=f"{path} (saved config)")
    return config, path, checkpoint


def finished(checkpoint: Dict[str, Any], config: Dict[str, Any]) -> Optional[str]:
    """Why the run of ``checkpoint`` has nothing left to do under ``config``, or None."""
    state, train_cfg = TrainingState.from_dict(checkpoint["state"]), config["train"]
    if state.batch_in_epoch:
        return None
    if state.epochs_done >= train_cfg["epochs"]:
        return f"it finished epoch {state.epochs_done} of train.epochs {train_cfg['epochs']}"
    if train_cfg["max_steps"] and state.step >= train_cfg["max_steps"]:
        return f"it reached train.max_steps {train_cfg['max_steps']} (step {state.step})"
    return None


def check_files(config: Dict[str, Any]) -> None:
    """Files a new run needs, checked before any data is read or worker started."""
    init, weights = config["model"]["init"], (config["model"].get("backbone") or {}).get("weights", "none")
    if init and not Path(init).is_file():
        raise ConfigError(f"model.init: file not found: {init}")
    start_weights_kind(weights, error=ConfigError)


def check_new_run_folder(run_dir: Path, dist: DistInfo) -> None:
    """One run per folder: a new run never writes into a folder that holds another run's files
    (``RUN_FILES``: checkpoints, weights, log, TensorBoard events), so best.pth, log.jsonl and
    the events are never mixed."""
    found = run_files(run_dir)
    if not found:
        return
    ways = (f"continue it with `{resume_command(run_dir, dist)}` or start a new run in another folder"
            if list_checkpoints(run_dir) else
            "it has no checkpoint (ckpt_e*_s*.pth) to --resume from: start a new run in another folder")
    raise TrainingError(f"run folder {run_dir} already holds a run ({file_list(found)}); {ways} with --set log.dir=...")


def planned_epochs(train_cfg: Dict[str, Any], batches_per_epoch: int) -> int:
    """The epochs the run will reach: ``train.epochs``, or fewer when ``train.max_steps`` stops it
    (a step every ``train.accumulate`` batches, counted across epochs)."""
    if not train_cfg["max_steps"]:
        return train_cfg["epochs"]
    batches = train_cfg["max_steps"] * train_cfg["accumulate"]
    return min(train_cfg["epochs"], math.ceil(batches / max(batches_per_epoch, 1)))


def build_initial_model(config: Dict[str, Any]) -> torch.nn.Module:
    """The model ``model.name`` with its start weights as its options say (``model.backbone.weights``),
    or, with ``model.init`` (fine-tuning), every weight loaded strictly from that file (the
    authors' release or a checkpoint of ours); the optimizer then starts fresh."""
    init = config["model"]["init"]
    model = build_from_config(config["model"], pretrained=not init)
    if init:
        layout = load_weights(model, init)
        print(f"model initialised from {init} ({layout} layout)", flush=True)
    return model


def parameter_checksum(model: torch.nn.Module) -> List[float]:
    """Two float64 sums over all parameters, cheap to compare across ranks and files."""
    with torch.no_grad():
        params = [p.detach().double() for p in model.parameters()]
        return [sum(p.sum().item() for p in params), sum(p.abs().sum().item() for p in params)]


def gather_checksums(model, dist: DistInfo, device) -> List[List[float]]:
    """Every rank's parameter checksum (identical when DDP kept the replicas in sync)."""
    local = torch.tensor(parameter_checksum(model), dtype=torch.float64, device=device)
    if not dist.distributed:
        return [local.tolist()]
    gathered = [torch.zeros_like(local) for _ in range(dist.world_size)]
    torch_dist.all_gather(gathered, local)
    return [g.tolist() for g in gathered]


# ----------------------------------------------------------------------------- the run
@dataclass
class Session:
    """Everything one training process works with, built by :func:`start`."""

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
    saved_at: float = 0.0  # clock() when it was written (or the session started)
    consistent: bool = False  # the state is resumable: between two batches of the training loop

    def save_checkpoint(self) -> Optional[Path]:
        """A resumable checkpoint of the state now, written by the main process (None on the
        others); between the batches of a step under DDP every rank must call it (:func:`pending_gradients`)."""
        path, grads = None, pending_gradients(self)
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
        (``no_sync``), where only a save on every rank can hold them (:func:`pending_gradients`)."""
        return self.dist.distributed and self.state.pending > 0

    def export(self, name: str, **meta: Any) -> None:
        """A weights file in the run folder (main process only)."""
        if self.dist.is_main:
            export_weights(self.model, self.config, self.run_dir / name, self.sha, **meta)


def start(config: Dict[str, Any], args, device: torch.device, dist: DistInfo, resume_path: Optional[Path],
          checkpoint: Optional[Dict[str, Any]]) -> Session:
    """Set-up: data, model, optimizer, the state (fresh or restored) and the records."""
    train_cfg, run_dir = config["train"], Path(config["log"]["dir"])
    if resume_path is None:
        check_new_run_folder(run_dir, dist)
    if train_cfg["deterministic"]:
        torch.use_deterministic_algorithms(True)
    seed_everything(train_cfg["seed"])  # same model init on every rank
    # The model first: its start weights (ImageNet, model.init) fail before any data is read.
    model = build_initial_model(config) if checkpoint is None else build_from_config(config["model"], False)
    model.input_spec.check_size(config["data"]["augment"]["size"], "data.augment.size", describe(model))
    model.to(device, memory_format=torch.channels_last if train_cfg["channels_last"] else torch.contiguous_format)
    train_set, val_set, depth = build_datasets(config, announce=dist.is_main)
    sampler = ResumableSampler(train_set, dist.world_size, dist.rank, seed=train_cfg["seed"])
    quiet = functools.partial(ignore_signals, tuple(config["checkpoint"]["signals"]))  # main decides
    train_loader = make_loader(train_set, train_cfg["batch_size"], config["data"]["workers"], device, sampler,
                               worker_init_fn=quiet)
    val_loader = make_loader(val_set, config["val"]["batch_size"], config["data"]["workers"], device,
                             worker_init_fn=quiet) if len(val_set) else None

    optimizer, scheduler = build_optimizer(model, config, dist.world_size)
    scaler = torch.amp.GradScaler(device.type, enabled=train_cfg["amp"] == "fp16")
    state = TrainingState()
    if checkpoint is not None:
        load_weights(model, checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        scaler.load_state_dict(checkpoint["scaler"])
        restore_rng_state(checkpoint["rng"])  # rank 0's; the data randomness does not depend on it
        state = TrainingState.from_dict(checkpoint["state"])
        restore_gradients(model, checkpoint.get("grads", []), dist)
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if dist.distributed else model
    if train_cfg["compile"]:
        net = torch.compile(net)

    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
    session = Session(config, device, dist, run_dir, git_sha(), train_set, sampler, train_loader, val_loader,
                      model, net, optimizer, scheduler, scaler, state,
                      Recorder(run_dir, dist.is_main, config["log"]["scalars_every"]), saved_at=clock())
    if checkpoint is None and config["log"]["save_init"]:
        session.export("weights_init.pth", epoch=0)
    if resume_path is not None:
        session.saved = (state.progress(), resume_path)
        session.recorder.event(event="resume", checkpoint=str(resume_path), changes=list(args.set), device=args.device)
    session.recorder.event(event="depth", train=depth)
    where = f"resuming {resume_path} at epoch {state.epochs_done + 1}" if resume_path else "new run"
    session.recorder.say(f"{where}: {describe(model)}, {len(train_set)} training / {len(val_set)} validation images, "
                         f"{dist.world_size} process(es) x batch {train_cfg['batch_size']} on {device}, "
                         f"amp {train_cfg['amp']}, run folder {run_dir}")
    return session


def train_epochs(session: Session, stops: StopSignals) -> None:
    """The loop: each epoch trains, then validates, saves and exports what the config asks for;
    ``stops``: the stop requests the training steps answer (:func:`step_boundary`)."""
    config, state, recorder = session.config, session.state, session.recorder
    train_cfg = config["train"]
    epochs = planned_epochs(train_cfg, len(session.train_loader))
    for epoch in range(state.epochs_done + 1, epochs + 1):
        if state.batch_in_epoch == 0:  # a fresh epoch: its randomness depends on (seed, epoch, rank)
            seed_everything(derive_seed(train_cfg["seed"], epoch, session.dist.rank))
        # Sample i of this epoch is augmented from (seed, epoch, i) alone, and the sampler's order
        # from (seed, epoch): a resumed epoch sees exactly the remaining batches.
        session.train_set.dataset.augmentation_seed = derive_seed(train_cfg["seed"], epoch)
        session.sampler.set_epoch(epoch)
        session.sampler.skip_first(state.batch_in_epoch * train_cfg["batch_size"])
        rate = train_one_epoch(session, f"epoch {epoch}/{epochs}", stops)
        session.scheduler.step()
        loss = state.end_epoch(epoch)
        last = epoch == epochs or bool(train_cfg["max_steps"] and state.step >= train_cfg["max_steps"])
        record = {"epoch": epoch, "step": state.step, "lr": session.optimizer.param_groups[0]["lr"], "loss": loss,
                  "images_per_s": rate}
        if session.dist.is_main and session.val_loader is not None and (epoch % config["val"]["every"] == 0 or last):
            record["val"] = validate_and_keep_best(session, epoch)
        if epoch % config["checkpoint"]["every"] == 0 or last:
            record["checkpoint"] = str(session.save_checkpoint())
        if epoch in config["checkpoint"]["weights_epochs"]:
            session.export(f"weights_e{epoch:03d}.pth", epoch=epoch)
        recorder.scalars(state.step, {"train/epoch_loss": loss})
        recorder.event(**record)
        val_text = " ".join(f"{k} {v:.4f}" for k, v in record.get("val", {}).items())
        recorder.say(f"epoch {epoch}/{epochs} step {state.step} loss {loss:.4f} {rate:.1f} img/s {val_text}")
        if last:
            break


def validate_and_keep_best(session: Session, epoch: int) -> Dict[str, float]:
    """Held-out metrics of ``epoch``, recorded; best.pth when its S-measure is the best so far."""
    metrics, grid = validate(session.model, session.val_loader, session.config, session.device)
    session.recorder.scalars(session.state.step, {f"val/{key}": value for key, value in metrics.items()})
    session.recorder.image("val/rgb_depth_gt_pred", grid, session.state.step)
    if session.state.best_Sm is None or metrics["Sm"] > session.state.best_Sm:
        session.state.best_Sm, session.state.best_epoch = metrics["Sm"], epoch
        session.export("best.pth", epoch=epoch, val=metrics)
    return metrics


def finish(session: Session) -> None:
    """Saving: weights_final.pth (the result), the end event with every rank's checksum."""
    checksums = gather_checksums(session.model, session.dist, session.device)
    session.export("weights_final.pth", epoch=session.state.epochs_done)
    session.recorder.event(event="end", step=session.state.step, rank_param_checksums=checksums)
    session.recorder.close()
    best = session.state.best_Sm
    session.recorder.say(f"done: {session.run_dir / 'weights_final.pth'}"
                         + (f", best S-measure {best:.4f} at epoch {session.state.best_epoch}" if best else ""))


def run(config: Dict[str, Any], args, device: torch.device, dist: DistInfo, resume_path: Optional[Path],
        checkpoint: Optional[Dict[str, Any]]) -> int:
    session = start(config, args, device, dist, resume_path, checkpoint)
    del checkpoint  # its tensors are in the model and optimizer now
    with StopSignals(config["checkpoint"]["signals"]) as stops:
        try:
            train_epochs(session, stops)
            finish(session)
        except AgreedStop as stop:
            path = session.checkpoint_now()
            barrier()  # no rank exits (and makes torchrun end the others) before rank 0 has saved
            if stop.failure and not stop.code:  # with a stop request, a failed read may be its effect
                keep_work(session, stop.error, path, stop.failure)
            cause = {None: "a signal to another rank", "INT": "Ctrl-C"}.get(stops.requested, f"SIG{stops.requested}")
            return stopped(session, cause, exit_status(stop.code), path)
        except KeyboardInterrupt:  # a second Ctrl-C: this rank alone
            alone = session.consistent and not session.gradients_apart()
            return stopped(session, "Ctrl-C", exit_status(1), session.checkpoint_now() if alone else None)
        except NonFiniteLoss:
            raise  # its weights are the problem: the last good checkpoint is kept
        except RESUMABLE_ERRORS as error:  # one rank's own: only rank 0 can save, alone, and only between batches
            if not (session.consistent and session.dist.is_main and not session.gradients_apart()):
                raise
            keep_work(session, error, session.checkpoint_now(), 0)
    return 0


def progress_text(session: Session, path: Optional[Path]) -> str:
    """``saved <checkpoint> (epoch 3, step 25)``, or which checkpoint is left where none was saved."""
    state = session.state
    where = f"epoch {state.epochs_done + 1}, step {state.step}"
    if path is not None:
        return f"saved {path} ({where})"
    if not session.dist.is_main:
        return f"rank 0 saved a checkpoint ({where})"
    last = latest_checkpoint(session.run_dir)
    return f"nothing saved in {where} (not between two steps); the last checkpoint is {last}"


def stopped(session: Session, cause: str, status: int, path: Optional[Path]) -> int:
    """Say that the run stopped on request (``cause``; one line naming the checkpoint and the
    command that continues it), record it, and return ``status``."""
    session.recorder.event(event="stop", cause=cause, step=session.state.step, checkpoint=str(path), exit_status=status)
    if session.dist.is_main:
        print(f"stopped by {cause}: {progress_text(session, path)}; continue with: "
              f"{resume_command(session.run_dir, session.dist)} (exit status {status})", file=sys.stderr, flush=True)
    return status


def keep_work(session: Session, error: Optional[Exception], path: Optional[Path], failure: int) -> NoReturn:
    """Raise ``error`` of a run that had started training, after the checkpoint ``path`` of its
    last completed step, saying how to continue; a bad data file (``failure`` 2, here or on
    another rank) names ``data.skip_bad`` and ``datasets.check``. A RuntimeError (out of memory,
    a dead worker) keeps its traceback after that one line."""
    command = resume_command(session.run_dir, session.dist)
    cause = one_line(error) if error is not None else "another rank failed to read its batch (its error names why)"
    advice = f"{progress_text(session, path)}; continue with: {command}"
    if failure == 2:
        roots = " ".join(shlex.quote(str(source.root)) for source in resolve_sources(session.config))
        advice = (f"{progress_text(session, path)}; replace the file and continue with: {command}, or skip bad "
                  f"samples: {command} --allow-changes --set data.skip_bad=true "
                  f"(`python -m datasets.check {roots}` lists them all)")
    session.recorder.event(event="error", error=cause, step=session.state.step, checkpoint=str(path))
    if error is None or isinstance(error, (CDINetError, OSError)):
        raise TrainingError(f"{cause}; {advice}") from error
    if session.dist.is_main:
        print(f"the run stopped on the error below; {advice}", file=sys.stderr, flush=True)
    raise error


def main(args: argparse.Namespace) -> int:
    config, resume_path, checkpoint = resolve_run(args)
    if args.print_config:
        print(yaml.safe_dump(config, sort_keys=False), end="")
        return 0
    if checkpoint is None:
        check_files(config)
    elif (reason := finished(checkpoint, config)) is not None:
        print(f"nothing to resume: the run of {resume_path} is finished ({reason}); nothing was changed. "
              f"To train on, add --allow-changes --set train.epochs=N (N > {checkpoint['state']['epochs_done']})")
        return 0
    device = select_device(config["train"]["device"], local_rank_from_env())
    dist = init_distributed(device)
    try:
        return run(config, args, device, dist, resume_path, checkpoint)
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    sys.exit(run_cli(get_args_parser(), main))
