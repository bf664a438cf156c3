"""Train a registered model (CDINet, BBS-Net, ...) with its authors' recipe in a plain PyTorch loop.

Examples:
  python train.py --config configs/cdinet.yaml                     # the release's recipe, 2985 protocol
  python train.py --config configs/bbsnet.yaml --set data.root=/data/rgbd   # BBS-Net, its authors' recipe
  python train.py --config configs/cdinet_2185.yaml --set data.root=/data/rgbd
  python train.py --config configs/cdinet_val.yaml                 # + held-out validation, best.pth
  python train.py --config configs/demo.yaml --device cpu           # synthetic data, on the CPU
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
import math
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
import yaml
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from models import build_from_config, describe, load_weights
from models.losses import compute_loss
from training.data import build_datasets, build_loaders
from training.optim import build_optimizer, gradient_sync, optimizer_step, restore_gradients
from training.records import Recorder, gather_checksums
from training.run_folder import DEFAULT_CONFIG, check_files, check_new_run_folder, resolve_run
from training.session import Session
from training.state import TrainingState, batches_this_epoch, planned_epochs
from training.stops import RESUMABLE_ERRORS, AgreedStop, keep_work, next_batch, step_boundary, stopped
from training.validation import validate, validation_predictor
from utils.checkpoint import git_sha, restore_rng_state
from utils.cli import run_cli
from utils.config import DEVICES, PreprocessConfig, save_config
from utils.dist import DistInfo, barrier, cleanup_distributed, init_distributed, local_rank_from_env, select_device
from utils.errors import NonFiniteLoss
from utils.preemption import StopSignals, exit_status
from utils.runtime import autocast_context, channels_last_if, derive_seed, seed_everything


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


def start(config: Dict[str, Any], args, device: torch.device, dist: DistInfo, resume_path: Optional[Path],
          checkpoint: Optional[Dict[str, Any]]) -> Session:
    """Set-up: seed, model, data, optimizer, the state (fresh or restored) and the records."""
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
    sampler, train_loader, val_loader = build_loaders(config, train_set, val_set, dist, device)

    optimizer, scheduler = build_optimizer(model, config, dist.world_size)
    scaler = torch.amp.GradScaler(device.type, enabled=train_cfg["amp"] == "fp16")
    state = TrainingState()
    if checkpoint is not None:  # resume: every tensor and number that decides what comes next
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
                      Recorder(run_dir, dist.is_main, config["log"]["scalars_every"]))
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
    ``stops``: the stop requests the training steps answer (``training.stops.step_boundary``)."""
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
        last = epoch == epochs or state.at_max_steps(train_cfg)
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


def train_one_epoch(session: Session, label: str, stops: StopSignals) -> float:
    """One pass over the training loader (``label``: ``epoch 3/120``); before each batch the ranks
    agree on going on, saving or stopping (``step_boundary``). The progress bar counts batches and
    shows each one's loss; ``train/loss`` is each optimizer step's. Returns this process's images/s."""
    state, train_cfg = session.state, session.config["train"]
    session.net.train()
    batches = iter(session.train_loader)
    total = batches_this_epoch(len(session.train_loader), state, train_cfg)
    bar = tqdm(total=total, desc=label, unit="batch", disable=not session.dist.is_main, dynamic_ncols=True,
               leave=False)
    seen, begun = 0, time.perf_counter()
    session.consistent = True
    with bar:
        while True:
            batch, error = next_batch(batches)
            if batch is None and error is None:
                break
            step_boundary(session, stops, error)
            loss_value, step_loss = train_step(session, batch, label)
            seen += batch["rgb"].shape[0]
            rate = seen / (time.perf_counter() - begun)
            bar.update()
            bar.set_postfix(loss=f"{loss_value:.4f}", img_s=f"{rate:.1f}")
            if step_loss is not None:
                session.recorder.scalars(state.step, {"train/loss": step_loss,
                                                      "train/lr": session.optimizer.param_groups[0]["lr"],
                                                      "train/images_per_s": rate}, every_step=True)
            if state.at_max_steps(train_cfg):
                break
    session.consistent = False  # the epoch's end (scheduler, validation, files) is no resumable point
    return seen / (time.perf_counter() - begun)


def train_step(session: Session, batch: Dict[str, Any], label: str) -> Tuple[float, Optional[float]]:
    """One batch, JL-DCF's ``iter_size`` as ``train.accumulate``: its loss divided by
    ``accumulate`` is backpropagated into the gradients summed since the last optimizer step, and
    the batch that completes ``accumulate`` of them steps (1: every batch). Returns the batch's
    loss and, where it stepped, the step's. The state is resumable before and after, not while
    the summed gradients or the weights change (``session.consistent`` off)."""
    config, device, state = session.config, session.device, session.state
    train_cfg = config["train"]
    stepping = state.pending + 1 >= train_cfg["accumulate"]
    rgb = channels_last_if(train_cfg["channels_last"], batch["rgb"].to(device, non_blocking=True))
    depth = channels_last_if(train_cfg["channels_last"], batch["depth"].to(device, non_blocking=True))
    gt = batch["gt"].to(device, non_blocking=True)
    with gradient_sync(session.net, session.dist, stepping):
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
        optimizer_step(session.optimizer, session.scaler, session.model, config["optim"]["grad_clip_value"])
    state.add_batch(loss_value, rgb.shape[0])
    step_loss = state.add_step() if stepping else None
    session.consistent = True
    return loss_value, step_loss


def validate_and_keep_best(session: Session, epoch: int) -> Dict[str, float]:
    """Held-out metrics of ``epoch``, recorded; best.pth when its S-measure is the best so far."""
    data = session.config["data"]
    predictor = validation_predictor(session.model, session.device, data["augment"]["size"],
                                     PreprocessConfig.from_dict(data["preprocess"]), session.config["train"])
    metrics, grid = validate(predictor, session.val_loader)
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
    """Train, and stop cleanly: a stop agreed by the ranks saves and returns its exit status;
    an error after training started keeps the last completed step (``training.stops``)."""
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
            return stopped(session, "Ctrl-C", exit_status(1), session.checkpoint_now() if session.can_save_alone()
                           else None)
        except NonFiniteLoss:
            raise  # its weights are the problem: the last good checkpoint is kept
        except RESUMABLE_ERRORS as error:  # one rank's own: only rank 0 can save, alone, and only between batches
            if not (session.can_save_alone() and session.dist.is_main):
                raise
            keep_work(session, error, session.checkpoint_now(), 0)
    return 0


def main(args: argparse.Namespace) -> int:
    config, resume_path, checkpoint = resolve_run(args)
    if args.print_config:
        print(yaml.safe_dump(config, sort_keys=False), end="")
        return 0
    if checkpoint is None:
        check_files(config)
    elif (reason := TrainingState.from_dict(checkpoint["state"]).finished(config["train"])) is not None:
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
